"""`churn score --engine spark`: the score delivery on Apache Spark (`local[*]` or any cluster).

`score` drives the job from the Spark driver; `tasks` is what runs inside the executors (PyArrow
only, no PySpark); `session` starts or joins the Spark session. PySpark lives in its own
environment (`make spark-env`, requirements/spark.txt).
"""

"""Running the work beyond one process: the pipeline's stages as tasks of an orchestrator, and the
score delivery on Apache Spark.

`pipeline_graph` reads the stages and their edges from `dvc.yaml` (stdlib and PyYAML only, so
an orchestrator's own environment can load it by path); `stage_task` is what one task runs in a
worker's checkout (pull inputs, `dvc repro --single-item`, push outputs, hand on the lock
entry); `data_refresh` and `pull_request` are the scheduled retraining's first and last steps.
`churn task ...` (cli.py) exposes them to the orchestrator. The Airflow DAGs themselves live in
`airflow/dags/` at the top of the repository: they run in Airflow's environment, not this one.
`spark/` is `churn score --engine spark`: it scores with the score delivery's own pieces inside
the Spark tasks, so engines sit a layer above the deliveries (never the reverse).
"""

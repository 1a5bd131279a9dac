"""Start or join the Spark session `churn score --engine spark` runs in.

`--master` picks the cluster (`local[*]` when neither it nor `SPARK_REMOTE`, a Spark Connect
address, is given). Executors run the driver's own Python unless `PYSPARK_PYTHON` says
otherwise: on one machine that is `.venv-spark`; on a cluster, point `PYSPARK_PYTHON` at the
workers' environment (the service's locked requirements, PySpark and this package).
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

LOCAL = "local[*]"
APP_NAME = "churn score"


def start(master: str | None = None) -> SparkSession:
    """The active session if there is one (a notebook's, Databricks'), else a new one."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise RuntimeError(
            "PySpark is not installed in this environment: run `make spark-env` and use "
            ".venv-spark/bin/churn (or install requirements/spark.txt)"
        ) from None
    active = SparkSession.getActiveSession()
    if active is not None and master is None:
        return active
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # Scoring moves data as Arrow batches (`mapInArrow`) and never through PySpark's pandas
    # conversions, which is what this warning is about.
    warnings.filterwarnings(
        "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
    )
    builder = SparkSession.builder.appName(APP_NAME)
    if master is not None:
        builder = builder.master(master)
    elif not os.environ.get("SPARK_REMOTE"):
        builder = builder.master(LOCAL)
    spark = builder.config("spark.ui.showConsoleProgress", "false").getOrCreate()
    # Quiet: every failure reaches the caller as the error the Spark action raises (a failed
    # check as one clear message); Spark's own log would repeat it with a traceback per task
    # attempt. The cluster's logs (executors, master) are untouched.
    spark.sparkContext.setLogLevel("OFF")
    return spark

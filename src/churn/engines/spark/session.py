"""Start or join the Spark session `churn score --engine spark` runs in.

`--master` picks the cluster: a master URL (`spark://HOST:PORT`, `yarn`, ...), or a Spark Connect
address (`sc://HOST:PORT`, which `SPARK_REMOTE` can give too); `local[*]` when neither is given.
Executors run the driver's own Python unless `PYSPARK_PYTHON` says otherwise: on one machine
that is `.venv-spark`; on a cluster, point `PYSPARK_PYTHON` at the workers' environment (the
service's locked requirements, PySpark and this package). A Spark Connect server decides that
for its own executors.
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import TYPE_CHECKING

from churn.deliver.score.run import ScoreError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

LOCAL = "local[*]"
APP_NAME = "churn score"
CONNECT = "sc://"


def start(master: str | None = None) -> SparkSession:
    """The active session if there is one (a notebook's, Databricks'), else a new one."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ScoreError(
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
    builder = SparkSession.builder
    if master is not None and master.startswith(CONNECT):
        return builder.remote(master).getOrCreate()
    if master is None and os.environ.get("SPARK_REMOTE"):
        return builder.getOrCreate()  # a Spark Connect session: the server holds its settings
    spark = (
        builder.appName(APP_NAME)
        .master(master or LOCAL)
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    # Quiet: every failure reaches the caller as the error the Spark action raises (a failed
    # check as one clear message); Spark's own log would repeat it with a traceback per task
    # attempt. The cluster's logs (executors, master) are untouched.
    spark.sparkContext.setLogLevel("OFF")
    return spark


def is_connect(spark: SparkSession) -> bool:
    """Is this a Spark Connect client session (no JVM on this side)?"""
    return type(spark).__module__.startswith("pyspark.sql.connect")

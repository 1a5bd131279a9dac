"""`churn score --engine spark`: score a CSV or Parquet table of any size on Spark, with the same
model and the same checks as the pandas engine, into Parquet and/or the score store.

The driver reads the input as text (every CSV column a string; Parquet columns are turned into
text inside the tasks exactly as the pandas engine does it), checks the header, counts the rows
of each block Spark split the input into (so tasks can name a bad row by its line), then runs
`tasks.Scorer` over every partition with `mapInArrow`. Outputs:

- Parquet (`parquet_path`): written beside the target first; ids are checked to be unique across
  the whole output, and only then does it replace the target. A failed run leaves the previous
  output in place.
- the score store (`store_path`): the driver streams the scores one partition at a time into
  `score_store.create` (memory bounded by a partition, not the table), which replaces the store
  only when every row went in.

The model: as the pandas engine chooses it (`deliver.score.predictor`): the pickled pipeline, or
the ONNX graph when `churn compile` recorded it within 1e-9 of the pipeline.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from churn.artifacts import saved_model, score_store
from churn.contract import Contract, DataValidationError
from churn.contract import load as load_contract
from churn.contract import text as contract_text
from churn.deliver.score import predictor
from churn.deliver.score import run as scoring
from churn.engines.spark import session, tasks

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

FORMATS = {".csv": "csv", ".parquet": "parquet"}


def input_format(path: str) -> str:
    suffix = Path(path.rstrip("/")).suffix.lower()
    if suffix not in FORMATS:
        raise scoring.ScoreError(
            f"{path}: unsupported format {suffix!r}; expected one of {', '.join(FORMATS)}"
        )
    return FORMATS[suffix]


def read_text(spark: SparkSession, path: str) -> DataFrame:
    """The input with the file and block of each row; CSV cells as text, exactly as written."""
    from pyspark.sql.functions import col

    if input_format(path) == "csv":
        frame = (
            spark.read.option("header", True)
            .option("inferSchema", False)
            # RFC 4180 quoting, as PyArrow reads it: "" inside quotes is one quote.
            .option("escape", '"')
            # A row with too many or too few cells fails, never gets cut or padded.
            .option("mode", "FAILFAST")
            .csv(path)
        )
    else:
        frame = spark.read.parquet(path)
    return frame.select(
        "*",
        col("_metadata.file_path").alias(tasks.FILE),
        col("_metadata.file_block_start").alias(tasks.BLOCK),
    )


def block_counts(frame: DataFrame) -> list[tuple[str, int, int]]:
    rows = frame.groupBy(tasks.FILE, tasks.BLOCK).count().collect()
    return [(row[0], int(row[1]), int(row[2])) for row in rows]


def _check_header(contract: Contract, frame: DataFrame) -> DataFrame:
    names = [n for n in frame.columns if n not in (tasks.FILE, tasks.BLOCK)]
    # A label in the input (e.g. the training table itself) plays no part in scoring.
    if contract.target.name in names:
        frame = frame.drop(contract.target.name)
        names.remove(contract.target.name)
    problems = contract_text.check_names(contract, names, with_target=False)
    if problems:
        raise DataValidationError(problems)
    return frame


def _output_schema(contract: Contract) -> str:
    id_type = "long" if contract.id.type == "integer" else "string"
    score = contract.probability_field
    return f"`{contract.id.name}` {id_type}, `{score}` double, `{tasks.ROW}` long"


def _pack(batches: Any) -> Any:
    """Each batch of scores as one Arrow IPC message: the driver gets a few large values per
    partition instead of a Python object per row."""
    import pyarrow as pa

    for batch in batches:
        if batch.num_rows == 0:
            continue
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, batch.schema) as writer:
            writer.write_batch(batch)
        yield pa.RecordBatch.from_arrays([pa.array([sink.getvalue().to_pybytes()])], ["batch"])


def _unpack(value: bytes) -> Any:
    import pyarrow as pa

    return pa.ipc.open_stream(value).read_all()


class _Errors:
    """Spark's failures turned back into the user errors they are."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, error: BaseException | None, traceback: Any) -> None:
        if error is None or isinstance(error, DataValidationError | scoring.ScoreError):
            return
        found = tasks.validation_error(str(error))
        if found is not None:
            raise found from None
        if "Malformed" in str(error) or "MALFORMED" in str(error):
            raise DataValidationError(
                [f"{self.path} is not a readable CSV file: a row has too many or too few cells"]
            ) from None
        if "PATH_NOT_FOUND" in str(error) or "Path does not exist" in str(error):
            raise FileNotFoundError(f"no input at {self.path}") from None


def run(
    model_dir: Path,
    input_path: str,
    *,
    store_path: Path | None = None,
    parquet_path: str | None = None,
    master: str | None = None,
    compiled_dir: Path | None = None,
    wanted: str = predictor.AUTO,
    chunk_rows: int = scoring.DEFAULT_CHUNK_ROWS,
    spark: SparkSession | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Score every row of `input_path` into Parquet and/or a new store; return what was done."""
    if store_path is None and parquet_path is None:
        raise scoring.ScoreError("nothing to write: give a score store, a Parquet output or both")
    card = saved_model.read(model_dir)
    contract = load_contract(card.contract)
    model = predictor.choose(card, compiled_dir, wanted)
    input_format(input_path)
    if chunk_rows < 1:
        raise scoring.ScoreError(f"the chunk size must be at least 1 row, not {chunk_rows}")
    own_session = spark is None
    spark = spark or session.start(master)
    try:
        # Rows per Arrow batch a task checks and scores at once: the pandas engine's chunk.
        spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(chunk_rows))
        with _Errors(input_path):
            frame = _check_header(contract, read_text(spark, input_path))
            counts = block_counts(frame)
            rows = sum(c[2] for c in counts)
            if rows == 0:
                raise DataValidationError([f"{input_path} has no rows to score"])
            files = {c[0] for c in counts}
            if input_format(input_path) == "csv" and len(files) > 1:
                raise scoring.ScoreError(
                    f"{input_path} is {len(files)} CSV files; give one (lines are numbered in it)"
                )
            scorer = tasks.Scorer(contract.text, model, tasks.offsets(counts))
            scored = frame.mapInArrow(scorer, _output_schema(contract))
            done: dict[str, Any] = {"rows": rows, "predictor": model.kind}
            if parquet_path is not None:
                write = _write_parquet_remote if session.is_connect(spark) else _write_parquet
                write(spark, contract, scored.drop(tasks.ROW), parquet_path)
                done["parquet"] = parquet_path
                # The store, if wanted too, is filled from the written scores: no second scoring.
                scored = spark.read.parquet(parquet_path)
            if store_path is not None:
                source = Path(input_path.rstrip("/")).name
                done["store"] = _fill_store(
                    contract,
                    card=card,
                    scored=scored,
                    store_path=store_path,
                    source=source,
                    progress=progress,
                )
        return done
    finally:
        if own_session:
            spark.stop()


def _fill_store(
    contract: Contract,
    *,
    card: saved_model.ModelCard,
    scored: DataFrame,
    store_path: Path,
    source: str,
    progress: bool,
) -> dict[str, Any]:
    from tqdm import tqdm

    packed = scored.mapInArrow(_pack, "batch binary")
    with (
        score_store.create(
            store_path, model_digest=card.digest, source=source, id_type=contract.id.type
        ) as out,
        tqdm(unit=" rows", desc="scoring", file=sys.stderr, disable=not progress) as bar,
    ):
        for row in packed.toLocalIterator(prefetchPartitions=True):
            batch = _unpack(row[0])
            ids = batch.column(0).to_numpy()
            scores = batch.column(1).to_numpy()
            numbers = batch.column(2).to_numpy() if batch.num_columns > 2 else None
            scoring.add_scores(contract, out, ids, scores, scoring.row_names(0), numbers=numbers)
            bar.update(len(ids))
    with score_store.ScoreStore.open(store_path) as store:
        return store.info()


def _repeated_ids(contract: Contract, scored: DataFrame) -> None:
    """Fail naming the ids that more than one row of `scored` has."""
    from pyspark.sql.functions import col

    ids = contract.id.name
    repeated = scored.groupBy(ids).count().where(col("count") > 1).orderBy(ids)
    shown = repeated.limit(5).collect()
    if shown:
        more = repeated.count() - len(shown)
        listed = ", ".join(f"{row[0]!r} ({row[1]} rows)" for row in shown)
        extra = f" and {more:,} more" if more > 0 else ""
        raise DataValidationError([f"column '{ids}': duplicate id: {listed}{extra}"])


def _write_parquet_remote(
    spark: SparkSession, contract: Contract, scored: DataFrame, out: str
) -> None:
    """Spark Connect moves no files: check every row and id first (one scoring pass), then
    write over `out` (a second). A failure in the second pass can leave `out` incomplete."""
    _repeated_ids(contract, scored)
    scored.write.mode("overwrite").parquet(out)


def _write_parquet(spark: SparkSession, contract: Contract, scored: DataFrame, out: str) -> None:
    """Write beside `out`, check the ids are unique, then put it in place of `out`."""
    jvm = spark.sparkContext._jvm
    target = jvm.org.apache.hadoop.fs.Path(out.rstrip("/"))
    filesystem = target.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    # Not hidden (no leading dot or underscore): Spark would not read it back for the check.
    staging = jvm.org.apache.hadoop.fs.Path(
        target.getParent(), f"{target.getName()}.partial-{secrets.token_hex(8)}"
    )
    try:
        scored.write.mode("errorifexists").parquet(staging.toString())
        _repeated_ids(contract, spark.read.parquet(staging.toString()))
        filesystem.delete(target, True)
        if not filesystem.rename(staging, target):
            raise OSError(f"could not move the scores into {out}")
    finally:
        filesystem.delete(staging, True)

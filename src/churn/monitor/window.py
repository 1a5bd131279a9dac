"""Where the monitored rows come from, as one `Window` of typed inputs and their probabilities.

- the prediction log (`artifacts/prediction_log.py`): the rows the service scored in
  [end - period, end), of the model version that scored most of them; a directory, or any
  fsspec URL (its day partitions in the window are copied to a temporary directory first);
- any table of raw rows (CSV or Parquet, e.g. the latest data): every cell judged by the
  contract's rules, so values outside the contract are counted per column, not stopped at;
  the rows whose every input is good are scored with the model;
- a sample: the model's test split scored as if it were production traffic, with its outcomes
  (a fresh repository has no production yet, so its scheduled monitor is healthy).
"""

from __future__ import annotations

import re
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from churn.artifacts import prediction_log, prepared_split, saved_model
from churn.contract import Contract, DataValidationError, complete, ids, rules, table
from churn.contract.spec import Feature
from churn.monitor.errors import MonitorError

if TYPE_CHECKING:
    import pyarrow as pa

DEFAULT_PERIOD = "7d"
_PERIOD = re.compile(r"([1-9][0-9]{0,4})([hdw])")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
TABLE_FORMATS = (".csv", ".parquet")

Kind = Literal["log", "table", "sample"]


@dataclass(frozen=True)
class LogWindow:
    """The rows logged in [end - period, end) at `location` (a directory or an fsspec URL)."""

    location: str
    period: timedelta
    end: datetime

    @property
    def start(self) -> datetime:
        return self.end - self.period


def parse_period(text: str) -> timedelta:
    """`24h`, `7d`, `2w`: a whole number of hours, days or weeks."""
    match = _PERIOD.fullmatch(text.strip())
    if match is None:
        raise MonitorError(
            f"{text!r} is not a period: write a whole number of hours, days or weeks (24h, 7d, 2w)"
        )
    return int(match[1]) * _UNITS[match[2]]


def parse_window(text: str, end: datetime) -> LogWindow:
    """`MONITOR_WINDOW`'s form: the log's location, then optionally a period (default 7d),
    e.g. `predictions/ 7d` or `s3://bucket/predictions 24h`."""
    text = text.strip()
    if not text:
        raise MonitorError("the window is empty: give the prediction log's location")
    words = text.rsplit(maxsplit=1)
    if len(words) == 2 and _PERIOD.fullmatch(words[1]):
        return LogWindow(words[0], parse_period(words[1]), end)
    return LogWindow(text, parse_period(DEFAULT_PERIOD), end)


@dataclass(frozen=True)
class Window:
    """The scored rows of a window, typed alike whatever their source (`typed_inputs`)."""

    kind: Kind
    # Where the rows came from, for the report.
    source: str
    # The rows read (of the model version monitored), scored or not.
    examined: int
    # The scored rows' inputs: the contract's features the window holds, typed.
    inputs: pd.DataFrame
    # Each scored row's predicted probability of the positive class.
    probability: np.ndarray
    # Each scored row's id (missing where a row came without one); None: the window has none.
    ids: pd.Series | None = None
    # Each scored row's time (UTC); None: the window has no times.
    times: pd.Series | None = None
    start: datetime | None = None
    end: datetime | None = None
    # Per column: cells of the examined rows the contract refuses.
    outside: dict[str, int] = field(default_factory=dict)
    # Features the window does not hold (never logged: personal, or excluded by the service).
    absent: tuple[str, ...] = ()
    # Rows of other model versions, left out: {digest: rows}.
    other_versions: dict[str, int] = field(default_factory=dict)
    # Outcomes that came with the rows (the sample's): the id and the target as 0/1.
    outcomes: pd.DataFrame | None = None

    @property
    def rows(self) -> int:
        return len(self.probability)


def typed_inputs(contract: Contract, frame: pd.DataFrame) -> pd.DataFrame:
    """The contract's features found in `frame`, in one typed form whatever their source:
    numbers and binaries as float64 (NaN for a blank), categories as text ("" for a blank)."""
    out = {}
    for feature in contract.features:
        if feature.name not in frame.columns:
            continue
        column = frame[feature.name]
        if feature.numeric:
            numbers = pd.to_numeric(column, errors="coerce")
            out[feature.name] = numbers.to_numpy(dtype="float64", na_value=np.nan)
        else:
            text = column.astype(object)
            out[feature.name] = text.where(text.notna(), "").astype(str).to_numpy()
    return pd.DataFrame(out, index=frame.index)


def _model_inputs(contract: Contract, inputs: pd.DataFrame) -> pd.DataFrame:
    return table.features(contract, inputs)


# ---- the prediction log ------------------------------------------------------------------------


def _is_url(location: str) -> bool:
    return "://" in location


def _copy_partitions(window: LogWindow, into: Path) -> None:
    """Copy the log files of the days the window may touch from an fsspec URL into `into`."""
    import fsspec

    try:
        fs, root = fsspec.core.url_to_fs(window.location)
    except (ImportError, ValueError) as exc:
        raise MonitorError(
            f"cannot read {window.location}: {exc} (a cloud store needs its fsspec package, "
            "e.g. s3fs or gcsfs, in requirements/dev.in)"
        ) from None
    day = window.start.date()
    # A row is written a moment after its time: the next day's partition may hold the last.
    last = (window.end + timedelta(days=1)).date()
    while day <= last:
        name = prediction_log.partition(day)
        folder = f"{root.rstrip('/')}/{name}"
        if fs.isdir(folder):
            for remote in fs.ls(folder, detail=False):
                base = str(remote).rstrip("/").rsplit("/", maxsplit=1)[-1]
                if prediction_log.writer_of(Path(base)) is not None:
                    (into / name).mkdir(parents=True, exist_ok=True)
                    fs.get(str(remote), str(into / name / base))
        day += timedelta(days=1)


def _read_log(window: LogWindow) -> pd.DataFrame:
    if not _is_url(window.location):
        directory = Path(window.location)
        if not directory.is_dir():
            raise MonitorError(f"no prediction log at {directory}: not a directory")
        return prediction_log.read(directory, window.start, window.end)
    with tempfile.TemporaryDirectory(prefix="churn-monitor-") as local:
        _copy_partitions(window, Path(local))
        return prediction_log.read(local, window.start, window.end)


def _short(digest: str) -> str:
    return digest[:12]


def from_log(window: LogWindow, contract: Contract, model_digest: str) -> Window:
    """The rows logged in the window by the model version that scored most of them, which must
    be `model_digest` (the model monitored); rows of other versions are counted, left out."""
    frame = _read_log(window)
    span = f"{window.start:%Y-%m-%d %H:%M} to {window.end:%Y-%m-%d %H:%M} UTC"
    if frame.empty:
        raise MonitorError(
            f"no predictions were logged at {window.location} from {span}: is the service "
            "running with --log-dir (or PREDICTION_LOG_DIR), and are its files shipped there?"
        )
    versions = frame[prediction_log.MODEL_VERSION].value_counts()
    # The model monitored when it scored the most rows (a tie included); else the first other.
    dominant = (
        model_digest if versions.get(model_digest, 0) == versions.iloc[0] else versions.index[0]
    )
    if dominant != model_digest:
        raise MonitorError(
            f"{versions.iloc[0]:,} of the window's {len(frame):,} rows were scored by model "
            f"{_short(dominant)}, but --model is {_short(model_digest)}: a model is monitored "
            "against its own training split. Check out the commit that released "
            f"{_short(dominant)} (the service's /health and churn_model_info name its git "
            "commit; `git log -- dvc.lock` lists the candidates), run `dvc checkout` there "
            "(or `dvc pull`), then monitor again"
        )
    rows = frame[frame[prediction_log.MODEL_VERSION] == dominant].reset_index(drop=True)
    present = [name for name in contract.feature_names if name in rows.columns]
    outside = {name: _outside_values(contract.feature(name), rows[name]) for name in present}
    id_name = contract.id.name
    return Window(
        kind="log",
        source=f"prediction log {window.location}",
        examined=len(rows),
        inputs=typed_inputs(contract, rows),
        probability=rows[prediction_log.PROBABILITY].to_numpy(dtype=float),
        ids=rows[id_name] if id_name in rows.columns else None,
        times=rows[prediction_log.TIME],
        start=window.start,
        end=window.end,
        outside=outside,
        absent=tuple(name for name in contract.feature_names if name not in present),
        other_versions={str(v): int(n) for v, n in versions.items() if v != dominant},
    )


def _outside_values(feature: Feature, column: pd.Series) -> int:
    """How many of a logged column's values the contract refuses (each distinct value judged
    once by the rules requests are checked with)."""
    values = column.astype(object).where(column.notna(), None)
    # Keyed by type too: True == 1, but only one of them is a number to the contract.
    counts = Counter((type(v), v) for v in values.tolist())
    return sum(n for (_, v), n in counts.items() if rules.value_problem(feature, v) is not None)


# ---- any table of raw rows -----------------------------------------------------------------


def _read_text(path: Path) -> pa.Table:
    """Every column of a CSV or Parquet file as text (a missing Parquet value: a blank)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if not path.is_file():
        raise MonitorError(f"no table at {path}")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return table.read_text(path)
    if suffix != ".parquet":
        raise MonitorError(f"{path}: expected one of {', '.join(TABLE_FORMATS)}, not {suffix!r}")
    try:
        parquet = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise MonitorError(f"{path} is not a readable Parquet file: {exc}") from None
    columns = []
    for name, column in zip(parquet.column_names, parquet.columns, strict=True):
        try:
            columns.append(pc.fill_null(pc.cast(column, pa.string()), ""))
        except pa.ArrowException:
            raise MonitorError(
                f"{path}: column {name!r} of type {column.type} is not text"
            ) from None
    return pa.table(columns, names=parquet.column_names)


def _judge(column: Any, cells: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """The typed values of a text column (NaN where refused) and which cells the contract
    refuses, each distinct text judged once by `rules.text_problem`."""
    good, value = {}, {}
    for text in pd.unique(cells):
        good[text] = rules.text_problem(column, text) is None
        if not good[text]:
            value[text] = np.nan
        elif isinstance(column, Feature) and column.numeric:
            value[text] = np.nan if rules.is_blank_text(text) else rules.number_from_text(text)
        elif isinstance(column, Feature):
            value[text] = "" if rules.is_blank_text(text) else text
        else:
            value[text] = ids.from_text(text, column.type)
    refused = ~cells.map(good).to_numpy(dtype=bool)
    return cells.map(value), refused


def _derivable(contract: Contract, frame: pd.DataFrame, good: np.ndarray) -> np.ndarray:
    """Which rows' derived blanks give values the column may hold (the rest are refused)."""
    derives = [f.name for f in contract.features if f.blank is not None and f.blank.expression]
    if not derives:
        return good
    needing = good & frame[derives].isna().any(axis=1).to_numpy()
    if not needing.any():
        return good
    try:
        complete.derive_blanks(contract, {c: frame.loc[needing, c].to_numpy() for c in frame})
        return good
    except DataValidationError:
        pass
    out = good.copy()
    for index in np.flatnonzero(needing):  # rare: find the rows one by one
        try:
            complete.derive_blanks(
                contract, {c: frame[c].to_numpy()[index : index + 1] for c in frame}
            )
        except DataValidationError:
            out[index] = False
    return out


def from_table(path: Path, contract: Contract, model: saved_model.SavedModel) -> Window:
    """Raw rows from a file, judged cell by cell; the rows whose every input is good, scored."""
    cells = _read_text(path)
    lacking = [name for name in contract.feature_names if name not in cells.column_names]
    if lacking:
        raise MonitorError(f"{path} lacks the model's input column(s) {', '.join(lacking)}")
    if cells.num_rows == 0:
        raise MonitorError(f"{path} has no rows")
    good = np.ones(cells.num_rows, dtype=bool)
    typed, outside = {}, {}
    for feature in contract.features:
        text = cells.column(feature.name).to_pandas().astype(object)
        typed[feature.name], refused = _judge(feature, text)
        outside[feature.name] = int(refused.sum())
        good &= ~refused
    frame = pd.DataFrame(typed)
    for feature in contract.features:  # numbers as numbers, even where a column is all refused
        if feature.numeric:
            frame[feature.name] = frame[feature.name].astype("float64")
    usable = _derivable(contract, frame, good)
    for feature in contract.features:
        if feature.blank is not None and feature.blank.expression is not None:
            outside[feature.name] += int((good & ~usable).sum())
    window_ids = None
    if contract.id.name in cells.column_names:
        id_text = cells.column(contract.id.name).to_pandas().astype(object)
        parsed, refused = _judge(contract.id, id_text)
        outside[contract.id.name] = int(refused.sum())
        window_ids = parsed[usable].reset_index(drop=True)
    scored = frame[usable].reset_index(drop=True)
    columns = complete.derive_blanks(contract, {c: scored[c].to_numpy() for c in scored})
    inputs = typed_inputs(contract, pd.DataFrame(columns))
    probability = (
        np.asarray(model.predict_proba(_model_inputs(contract, inputs)), dtype=float)
        if len(inputs)
        else np.empty(0)
    )
    return Window(
        kind="table",
        source=f"table {path}",
        examined=cells.num_rows,
        inputs=inputs,
        probability=probability,
        ids=window_ids,
        outside=outside,
    )


# ---- the sample ----------------------------------------------------------------------------


def from_sample(prepared: Path, contract: Contract, model: saved_model.SavedModel) -> Window:
    """The test split scored as if it were production traffic, with its outcomes."""
    test = prepared_split.test_rows(prepared)
    inputs = typed_inputs(contract, test)
    outcomes = test[[contract.id.name, contract.target.name]].reset_index(drop=True)
    return Window(
        kind="sample",
        source=f"sample: the test split of {prepared}, scored as production traffic",
        examined=len(test),
        inputs=inputs,
        probability=np.asarray(model.predict_proba(_model_inputs(contract, inputs)), dtype=float),
        ids=test[contract.id.name].reset_index(drop=True),
        outside=dict.fromkeys(contract.feature_names, 0),
        outcomes=outcomes,
    )


def reference(prepared: Path, contract: Contract, model: saved_model.SavedModel):
    """The training split's typed inputs and the model's probabilities on them."""
    train = prepared_split.train_rows(prepared)
    inputs = typed_inputs(contract, train)
    probability = np.asarray(model.predict_proba(_model_inputs(contract, inputs)), dtype=float)
    return inputs, probability

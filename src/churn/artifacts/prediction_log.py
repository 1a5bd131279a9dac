"""The prediction log: every prediction the service made (or a sample of them), row by row, as
JSON Lines files that only ever grow, then are closed and never touched again.

The service writes it (`churn serve --log-dir DIR`, see `deliver/serve/recorder.py`); `churn
monitor` reads it with `read` to join later outcomes to what the model saw.

Layout, one partition directory per UTC day in which the rows were written:

    DIR/date=2025-05-01/predictions-20250501T120000.123456Z-HOST-PID.jsonl
    DIR/date=2025-05-01/predictions-20250501T130000.000042Z-HOST-PID.jsonl.open

A name says when the file was opened and by which process (host name and process id). The one
file a process is writing ends in `.open`; it is renamed without that suffix (and never written
again) when it reaches the size or age limit, at the end of the UTC day, and when the service
stops. Ship only closed files to an object store; a reader may read the open ones too (a partly
written last line is skipped). A row is written a moment after its `time`: one from just before
midnight can lie in the next day's partition, where `read` looks for it too.

One line is one row of one request, a JSON object with these keys, in this order:

    request_id     string   the request's `X-Request-ID` header, or one the service made up
    time           string   when the service received the request, ISO 8601 UTC with
                            microseconds ("2025-05-01T12:00:00.123456Z")
    model_version  string   sha256 of the pickled model that scored it (`/health`'s)
    endpoint       string   "/invocations" or "/predict"
    row            integer  the row's position in its request, from 0
    <id column>    integer, string or null: the contract's id column (e.g. `customer_id`), when the
                            request carried one (`/predict` records may); absent if the contract
                            marks the id personal
    <features>     the model's input columns as the model saw them (blanks the contract derives
                   are filled; a blank left to the model is null), except those the contract
                   marks `personal` and those excluded by the service's settings
    probability    number   the predicted probability of the contract's positive class
    label          boolean  probability >= the model's threshold

Reading a window with pandas (this module's `read` does exactly this, with PyArrow):

    from churn.artifacts import prediction_log
    frame = prediction_log.read("predictions/", start=datetime(2025, 5, 1, tzinfo=UTC),
                                end=datetime(2025, 5, 8, tzinfo=UTC))

or by hand: `pandas.read_json(path, lines=True)` on each file of the partitions that overlap the
window, then `frame[(frame.time >= start) & (frame.time < end)]` after
`pandas.to_datetime(frame.time, utc=True)`.
"""

from __future__ import annotations

import functools
import io
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

REQUEST_ID = "request_id"
TIME = "time"
MODEL_VERSION = "model_version"
ENDPOINT = "endpoint"
ROW = "row"
PROBABILITY = "probability"
LABEL = "label"
# The keys every line has, whatever the model's inputs are.
FIXED = (REQUEST_ID, TIME, MODEL_VERSION, ENDPOINT, ROW, PROBABILITY, LABEL)

SUFFIX = ".jsonl"
OPEN_SUFFIX = ".open"
_PREFIX = "predictions-"
_PARTITION = "date="
_NAME = re.compile(
    r"predictions-(?P<opened>\d{8}T\d{6}\.\d{6}Z)-(?P<host>.+)-(?P<pid>\d+)\.jsonl(\.open)?"
)
_LINE_OPTIONS = orjson.OPT_APPEND_NEWLINE | orjson.OPT_SERIALIZE_NUMPY
# A row is written a little after its time (the request is scored, then queued): a file opened
# up to this long after the end of a window may still hold rows from inside it.
_WRITE_DELAY = timedelta(minutes=5)


def partition(day: date) -> str:
    """The directory (relative to the log's) that holds the files written on `day` (UTC)."""
    return f"{_PARTITION}{day.isoformat()}"


def file_name(opened: datetime, host: str, pid: int) -> str:
    """The name of a file opened at `opened` (UTC) by process `pid` on `host`, while open."""
    stamp = opened.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    # A host name could hold a path separator only by mistake; never let it leave the directory.
    host = host.replace("/", "_").replace("\\", "_") or "host"
    return f"{_PREFIX}{stamp}-{host}-{pid}{SUFFIX}{OPEN_SUFFIX}"


@dataclass(frozen=True)
class Writer:
    """Which process wrote a file, read back from its name."""

    host: str
    pid: int
    opened: datetime


def writer_of(path: Path) -> Writer | None:
    """The process that wrote `path`, or None when the name is not a prediction log file's."""
    match = _NAME.fullmatch(path.name)
    if match is None:
        return None
    opened = datetime.strptime(match["opened"], "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=UTC)
    return Writer(match["host"], int(match["pid"]), opened)


def timestamp(microseconds: int) -> str:
    """`time` as the log writes it, from microseconds since the epoch (`time.time_ns() // 1000`):
    exact, integers throughout. Formatting a date costs more than the rest of a logged row, so
    each second is formatted once."""
    whole, fraction = divmod(microseconds, 1_000_000)
    return f"{_second(whole)}.{fraction:06d}Z"


@functools.lru_cache(maxsize=4)
def _second(whole: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))


@dataclass(frozen=True)
class Request:
    """What the log records about one request, known before its body is read."""

    request_id: str
    # When the service received it, in microseconds since the epoch.
    time_us: int
    endpoint: str


@dataclass(frozen=True)
class RowFormat:
    """How the rows of one model's requests become lines; picklable (worker processes use it)."""

    model_version: str
    threshold: float
    # The input columns written, in order (the model's, less the excluded ones).
    columns: tuple[str, ...]
    # The contract's id column; None when it is excluded (then no line has it).
    id_name: str | None

    def __post_init__(self) -> None:
        taken = set(FIXED) & {*self.columns, self.id_name}
        if taken:
            raise ValueError(
                f"the prediction log keeps its own {', '.join(sorted(map(str, taken)))} "
                "column(s): a model input or id may not have that name"
            )

    def lines(
        self,
        request: Request,
        columns: Mapping[str, Sequence[Any]],
        ids: Sequence[Any] | None,
        scores: np.ndarray,
        keep: Sequence[int],
    ) -> bytes:
        """The lines of the rows `keep` (positions in the request) of one scored request."""
        if not keep:
            return b""
        head = {
            REQUEST_ID: request.request_id,
            TIME: timestamp(request.time_us),
            MODEL_VERSION: self.model_version,
            ENDPOINT: request.endpoint,
        }
        values = [columns[name] for name in self.columns]
        probabilities = scores.tolist()
        lines = []
        for i in keep:
            row = dict(head)
            row[ROW] = i
            if self.id_name is not None:
                row[self.id_name] = ids[i] if ids is not None else None
            for name, column in zip(self.columns, values, strict=True):
                row[name] = column[i]
            row[PROBABILITY] = probabilities[i]
            row[LABEL] = probabilities[i] >= self.threshold
            lines.append(orjson.dumps(row, option=_LINE_OPTIONS))
        return b"".join(lines)


def files(
    directory: Path | str,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    include_open: bool = True,
) -> list[Path]:
    """The log files that may hold rows of [start, end), oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    # A row is written after its time: in its day's partition, or the next one's just after
    # midnight.
    first = start.astimezone(UTC).date() if start else date.min
    last = (end + _WRITE_DELAY).astimezone(UTC).date() if end else date.max
    found = []
    for folder in directory.glob(f"{_PARTITION}*"):
        try:
            day = date.fromisoformat(folder.name.removeprefix(_PARTITION))
        except ValueError:
            continue
        if first <= day <= last:
            found += [
                path
                for path in folder.iterdir()
                if (writer := writer_of(path)) is not None
                and (include_open or not path.name.endswith(OPEN_SUFFIX))
                and (end is None or writer.opened < end + _WRITE_DELAY)
            ]
    return sorted(found, key=lambda path: (writer_of(path).opened, path.name))  # type: ignore[union-attr]


def read(
    directory: Path | str,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    include_open: bool = True,
) -> pd.DataFrame:
    """The logged rows with start <= time < end (either bound may be left out), oldest first.

    `time` is a timezone-aware (UTC) timestamp; integer columns with gaps (the id when some
    requests carried none) are pandas' nullable Int64. Needs pandas and PyArrow (the
    development environment has both; the service image needs neither).
    """
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.json as pj

    fixed = pa.schema(
        [
            (REQUEST_ID, pa.string()),
            (TIME, pa.timestamp("us", tz="UTC")),
            (MODEL_VERSION, pa.string()),
            (ENDPOINT, pa.string()),
            (ROW, pa.int64()),
            (PROBABILITY, pa.float64()),
            (LABEL, pa.bool_()),
        ]
    )
    when = fixed.field(TIME).type
    tables = []
    for path in files(directory, start, end, include_open=include_open):
        data = path.read_bytes()
        # An open file may end in a line still being written: only whole lines count.
        data = data[: data.rfind(b"\n") + 1]
        if not data:
            continue
        table = pj.read_json(
            io.BytesIO(data),
            # One block per file, so that a column's type is inferred from all of its values.
            read_options=pj.ReadOptions(block_size=len(data) + 1),
            parse_options=pj.ParseOptions(explicit_schema=fixed, unexpected_field_behavior="infer"),
        )
        if start is not None:
            table = table.filter(pc.greater_equal(table[TIME], pa.scalar(start, when)))
        if end is not None:
            table = table.filter(pc.less(table[TIME], pa.scalar(end, when)))
        tables.append(table)
    if not tables:
        return fixed.empty_table().to_pandas()
    table = pa.concat_tables(tables, promote_options="permissive")
    frame = table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    # The order of a line: who and when, the row, the prediction last.
    head, tail = [REQUEST_ID, TIME, MODEL_VERSION, ENDPOINT, ROW], [PROBABILITY, LABEL]
    middle = [name for name in frame.columns if name not in (*head, *tail)]
    frame = frame[[*head, *middle, *tail]]
    return frame.sort_values(TIME, kind="stable", ignore_index=True)

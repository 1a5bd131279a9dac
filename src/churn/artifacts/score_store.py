"""The store of pre-computed scores: one SQLite file mapping each id to its score.

SQLite is embedded (no server to run) and the id is the table's primary key: for integer ids
the INTEGER PRIMARY KEY, i.e. the rowid itself; for string ids a TEXT key in a WITHOUT ROWID
table. Either way a lookup reads the few pages of one B-tree path (3 or 4 for millions of rows)
and never scans, and a key is stored exactly as the contract's id parser typed it. The file is
never modified in place: `create` builds a new file beside the target and renames it over the
old one at the end, so readers (and an interrupted run) always see a complete store; a build
that was killed leaves its staging file behind, which the next build removes. A `ScoreStore`
keeps the file it opened (even once replaced, its data stays readable until closed); a
`FollowedScoreStore` moves to each new file that replaces it, when asked to `refresh`.
"""

from __future__ import annotations

import contextlib
import fcntl
import operator
import os
import secrets
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FORMAT_VERSION = 2
# SQLite integers are signed 64-bit: an id outside this range cannot be in the store.
_MIN_ID, _MAX_ID = -(2**63), 2**63 - 1
ID_TYPES = ("integer", "string")

LOOKUP = "SELECT score FROM scores WHERE id = ?"
_SCHEMAS = {
    # The INTEGER PRIMARY KEY is the rowid: no separate index to consult.
    "integer": "CREATE TABLE scores (id INTEGER PRIMARY KEY, score REAL NOT NULL);",
    "string": "CREATE TABLE scores (id TEXT PRIMARY KEY, score REAL NOT NULL) WITHOUT ROWID;",
}
_META = "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
_PARTIAL = ".partial"


class ScoreStoreError(RuntimeError):
    """The file is missing or is not a score store."""


class DuplicateIdError(ValueError):
    """Ids already written to the store were offered again."""

    def __init__(self, ids: list[int]) -> None:
        self.ids = ids
        super().__init__(f"{len(ids)} id(s) already in the store: {ids[:5]}")


class ScoreStore:
    """Read-only access to a finished store; safe to share between threads."""

    def __init__(self, connection: sqlite3.Connection, path: Path, id_type: str) -> None:
        self._connection = connection
        self._lock = threading.Lock()
        self.path = path
        self.id_type = id_type

    @classmethod
    def open(cls, path: Path | str) -> ScoreStore:
        path = Path(path)
        if not path.is_file():
            raise ScoreStoreError(f"no score store at {path}")
        # immutable: the file is only ever replaced, never changed, so SQLite may skip locking.
        uri = f"{path.resolve().as_uri()}?mode=ro&immutable=1"
        connection = sqlite3.connect(uri, uri=True, check_same_thread=False)
        try:
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        except sqlite3.DatabaseError as exc:
            connection.close()
            raise ScoreStoreError(f"{path} is not a score store: {exc}") from None
        if not {"scores", "meta"} <= tables:
            connection.close()
            raise ScoreStoreError(f"{path} is not a score store (no scores/meta tables)")
        meta = dict(connection.execute("SELECT key, value FROM meta").fetchall())
        if int(meta.get("format_version", 0)) != FORMAT_VERSION:
            connection.close()
            raise ScoreStoreError(
                f"{path} has store format {meta.get('format_version')}, this code reads "
                f"{FORMAT_VERSION}: rebuild it with `churn score`"
            )
        return cls(connection, path, meta["id_type"])

    def get(self, key: int | str) -> float | None:
        """The stored score of `key` (an id typed as the store's), or None if not scored."""
        if self.id_type == "integer":
            if isinstance(key, bool | str | float) or not hasattr(key, "__index__"):
                return None
            key = operator.index(key)  # NumPy integers too
            if not _MIN_ID <= key <= _MAX_ID:
                return None
        elif type(key) is not str:
            return None
        with self._lock:
            row = self._connection.execute(LOOKUP, (key,)).fetchone()
        return None if row is None else row[0]

    def info(self) -> dict[str, Any]:
        """What the store holds: model digest, row count, creation time, source, format."""
        with self._lock:
            meta = dict(self._connection.execute("SELECT key, value FROM meta").fetchall())
        return {
            "model_digest": meta.get("model_digest", ""),
            "rows": int(meta.get("rows", 0)),
            "created_at": meta.get("created_at", ""),
            "source": meta.get("source", ""),
            "id_type": meta.get("id_type", ""),
            "format_version": int(meta.get("format_version", 0)),
        }

    def check(self) -> None:
        """Read every page (SQLite's quick_check); raise ScoreStoreError if any is damaged.

        Proportional to the file's size: for a store about to replace a served one, off the
        request path."""
        try:
            with self._lock:
                result = [row[0] for row in self._connection.execute("PRAGMA quick_check")]
                self._connection.execute("SELECT id, score FROM scores LIMIT 1").fetchall()
        except sqlite3.DatabaseError as exc:
            raise ScoreStoreError(f"{self.path} is damaged: {exc}") from None
        if result != ["ok"]:
            raise ScoreStoreError(f"{self.path} is damaged: {'; '.join(result[:3])}")

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    def __enter__(self) -> ScoreStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# (st_dev, st_ino, st_size, st_mtime_ns): a replaced file differs in its inode at least.
FileIdentity = tuple[int, int, int, int]


def _identity(path: Path) -> FileIdentity:
    status = os.stat(path)
    return status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns


class FollowedScoreStore:
    """The store at `path`, followed across replacements: `refresh` opens the file now at
    `path` if it is a new one, checks it whole, and only then serves from it.

    A file that is missing, damaged or of another id type is refused: lookups stay on the
    store already open (its file stays readable while open, even once replaced), the refusal
    is reported once per file to `on_change`, and that file is not tried again. `refresh` may
    take as long as reading the new file: call it off the request path. Lookups only read an
    attribute, so they cost what `ScoreStore.get` costs.
    """

    def __init__(
        self, path: Path | str, on_change: Callable[[str, str], None] | None = None
    ) -> None:
        self.path = Path(path)
        self._on_change = on_change
        identity = _identity(self.path)
        self._store = ScoreStore.open(self.path)
        self._identity: FileIdentity = identity
        self._refused: FileIdentity | None = None
        # The store replaced at the last refresh: a lookup that began on it may still be using
        # it, so it is closed one refresh later.
        self._retired: ScoreStore | None = None
        self.opened_at = datetime.now(UTC).isoformat(timespec="seconds")
        self.last_refusal = ""

    @property
    def id_type(self) -> str:
        return self._store.id_type

    def get(self, key: int | str) -> float | None:
        return self._store.get(key)

    def info(self) -> dict[str, Any]:
        return {
            **self._store.info(),
            "path": str(self.path),
            "opened_at": self.opened_at,
            "last_refusal": self.last_refusal,
        }

    def refresh(self) -> None:
        """Serve from the file now at `path` if it replaced the one being served and is sound."""
        if self._retired is not None:
            self._retired.close()
            self._retired = None
        try:
            identity = _identity(self.path)
        except OSError as exc:
            self._refuse(None, f"no score store at {self.path} ({exc.strerror})")
            return
        if identity in (self._identity, self._refused):
            return
        problem = self._replace(identity)
        if problem is None:
            self._report("ok", f"now serving {self.path} ({self._store.info()['rows']} rows)")
        else:
            self._refuse(identity, problem)

    def _refuse(self, identity: FileIdentity | None, problem: str) -> None:
        if identity == self._refused and self.last_refusal:
            return  # reported already
        self._refused, self.last_refusal = identity, problem
        self._report("failed", f"{problem}; still serving the store opened {self.opened_at}")

    def _replace(self, identity: FileIdentity) -> str | None:
        """Open and check the new file; the problem with it, or None once it is served."""
        # Whatever is wrong with the new file (not SQLite, damaged, another format), the store
        # being served must stay: every failure to take it is a refusal, never an exception.
        try:
            store = ScoreStore.open(self.path)
        except Exception as exc:
            return f"{self.path} is not a score store: {exc}"
        try:
            store.check()
            if store.id_type != self._store.id_type:
                raise ScoreStoreError(
                    f"{self.path} holds {store.id_type} ids, the store being served "
                    f"{self._store.id_type} ids"
                )
        except Exception as exc:
            store.close()
            return str(exc)
        self._retired, self._store = self._store, store
        self._identity, self._refused = identity, None
        self.opened_at = datetime.now(UTC).isoformat(timespec="seconds")
        self.last_refusal = ""
        return None

    def _report(self, outcome: str, message: str) -> None:
        if self._on_change is not None:
            self._on_change(outcome, message)

    def close(self) -> None:
        for store in (self._store, self._retired):
            if store is not None:
                store.close()


class StoreWriter:
    """Adds scores to a store being built; see `create`."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection
        self._failed = False
        self.rows = 0

    def add(self, ids: Iterable[int | str], scores: Iterable[float]) -> None:
        """Insert one batch; raise DuplicateIdError if an id is already in or comes twice.

        After that error the build is incomplete (the store runs without a rollback journal,
        for speed) and must be abandoned, which leaving the `create` block by the error does.
        """
        if self._failed:
            raise RuntimeError("this store build already failed; start a new one")
        pairs = list(zip(ids, scores, strict=True))
        before = self._connection.total_changes
        try:
            self._connection.executemany("INSERT INTO scores VALUES (?, ?)", pairs)
        except sqlite3.IntegrityError:
            self._failed = True
            inserted = self._connection.total_changes - before
            raise DuplicateIdError(self._duplicates([i for i, _ in pairs], inserted)) from None
        self.rows += len(pairs)

    def _duplicates(self, ids: list[int | str], inserted: int) -> list[int | str]:
        # The first `inserted` ids went in, so they were new; the next one is the clash.
        clashes = {ids[inserted]}
        clashes |= {
            i for i in ids[inserted + 1 :] if self._connection.execute(LOOKUP, (i,)).fetchone()
        }
        clashes |= {i for i, count in Counter(ids).items() if count > 1}
        return sorted(clashes)


def remove_abandoned_builds(path: Path | str) -> list[Path]:
    """Delete staging files of builds of `path` that no process is writing any more (each
    build holds an exclusive lock on its staging file until it ends); return what went."""
    path = Path(path)
    removed = []
    for staging in path.parent.glob(f".{path.name}.*{_PARTIAL}"):
        try:
            handle = staging.open("rb")
        except FileNotFoundError:
            continue
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live build
            staging.unlink(missing_ok=True)
            removed.append(staging)
    return removed


@contextlib.contextmanager
def create(
    path: Path | str, *, model_digest: str, source: str, id_type: str
) -> Iterator[StoreWriter]:
    """Build a new store; when the block ends without error it replaces the file at `path`.

    On any error (or an interruption) the partial file is deleted and `path` is left untouched.
    """
    if id_type not in ID_TYPES:
        raise ValueError(f"id_type must be one of {ID_TYPES}, not {id_type!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_abandoned_builds(path)
    staging = path.with_name(f".{path.name}.{secrets.token_hex(8)}{_PARTIAL}")
    # Created with the usual permissions (mkstemp's 0600 would hide the store from a service
    # running as another user) and locked before SQLite writes a byte; the lock is held until
    # the build ends, and a kill releases it too, which tells a live build from litter.
    lock = staging.open("xb")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        connection = sqlite3.connect(staging, isolation_level=None)
        try:
            # No journal and no fsync per write: durability comes from the final fsync and
            # rename, and a crash mid-build only loses the staging file.
            connection.execute("PRAGMA journal_mode = OFF")
            connection.execute("PRAGMA synchronous = OFF")
            connection.executescript(_SCHEMAS[id_type] + _META)
            connection.execute("BEGIN")
            writer = StoreWriter(connection)
            yield writer
            meta = {
                "model_digest": model_digest,
                "rows": str(writer.rows),
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "source": source,
                "id_type": id_type,
                "format_version": str(FORMAT_VERSION),
            }
            connection.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
            connection.execute("COMMIT")
        finally:
            connection.close()
        _fsync(staging)
        os.replace(staging, path)
        _fsync(path.parent)
    finally:
        lock.close()
        staging.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

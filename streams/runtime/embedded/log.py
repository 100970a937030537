"""The embedded log: telecase's topics in one SQLite file (WAL), for a single machine.

Every write goes through one writer task that groups whatever is waiting into one transaction
(group commit), so many concurrent appends cost one ``fsync``. ``synchronous=FULL``: when
``append`` returns, the records survive a crash of the process or of the machine.

Besides the :class:`~streams.runtime.bus.Bus` contract it offers :meth:`EmbeddedLog.transact`: a
caller's
function run inside the writer's transaction, so the embedded worker can append its events,
store its thread states and commit its position atomically (exactly once on one machine).

Errors: a file that is not a database, or one another process holds locked, raises
:class:`LogUnavailableError` with a message that says which and what to do.

:meth:`EmbeddedLog.open_read_only` is for tools that only look (``telecase sla simulate``): no
lock, no writer, a ``mode=ro`` connection, so a running ``telecase run`` is not disturbed; it
reads what was committed when it opened and refuses every write.
"""

from __future__ import annotations

import asyncio
import fcntl
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from streams.runtime.bus import BusError, Outgoing, Record, partition_for

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    topic TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL,
    key BLOB, value BLOB NOT NULL, ts REAL NOT NULL,
    PRIMARY KEY (topic, partition, offset));
CREATE TABLE IF NOT EXISTS topics (name TEXT PRIMARY KEY, partitions INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS positions (
    grp TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL, PRIMARY KEY (grp, topic, partition)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kv (
    space TEXT NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL,
    PRIMARY KEY (space, key));
"""
"""``records`` and ``kv`` are rowid tables (their keys a separate index): their rows are large
(an update or a thread state, about a kilobyte), which SQLite stores better in a rowid table
than in a ``WITHOUT ROWID`` one, whose B-tree holds the whole row (measured here: an append
22 -> 9 us a record, a state upsert 9.5 -> 5 us). Logs created with the earlier ``WITHOUT
ROWID`` tables keep them (``CREATE TABLE IF NOT EXISTS``) and work the same: every statement
is the same on both."""


def _STOP(db: sqlite3.Connection) -> None:
    """Queue marker: commit what came before, then stop the writer."""


class LogUnavailableError(BusError):
    """The log file cannot be opened or written (corrupt, locked, unwritable)."""


def _explain(path: Path, exc: sqlite3.Error) -> LogUnavailableError:
    text = str(exc).lower()
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return LogUnavailableError(
            f"{path} is not a readable telecase log (the file is corrupt or not SQLite). "
            "Move it aside to start a new log, or restore it from a backup.")
    if "locked" in text or "busy" in text:
        return LogUnavailableError(
            f"{path} is locked by another process: is another `telecase run` using the same "
            "data directory? Stop it or choose another TELECASE_DATA_DIR.")
    return LogUnavailableError(f"{path}: {exc}")


class EmbeddedLog:
    """Topics in SQLite. Create with :meth:`open` (inside a running event loop)."""

    def __init__(self, path: Path, default_partitions: int = 1, *,
                 commit_in_thread: bool = False) -> None:
        self.path = path
        self.commit_in_thread = commit_in_thread
        self.default_partitions = default_partitions
        self._writer_db: sqlite3.Connection | None = None
        self._reader_db: sqlite3.Connection | None = None
        self._next: dict[tuple[str, int], int] = {}
        self._partitions: dict[str, int] = {}
        self._queue: asyncio.Queue[tuple[Callable[[sqlite3.Connection], Any],
                                         asyncio.Future[Any]]] = asyncio.Queue()
        self._appended = asyncio.Condition()
        self._writer: asyncio.Task[None] | None = None
        self._lock_file: Any = None
        self._read_lock = threading.Lock()
        self.read_only = False

    @classmethod
    async def open(cls, path: Path | str, default_partitions: int = 1, *,
                   commit_in_thread: bool = False) -> EmbeddedLog:
        """``commit_in_thread``: each group commit (and its ``fsync``) runs in a thread, so the
        event loop goes on serving while the disk syncs; the next group is whatever queued
        meanwhile. For a process whose loop does little else (the webhook front); the
        functions given to :meth:`transact` then run in that thread."""
        log = cls(Path(path), default_partitions, commit_in_thread=commit_in_thread)
        await asyncio.to_thread(log._open_files)
        log._writer = asyncio.create_task(log._write_loop(), name="embedded-log-writer")
        return log

    @classmethod
    async def open_read_only(cls, path: Path | str) -> EmbeddedLog:
        """A reader of the records committed when it opens (end offsets fixed then). Takes no
        lock and writes nothing, so it may run beside ``telecase run``; writes raise
        :class:`BusError`. The file must exist."""
        log = cls(Path(path))
        log.read_only = True
        await asyncio.to_thread(log._open_snapshot)
        return log

    def _open_snapshot(self) -> None:
        if not self.path.is_file():
            raise LogUnavailableError(f"{self.path}: no such log (nothing was recorded here)")
        try:
            db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10.0,
                                 isolation_level=None, check_same_thread=False)
            try:
                db.execute("BEGIN")  # one snapshot for both queries
                self._partitions = dict(db.execute("SELECT name, partitions FROM topics"))
                self._next = {(t, p): last + 1 for t, p, last in db.execute(
                    "SELECT topic, partition, MAX(offset) FROM records GROUP BY topic, partition")}
                db.execute("COMMIT")
            except sqlite3.Error:
                db.close()
                raise
        except sqlite3.Error as exc:
            raise _explain(self.path, exc) from None
        self._reader_db = db

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=2.0, isolation_level=None,
                             check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        return db

    def _open_files(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        self._lock_file = lock_path.open("a+")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_file.close()
            raise LogUnavailableError(
                f"{self.path} is in use by another process: is another `telecase run` using "
                "the same data directory? Stop it or choose another TELECASE_DATA_DIR.") from None
        try:
            writer = self._connect()
            writer.executescript(SCHEMA)
            for topic, partitions in writer.execute("SELECT name, partitions FROM topics"):
                self._partitions[topic] = partitions
            for topic, partition, last in writer.execute(
                    "SELECT topic, partition, MAX(offset) FROM records "
                    "GROUP BY topic, partition"):
                self._next[(topic, partition)] = last + 1
            self._writer_db = writer
            self._reader_db = self._connect()
        except sqlite3.Error as exc:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            raise _explain(self.path, exc) from None

    async def close(self) -> None:
        if self._writer is not None:
            # Everything queued before close() is committed; then the writer stops.
            stopped: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            await self._queue.put((_STOP, stopped))
            await self._writer
            self._writer = None
        for db in (self._writer_db, self._reader_db):
            if db is not None:
                await asyncio.to_thread(db.close)
        self._writer_db = self._reader_db = None
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    # ---------------------------------------------------------------- writing

    async def transact(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` inside the next group-commit transaction; return its result
        once the transaction is durable. Keep ``fn`` to SQL: it runs inside the commit."""
        if self.read_only:
            raise BusError(f"{self.path} is open read-only")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        await self._queue.put((fn, future))
        return await future

    async def _write_loop(self) -> None:
        stopping = False
        while not stopping:
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < 1000:
                batch.append(self._queue.get_nowait())
            if any(fn is _STOP for fn, _ in batch):
                stopping = True
                for fn, future in batch:
                    if fn is _STOP:
                        future.set_result(None)
                batch = [(fn, f) for fn, f in batch if fn is not _STOP]
                if not batch:
                    break
            # By default committed on the loop's thread, not a worker thread: measured faster
            # and with a quarter of the latency in the one-process runtime (no GIL hand-offs);
            # the fsync is shared by the batch. A front that only serves HTTP overlaps it.
            if self.commit_in_thread:
                results = await asyncio.to_thread(self._commit, batch)
            else:
                results = self._commit(batch)
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)
            async with self._appended:
                self._appended.notify_all()

    def _commit(self, batch: list[tuple[Callable[[sqlite3.Connection], Any], Any]]) -> list[Any]:
        db = self._writer_db
        assert db is not None
        saved_next = dict(self._next)
        results: list[Any] = []
        try:
            db.execute("BEGIN IMMEDIATE")
            for fn, _ in batch:
                db.execute("SAVEPOINT op")
                before = dict(self._next)
                try:
                    results.append(fn(db))
                    db.execute("RELEASE op")
                except Exception as exc:  # this op fails alone; the others commit
                    db.execute("ROLLBACK TO op")
                    db.execute("RELEASE op")
                    self._next = before
                    results.append(exc)
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._next = saved_next
            if db.in_transaction:
                db.execute("ROLLBACK")
            error = _explain(self.path, exc)
            return [error] * len(batch)
        return results

    def _append_rows(self, db: sqlite3.Connection, topic: str,
                     records: Sequence[Outgoing]) -> list[int]:
        partitions = self._ensure_topic(db, topic)
        now = time.time()
        offsets, rows = [], []
        for rec in records:
            part = rec.partition if rec.partition is not None else partition_for(rec.key,
                                                                                 partitions)
            if not 0 <= part < partitions:
                raise BusError(f"{topic} has no partition {part}")
            offset = self._next.get((topic, part), 0)
            self._next[(topic, part)] = offset + 1
            offsets.append(offset)
            rows.append((topic, part, offset, rec.key, rec.value, now))
        db.executemany("INSERT INTO records VALUES (?, ?, ?, ?, ?, ?)", rows)
        return offsets

    def _ensure_topic(self, db: sqlite3.Connection, topic: str,
                      partitions: int | None = None) -> int:
        known = self._partitions.get(topic)
        if known is None:
            known = partitions or self.default_partitions
            db.execute("INSERT OR IGNORE INTO topics VALUES (?, ?)", (topic, known))
            self._partitions[topic] = known
        return known

    async def create_topic(self, topic: str, partitions: int) -> None:
        await self.transact(lambda db: self._ensure_topic(db, topic, partitions))

    # ---------------------------------------------------------------- Bus

    async def append(self, topic: str, records: Sequence[Outgoing]) -> list[int]:
        return await self.transact(lambda db: self._append_rows(db, topic, records))

    def append_in(self, db: sqlite3.Connection, topic: str,
                  records: Sequence[Outgoing]) -> list[int]:
        """Append inside a :meth:`transact` function."""
        return self._append_rows(db, topic, records)

    async def partitions(self, topic: str) -> int:
        known = self._partitions.get(topic)
        if known is not None or self.read_only:
            return known or 0
        return await self.transact(lambda db: self._ensure_topic(db, topic))

    async def end_offset(self, topic: str, partition: int) -> int:
        return self._next.get((topic, partition), 0)

    async def end_offsets(self, topic: str, partitions: Sequence[int] | None = None,
                          ) -> dict[int, int]:
        wanted = range(await self.partitions(topic)) if partitions is None else partitions
        return {p: self._next.get((topic, p), 0) for p in wanted}

    async def read(self, topic: str, partition: int, offset: int, limit: int,
                   wait: float = 0.0) -> list[Record]:
        if wait > 0 and self._next.get((topic, partition), 0) <= offset:
            async with self._appended:
                try:
                    await asyncio.wait_for(self._appended.wait_for(
                        lambda: self._next.get((topic, partition), 0) > offset), wait)
                except TimeoutError:
                    return []
        return self._read(topic, partition, offset, limit)

    async def read_any(self, topic: str, offsets: Mapping[int, int], limit: int,
                       wait: float = 0.0) -> list[Record]:
        def ready() -> bool:
            return any(self._next.get((topic, p), 0) > o for p, o in offsets.items())

        if wait > 0 and not ready():
            async with self._appended:
                try:
                    await asyncio.wait_for(self._appended.wait_for(ready), wait)
                except TimeoutError:
                    return []
        out: list[Record] = []
        share = max(1, -(-limit // max(1, len(offsets))))  # each partition its share first,
        for p, o in sorted(offsets.items()):              # then the rest to whoever has more
            out += self._read(topic, p, o, min(share, limit - len(out)))
        for p in sorted(offsets):
            if len(out) >= limit:
                break
            got = [r.offset for r in out if r.partition == p]
            if len(got) == share:
                out += self._read(topic, p, got[-1] + 1, limit - len(out))
        return sorted(out, key=lambda r: r.partition)  # stable: each partition's in order

    def _read(self, topic: str, partition: int, offset: int, limit: int) -> list[Record]:
        db = self._reader_db
        assert db is not None
        end = self._next.get((topic, partition), 0)  # only what is committed
        try:
            with self._read_lock:
                rows = db.execute(
                    "SELECT offset, key, value, ts FROM records WHERE topic = ? AND "
                    "partition = ? AND offset >= ? AND offset < ? ORDER BY offset LIMIT ?",
                    (topic, partition, offset, end, limit)).fetchall()
        except sqlite3.Error as exc:
            raise _explain(self.path, exc) from None
        return [Record(topic, partition, o, k, v, ts) for o, k, v, ts in rows]

    async def committed(self, group: str, topic: str) -> dict[int, int]:
        def query(db: sqlite3.Connection) -> dict[int, int]:
            rows = db.execute("SELECT partition, next_offset FROM positions "
                              "WHERE grp = ? AND topic = ?", (group, topic))
            return {int(p): int(o) for p, o in rows}
        return await self.transact(query)

    def commit_in(self, db: sqlite3.Connection, group: str, topic: str,
                  positions: dict[int, int]) -> None:
        db.executemany("INSERT INTO positions VALUES (?, ?, ?, ?) ON CONFLICT(grp, topic, "
                       "partition) DO UPDATE SET next_offset = excluded.next_offset",
                       [(group, topic, p, o) for p, o in positions.items()])

    async def commit(self, group: str, topic: str, positions: dict[int, int]) -> None:
        await self.transact(lambda db: self.commit_in(db, group, topic, positions))

    # ---------------------------------------------------------------- key-value state

    def get_state(self, space: str, key: bytes) -> bytes | None:
        """Read a state value (from the event loop's thread; states are small)."""
        db = self._reader_db
        assert db is not None
        with self._read_lock:
            row = db.execute("SELECT value FROM kv WHERE space = ? AND key = ?",
                             (space, key)).fetchone()
        return None if row is None else bytes(row[0])

    async def scan_states(self, space: str) -> list[tuple[bytes, bytes]]:
        """Every ``(key, value)`` of a state space (a worker indexing what it holds at start)."""
        def query() -> list[tuple[bytes, bytes]]:
            db = self._reader_db
            assert db is not None
            with self._read_lock:
                rows = db.execute("SELECT key, value FROM kv WHERE space = ?",
                                  (space,)).fetchall()
            return [(bytes(k), bytes(v)) for k, v in rows]

        return await asyncio.to_thread(query)

    def put_states_in(self, db: sqlite3.Connection, space: str,
                      items: Sequence[tuple[bytes, bytes]]) -> None:
        db.executemany("INSERT INTO kv VALUES (?, ?, ?) ON CONFLICT(space, key) "
                       "DO UPDATE SET value = excluded.value",
                       [(space, k, v) for k, v in items])

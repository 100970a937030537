"""The webhook's spool: where a front process makes updates durable before the log has them.

``telecase run`` can serve the Telegram webhook from a process of its own (the front), so HTTP,
the update check and the acknowledging ``fsync`` use the machine's second core and never wait
behind the worker's batches. The front appends each update to a spool, an
:class:`~streams.runtime.embedded.log.EmbeddedLog` of its own (``webhook-spool.sqlite``: one
partition, group commit, ``synchronous=FULL``), and answers 200 once that append is durable. In
the main process a :class:`SpoolMover` carries the spool's records into ``telegram.updates``
in order, each batch in one log transaction together with the spool position it reached, so a
crash on either side moves every record exactly once; under load it waits a little between
moves (``linger``), so each carries more records. Moved records are then deleted from the
spool, once a second (``prune_every``). The spool holds one topic (the front's); the mover reads
and deletes its records by their key (topic, partition, offset), never scanning the spool.

Each spool is stamped with a generation (a random id in its ``kv`` table) when the front
creates it; the position is kept in the log per generation. At start :meth:`SpoolMover.recover`
moves what a previous run left (a crash between the front's 200 and the move), then removes
the spool files, so the next front starts a new generation from offset 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import sqlite3
import time
import uuid
from pathlib import Path

from streams.runtime.bus import Outgoing
from streams.runtime.embedded.log import EmbeddedLog, LogUnavailableError

SPACE = "telegram-webhook-spool"
"""The ``kv`` space holding the spool's generation (in the spool) and the position reached per
generation (in the log)."""
GENERATION = b"generation"
LINGER_FROM = 2
"""From how many records moved at once the mover waits (``linger``) before the next move."""


async def open_spool(path: Path) -> EmbeddedLog:
    """The front's spool: a new generation (the file must not exist: the main process
    recovered and removed the last one before starting the front)."""
    spool = await EmbeddedLog.open(path, commit_in_thread=True)
    stamp = uuid.uuid4().hex.encode()
    await spool.transact(lambda db: spool.put_states_in(db, SPACE, [(GENERATION, stamp)]))
    return spool


def spool_files(path: Path) -> list[Path]:
    return [path, *(path.with_name(path.name + s) for s in ("-wal", "-shm", ".lock"))]


def _not_in_use(spool: Path) -> None:
    """Refuse a spool that a front process (of another ``telecase run``) still holds."""
    lock = spool.with_name(spool.name + ".lock")
    if not lock.exists():
        return
    with lock.open("a+") as held:
        try:
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise LogUnavailableError(
                f"{spool} is in use by another webhook front: is another `telecase run` using "
                "the same data directory? Stop it or choose another TELECASE_DATA_DIR.") from None
        fcntl.flock(held, fcntl.LOCK_UN)


class SpoolMover:
    """Moves a spool's records into ``topic`` of ``log``, in order, exactly once."""

    def __init__(self, log: EmbeddedLog, spool: Path, topic: str, *, batch_max: int = 2000,
                 poll: float = 0.005, prune_every: float = 1.0, linger: float = 0.01) -> None:
        """``linger``: under load (a move of at least :data:`LINGER_FROM` records, but not a
        full batch), wait this long before the next move, so a move carries more records: a
        move costs about as much CPU as 30 records (its read, its log transaction, its
        commit), and a lone update is never held back."""
        self.log, self.spool, self.topic = log, spool, topic
        self.batch_max, self.poll, self.prune_every = batch_max, poll, prune_every
        self.linger = linger
        self.moved = 0
        self._db: sqlite3.Connection | None = None
        self._generation: bytes | None = None
        self._source: str | None = None
        self._next = 0
        self._pruned_at = time.monotonic()

    async def recover(self) -> int:
        """Move whatever an earlier run's spool holds, then remove its files; the count."""
        if self.spool.exists():
            _not_in_use(self.spool)
            while await self.move_once():
                pass
            self._close()
            for file in spool_files(self.spool):
                file.unlink(missing_ok=True)
        moved, self.moved, self._generation, self._next = self.moved, 0, None, 0
        self._source = None
        return moved

    async def run(self, stop: asyncio.Event) -> None:
        """Move until ``stop`` is set and the spool is empty (set it after the front has
        stopped, so its last acknowledged updates are moved too)."""
        try:
            while True:
                moved = await self.move_once()
                if moved:
                    if LINGER_FROM <= moved < self.batch_max:
                        with contextlib.suppress(TimeoutError):  # (a stop ends it)
                            await asyncio.wait_for(stop.wait(), self.linger)
                    continue
                if stop.is_set():
                    return
                await asyncio.sleep(self.poll)
        finally:
            self._close()

    async def move_once(self) -> int:
        """One batch from the spool into the log; how many records it moved."""
        db = self._connect()
        if db is None:
            return 0
        if self._generation is None:
            try:
                row = db.execute("SELECT value FROM kv WHERE space = ? AND key = ?",
                                 (SPACE, GENERATION)).fetchone()
            except sqlite3.OperationalError:  # no tables yet: the front is creating them
                row = None
            if row is None:  # not stamped yet
                return 0
            self._generation = bytes(row[0])
            done = self.log.get_state(SPACE, self._generation)
            self._next = int(done) if done is not None else 0
        if self._source is None:
            row = db.execute("SELECT name FROM topics").fetchone()
            if row is None:  # nothing appended yet (the topic comes with the first records)
                return 0
            self._source = str(row[0])
        rows = db.execute("SELECT offset, key, value FROM records WHERE topic = ? AND "
                          "partition = 0 AND offset >= ? ORDER BY offset LIMIT ?",
                          (self._source, self._next, self.batch_max)).fetchall()
        if not rows:
            return 0
        reached = int(rows[-1][0]) + 1
        records = [Outgoing(bytes(k) if k is not None else None, bytes(v)) for _, k, v in rows]
        generation = self._generation

        def write(tx: sqlite3.Connection) -> None:
            self.log.append_in(tx, self.topic, records)
            self.log.put_states_in(tx, SPACE, [(generation, str(reached).encode())])

        await self.log.transact(write)
        self._next = reached
        self.moved += len(rows)
        if time.monotonic() - self._pruned_at > self.prune_every:
            self._prune(db)
        return len(rows)

    def _prune(self, db: sqlite3.Connection) -> None:
        """Delete what is moved (durable in the log: if this is lost, the position still
        skips it), as a range of the primary key, like the reads."""
        self._pruned_at = time.monotonic()
        with contextlib.suppress(sqlite3.OperationalError):  # busy: next time
            db.execute("DELETE FROM records WHERE topic = ? AND partition = 0 AND offset < ?",
                       (self._source, self._next))

    def _connect(self) -> sqlite3.Connection | None:
        if self._db is None:
            if not self.spool.exists():
                return None
            self._db = sqlite3.connect(self.spool, timeout=0.05, isolation_level=None,
                                       check_same_thread=False)
            self._db.execute("PRAGMA synchronous=NORMAL")  # it only prunes: no fsync of its own
        return self._db

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

"""Rebuilding projections from the log into fresh tables, and swapping them in when caught up.

``telecase replay`` (wired in ``telecase.ops.replay``) runs :func:`replay` over a
:class:`RecordSource` (the embedded log or Kafka; anything that reads ``ticket.events`` in
offset order per partition). The same projector code as the live runners
(:data:`projections.registry.PROJECTORS`) folds every event, on a connection whose
``schema_translate_map`` sends the projectors' tables to the rebuild schema:

- PostgreSQL: schema ``telecase_rebuild`` in the same database;
- SQLite: ``<live file stem>-rebuild.sqlite`` beside the live file, attached to every connection
  as ``telecase_rebuild`` (SQLite's attached databases are SQLAlchemy schemas, so the same
  translate map works).

Side effects are off: nothing here appends to a topic, calls Salesforce or Telegram, or commits
a consumer offset. A record that cannot be decoded is counted and skipped (the live projector
already dead-lettered it); its offset still advances.

Resuming: each projector's rows and its checkpoint in the rebuild schema's own
``projector_checkpoints`` are written in one transaction per batch, as live (on PostgreSQL the
projectors of a batch work in parallel, each in a transaction of its own, so one may be a batch
ahead of another when the replay is stopped). Killed or interrupted, a replay started again
reads those checkpoints and goes on from them, each projector from its own;
``restart=True`` drops the chosen projections' rebuild tables first.

Catching up and swapping: after the end offsets seen at start, the replay keeps reading until it
is within ``max_lag`` records of the log's end, then swaps, in one transaction:

- PostgreSQL: ``LOCK TABLE`` the live tables (ACCESS EXCLUSIVE: an in-flight live batch
  finishes first, the next one waits), check the live checkpoints, ``ALTER TABLE ... SET SCHEMA``
  the live tables to ``telecase_old`` and the rebuilt ones to the live schema, replace the
  projectors' rows of ``projector_checkpoints`` with the rebuilt ones, and give the new live
  tables any trigger and grant the old ones had that creating them did not make (the audit
  trail's refusal of UPDATE and DELETE); then drop the old tables. A live statement that waited
  on the lock resolves the table name again and finds the new one.
- SQLite: ``BEGIN IMMEDIATE`` (the database's write lock), check the live checkpoints, delete
  the live rows and ``INSERT INTO main.<t> SELECT ... FROM telecase_rebuild.<t>`` (the live
  table's triggers are dropped and created again around it, inside the transaction), replace
  the checkpoint rows; then drop the rebuild tables.

Why a live projector may keep running through all this (checked against ``projections.cases``):

1. A rebuilt row is the whole state of a ticket as of its ``last_seq``. The live projector skips
   any event whose ``seq`` is at most the row's ``last_seq`` (``apply_event``), and its upsert
   replaces a row only by one with a higher ``last_seq`` (``_upsert``); checkpoints only move
   forward. So events the live projector applies again after the swap are no-ops.
2. What it must not do is skip events the rebuild lacks: it continues from its own position (in
   memory; from the checkpoint table only when it restarts or is assigned a partition). So the
   swap checks, under the lock, that the rebuild's checkpoint is at or past the live one on every
   partition; when it is not, it rolls back, reads up to the live checkpoint, and tries again.
   After the swap the live projector continues from a position at or before the swapped
   checkpoints (then re-applies no-ops), and a restarted one starts from the swapped checkpoints.
3. Residual edge, SQLite only: the embedded projector reads its rows before it takes the write
   lock, so a live batch whose read began just before the swap commits and whose events the
   rebuild does not have yet folds them onto the old row. The row is then what the live code
   makes of those events, as it would have been without the replay. Stop ``telecase run`` for
   the swap when that matters (a fix in the projector code needs a restart anyway).

Rebuilt rows equal live ones column for column, but for two by design: ``projected_at`` (when
a row was written), and, with several partitions, ``audit_trail.id``, a surrogate numbered in
insertion order, which follows how the live runner and the replay happened to interleave the
partitions in their batches (its ``event_id`` and every other column are the same).

On PostgreSQL the rebuild's transactions run with ``synchronous_commit = off``: a crash can
lose the last few, and their checkpoints with them, so the next replay redoes them.

Errors: :class:`ReplayError` (a :class:`~projections.db.ProjectionError`): an unknown projection,
a log that stalls, a swap that cannot get its locks.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import (
    Connection,
    Engine,
    MetaData,
    Table,
    delete,
    event,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.exc import OperationalError

from projections.cases import Offset, load_checkpoints
from projections.db import ProjectionError, create_schema, make_engine
from projections.registry import PROJECTORS, ProjectorSpec
from projections.tables import checkpoints, metadata
from streams.schema.events import TicketEvent

REBUILD_SCHEMA = "telecase_rebuild"
OLD_SCHEMA = "telecase_old"
TRANSLATE: dict[str | None, str] = {None: REBUILD_SCHEMA}
DEFAULT_BATCH = 20_000
DEFAULT_LAG = 1000
STALL_LIMIT = 30.0
SWAP_ATTEMPTS = 20

Batch = list[tuple[Offset, TicketEvent | None]]


class ReplayError(ProjectionError):
    """The replay cannot go on; the message says why."""


@dataclass
class Fetched:
    batch: Batch
    """Decoded records (``None`` for one that cannot be decoded), in offset order per
    partition."""
    positions: dict[int, int]
    """The source's position after them, per partition (past any non-data record too)."""
    undecodable: int = 0


class RecordSource(Protocol):
    """``ticket.events`` read in offset order per partition, read-only."""

    async def end_offsets(self) -> dict[int, int]:
        """Every partition's end offset now (the next offset to be written)."""
        ...

    async def seek(self, positions: dict[int, int]) -> None:
        """Read each partition from ``positions`` (absent: from its first record) on."""
        ...

    async def fetch(self, max_records: int) -> Fetched:
        """The next records; an empty batch when none is available now."""
        ...


@dataclass(frozen=True)
class Progress:
    phase: str
    """``rebuild`` (to the end offsets seen at start), ``catch-up``, ``swap`` or ``done``."""
    done: int
    """Sum over partitions of the rebuild's position."""
    total: int
    """Sum of the end offsets it is reading to."""
    events: int
    """Records read by this run."""


@dataclass
class ReplayResult:
    projections: list[str]
    events: int = 0
    undecodable: int = 0
    batches: int = 0
    seconds: float = 0.0
    resumed_from: dict[int, int] = field(default_factory=dict)
    rebuilt_to: dict[int, int] = field(default_factory=dict)
    end_offsets: dict[int, int] = field(default_factory=dict)
    swapped: bool = False
    swap_attempts: int = 0

    def summary(self) -> dict[str, Any]:
        def by_partition(d: dict[int, int]) -> dict[str, int]:
            return {str(p): o for p, o in sorted(d.items())}

        return {"projections": self.projections, "events": self.events,
                "undecodable": self.undecodable, "batches": self.batches,
                "seconds": round(self.seconds, 3),
                "events_per_s": round(self.events / self.seconds) if self.seconds else None,
                "resumed_from": by_partition(self.resumed_from),
                "rebuilt_to": by_partition(self.rebuilt_to),
                "end_offsets": by_partition(self.end_offsets),
                "swapped": self.swapped, "swap_attempts": self.swap_attempts}


def choose(names: Sequence[str] | None) -> list[ProjectorSpec]:
    """The registered projections named (all of them when none), in registry order."""
    unknown = sorted(set(names or ()) - set(PROJECTORS))
    if unknown:
        raise ReplayError(f"no projection named {', '.join(unknown)} (known: "
                          f"{', '.join(PROJECTORS)})")
    return [spec for name, spec in PROJECTORS.items() if not names or name in names]


def rebuild_engine(url: str) -> Engine:
    """An engine for the live database that also reaches the rebuild schema (on SQLite, the
    rebuild file is attached to every connection as it is made)."""
    engine = make_engine(url)
    if engine.dialect.name == "sqlite":
        live = engine.url.database
        if not live or live == ":memory:":
            raise ReplayError("replay needs the projections in a file, not in memory")
        path = Path(live).resolve()
        rebuild = str(path.with_name(f"{path.stem}-rebuild{path.suffix or '.sqlite'}"))

        @event.listens_for(engine, "connect")
        def _attach(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.execute(f"ATTACH DATABASE ? AS {REBUILD_SCHEMA}", (rebuild,))
            dbapi_conn.execute(f"PRAGMA {REBUILD_SCHEMA}.journal_mode=WAL")
            dbapi_conn.execute(f"PRAGMA {REBUILD_SCHEMA}.synchronous=NORMAL")

    return engine


def _rebuild(conn: Connection) -> Connection:
    """The connection, with the projectors' tables sent to the rebuild schema (in place: the
    option stays on this connection until it is closed)."""
    return conn.execution_options(schema_translate_map=TRANSLATE)


class RebuildTarget:
    """The database side of a replay: rebuild tables, their checkpoints, the swap."""

    def __init__(self, engine: Engine, specs: Sequence[ProjectorSpec], topic: str) -> None:
        self.engine, self.specs, self.topic = engine, list(specs), topic
        self.sqlite = engine.dialect.name == "sqlite"
        self.names = [s.name for s in self.specs]
        self.tables: list[Table] = [t for s in self.specs for t in s.tables]
        self.metadata = MetaData(naming_convention=metadata.naming_convention)
        for table in (*self.tables, checkpoints):
            table.to_metadata(self.metadata)
        qualified = MetaData()  # the rebuild tables by their schema, for cross-schema SQL
        self.rebuilt = {t.name: t.to_metadata(qualified, schema=REBUILD_SCHEMA)
                        for t in (*self.tables, checkpoints)}

    def prepare(self, restart: bool) -> dict[str, dict[int, int]]:
        """Live tables migrated; rebuild tables there (a projection's dropped first when
        ``restart``, or when its columns are not the current ones); returns each projector's
        rebuild checkpoint (``partition -> next offset``)."""
        create_schema(self.engine)
        with self.engine.begin() as conn:
            if not self.sqlite:
                conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {REBUILD_SCHEMA}"))
                conn.execute(text(f"DROP SCHEMA IF EXISTS {OLD_SCHEMA} CASCADE"))
            found = inspect(conn)
            present = set(found.get_table_names(schema=REBUILD_SCHEMA))
            drop = set(self.names) if restart else set()
            for spec in self.specs:  # built by another version of the tables: start over
                for table in spec.tables:
                    if table.name in present and {
                            c["name"] for c in found.get_columns(table.name,
                                                                 schema=REBUILD_SCHEMA)
                    } != set(table.columns.keys()):
                        drop.add(spec.name)
            rc = _rebuild(conn)
            for spec in self.specs:
                if spec.name in drop:
                    for table in reversed(spec.tables):
                        self.metadata.tables[table.name].drop(rc, checkfirst=True)
            self.metadata.create_all(rc)
            rc.execute(delete(checkpoints).where(checkpoints.c.projector.in_(drop)))
            return {name: load_checkpoints(rc, name, self.topic) for name in self.names}

    def apply(self, batch: Batch, starts: dict[str, dict[int, int]], now: datetime) -> None:
        """One batch into every chosen projection's rebuild tables, each projector's rows with
        its checkpoint in one transaction; each projector gets only the records past its own
        start. On PostgreSQL the projectors work at once, one connection each (one's Python
        runs while the server writes another's rows); on SQLite, one after the other in one
        transaction (it has one writer anyway)."""
        if self.sqlite or len(self.specs) == 1:
            self._apply(self.specs, batch, starts, now)
            return
        with ThreadPoolExecutor(len(self.specs), thread_name_prefix="replay") as pool:
            done = [pool.submit(self._apply, [spec], batch, starts, now) for spec in self.specs]
        for future in done:  # every transaction has ended: the first failure, if any
            future.result()

    def _apply(self, specs: Sequence[ProjectorSpec], batch: Batch,
               starts: dict[str, dict[int, int]], now: datetime) -> None:
        with self.engine.begin() as conn:
            if not self.sqlite:  # a lost commit loses its checkpoint too: resumed from before
                conn.execute(text("SET LOCAL synchronous_commit = off"))
            rc = _rebuild(conn)
            for spec in specs:
                start = starts[spec.name]
                own = (batch if not start else
                       [(pos, e) for pos, e in batch
                        if pos.offset >= start.get(pos.partition, 0)])
                if own:
                    spec.apply(rc, own, now)

    def swap(self) -> dict[int, int] | None:
        """Swap the rebuilt tables in. ``None`` when done; else, by partition, the live
        checkpoints the rebuild must reach first (and nothing was changed)."""
        return self._swap_sqlite() if self.sqlite else self._swap_postgres()

    def _behind(self, conn: Connection, lock: bool) -> dict[int, int]:
        """Live checkpoints of the chosen projectors that their rebuild has not reached."""
        live = (select(checkpoints.c.projector, checkpoints.c.partition,
                       checkpoints.c.next_offset)
                .where(checkpoints.c.projector.in_(self.names),
                       checkpoints.c.topic == self.topic))
        if lock:
            live = live.with_for_update()
        theirs = self.rebuilt[checkpoints.name]
        rebuilt = {(name, int(p)): int(o) for name, p, o in conn.execute(
            select(theirs.c.projector, theirs.c.partition, theirs.c.next_offset)
            .where(theirs.c.projector.in_(self.names), theirs.c.topic == self.topic))}
        behind: dict[int, int] = {}
        for name, partition, offset in conn.execute(live).all():
            if rebuilt.get((name, int(partition)), 0) < offset:
                behind[int(partition)] = max(behind.get(int(partition), 0), int(offset))
        return behind

    def _copy_checkpoints(self, conn: Connection) -> None:
        """Replace the chosen projectors' live checkpoint rows by the rebuilt ones, and forget
        the rebuilt ones (so that a next replay starts from the first event)."""
        theirs = self.rebuilt[checkpoints.name]
        columns = [c.name for c in checkpoints.columns]
        conn.execute(delete(checkpoints).where(checkpoints.c.projector.in_(self.names)))
        conn.execute(insert(checkpoints).from_select(
            columns, select(*[theirs.c[c] for c in columns])
            .where(theirs.c.projector.in_(self.names))))

    def _forget(self, conn: Connection) -> None:
        theirs = self.rebuilt[checkpoints.name]
        conn.execute(delete(theirs).where(theirs.c.projector.in_(self.names)))

    def _swap_postgres(self) -> dict[int, int] | None:
        q = self.engine.dialect.identifier_preparer.quote
        with self.engine.connect() as conn:
            live = q(conn.execute(text("SELECT current_schema()")).scalar_one())
            conn.execute(text("SET LOCAL lock_timeout = '10s'"))
            for table in self.tables:  # the live runners' order: registry, then tables
                conn.execute(text(f"LOCK TABLE {live}.{q(table.name)} IN ACCESS EXCLUSIVE MODE"))
            behind = self._behind(conn, lock=True)
            if behind:
                conn.rollback()
                return behind
            carried = [stmt for table in self.tables
                       for stmt in _pg_triggers_and_grants(conn, live, table.name)]
            conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {OLD_SCHEMA}"))
            for table in self.tables:
                name = q(table.name)
                conn.execute(text(f"DROP TABLE IF EXISTS {OLD_SCHEMA}.{name}"))
                conn.execute(text(f"ALTER TABLE {live}.{name} SET SCHEMA {OLD_SCHEMA}"))
                conn.execute(text(f"ALTER TABLE {REBUILD_SCHEMA}.{name} SET SCHEMA {live}"))
            for stmt in carried:  # they name the live table, which is now the rebuilt one
                conn.exec_driver_sql(stmt)
            self._copy_checkpoints(conn)
            self._forget(conn)
            conn.commit()
        with self.engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {OLD_SCHEMA} CASCADE"))
        return None

    def _swap_sqlite(self) -> dict[int, int] | None:
        with self.engine.connect() as conn:
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock before reading anything
            try:
                behind = self._behind(conn, lock=False)
                if behind:
                    conn.rollback()
                    return behind
                for table in self.tables:
                    theirs = self.rebuilt[table.name]
                    columns = [c.name for c in table.columns]
                    triggers = conn.exec_driver_sql(
                        "SELECT name, sql FROM main.sqlite_master WHERE type = 'trigger' "
                        "AND tbl_name = ?", (table.name,)).all()
                    for name, _ in triggers:  # e.g. the audit trail's refusal of DELETE
                        conn.exec_driver_sql(f'DROP TRIGGER main."{name}"')
                    conn.execute(delete(table))
                    conn.execute(insert(table).from_select(
                        columns, select(*[theirs.c[c] for c in columns])))
                    for _, sql in triggers:
                        conn.exec_driver_sql(sql)
                self._copy_checkpoints(conn)
                conn.commit()  # only main was written: atomic, WAL or not
            except BaseException:
                conn.rollback()
                raise
        with self.engine.begin() as conn:  # the rebuild file is scratch from here on
            self._forget(conn)
            rc = _rebuild(conn)
            for table in reversed(self.tables):
                self.metadata.tables[table.name].drop(rc, checkfirst=True)
        return None


def _pg_triggers_and_grants(conn: Connection, schema: str, table: str) -> list[str]:
    """What a table created by the migrations has beyond its columns and indexes: its
    triggers (the audit trail's refusal of UPDATE and DELETE) and the privileges granted on
    it, as statements that recreate them on the table now called ``schema.table``."""
    oid = conn.execute(text("SELECT to_regclass(:name)"),
                       {"name": f"{schema}.{table}"}).scalar_one()
    if oid is None:
        return []
    triggers = ("SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = "
                "CAST(:name AS regclass) AND NOT tgisinternal ORDER BY tgname")
    has = {str(n) for n, _ in conn.execute(text(triggers),
                                           {"name": f"{REBUILD_SCHEMA}.{table}"})}
    statements = [str(d) for n, d in conn.execute(text(triggers),
                                                  {"name": f"{schema}.{table}"})
                  if str(n) not in has]  # what creating the table did not make already
    q = conn.dialect.identifier_preparer.quote
    for grantee, privileges in conn.execute(text(
            "SELECT grantee, string_agg(privilege_type, ', ') FROM "
            "information_schema.role_table_grants WHERE table_schema = current_schema() "
            "AND table_name = :t AND grantee <> current_user GROUP BY grantee"),
            {"t": table}):
        who = "PUBLIC" if grantee == "PUBLIC" else q(grantee)
        statements.append(f"GRANT {privileges} ON {schema}.{q(table)} TO {who}")
    return statements


async def replay(target: RebuildTarget, source: RecordSource, *, batch: int = DEFAULT_BATCH,
                 restart: bool = False, swap: bool = True, max_lag: int = DEFAULT_LAG,
                 on_progress: Callable[[Progress], None] | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> ReplayResult:
    """Rebuild ``target``'s projections from ``source`` and (with ``swap``) swap them in.

    ``on_progress`` is called after every committed batch; an exception it raises stops the
    replay there (what was committed stays, and a later replay resumes from it)."""
    started = time.perf_counter()
    result = ReplayResult(target.names)
    starts = await asyncio.to_thread(target.prepare, restart)
    ends = await source.end_offsets()
    positions = {p: min((s.get(p, 0) for s in starts.values()), default=0) for p in ends}
    result.resumed_from = dict(positions)
    await source.seek(positions)
    phase = "rebuild"

    def report(now: str | None = None) -> None:
        if on_progress is not None:
            on_progress(Progress(now or phase, sum(positions.values()), sum(ends.values()),
                                 result.events))

    async def read_to(until: dict[int, int]) -> None:
        await _read_to(target, source, until, positions, starts, batch, result, clock, report)

    report()
    while True:
        await read_to(ends)
        if not swap:
            break
        latest = await source.end_offsets()
        ends = {p: max(o, ends.get(p, 0)) for p, o in latest.items()}
        lag = sum(max(0, o - positions.get(p, 0)) for p, o in ends.items())
        if lag > max_lag:
            phase = "catch-up"
            continue
        await read_to(ends)  # the last few, then swap
        if result.swap_attempts >= SWAP_ATTEMPTS:
            raise ReplayError(f"no swap after {SWAP_ATTEMPTS} attempts: the live tables stayed "
                              "locked, or the live projector kept moving ahead")
        result.swap_attempts += 1
        report("swap")
        try:
            behind = await asyncio.to_thread(target.swap)
        except OperationalError:  # a lock timeout, or a deadlock with a live batch
            await asyncio.sleep(0.2)
            continue
        if behind is None:
            result.swapped = True
            break
        phase = "catch-up"  # the live projector is further: read up to it, then try again
        for p, o in behind.items():
            ends[p] = max(o, ends.get(p, 0))
    result.seconds = time.perf_counter() - started
    result.end_offsets, result.rebuilt_to = dict(ends), dict(positions)
    report("done")
    return result


async def _read_to(target: RebuildTarget, source: RecordSource, ends: dict[int, int],
                   positions: dict[int, int], starts: dict[str, dict[int, int]], batch: int,
                   result: ReplayResult, clock: Callable[[], datetime],
                   report: Callable[[], None]) -> None:
    """Read and apply until every partition's position reaches ``ends``."""
    last_progress = time.monotonic()
    while any(positions.get(p, 0) < o for p, o in ends.items()):
        fetched = await source.fetch(batch)
        moved = any(o > positions.get(p, 0) for p, o in fetched.positions.items())
        if fetched.batch:
            await asyncio.to_thread(target.apply, fetched.batch, starts, clock())
            result.events += len(fetched.batch)
            result.undecodable += fetched.undecodable
            result.batches += 1
        for p, o in fetched.positions.items():
            positions[p] = max(positions.get(p, 0), o)
        if fetched.batch or moved:
            last_progress = time.monotonic()
            report()
        elif time.monotonic() - last_progress > STALL_LIMIT:
            raise ReplayError(f"reading ticket.events stalled for {STALL_LIMIT:g}s before its "
                              f"end offsets {ends} (at {positions})")
        else:
            await asyncio.sleep(0.05)

"""The projections telecase maintains, by name: what each one owns and how it applies a batch.

Every projector has the same shape: ``apply(conn, batch, now) -> int`` folds a batch of
``ticket.events`` (``(offset, event)`` pairs, ``None`` for a record that went to the dead-letter
topic) into its tables *and* advances its own checkpoint rows (``projector_checkpoints``, keyed
by its name), all in the caller's transaction, and returns how many events changed something.
It names its tables through the ``Table`` objects of ``projections.tables`` only, never by
literal SQL names, so a caller may point the same code at another schema (SQLAlchemy's
``schema_translate_map``): that is how ``telecase replay`` rebuilds a projection into fresh
tables while the live ones keep serving.

Each projector resumes from its own checkpoints. A projector added in a later release starts
at offset 0 while the others are far along, so the runners read from the lowest checkpoint of
all (:func:`resume_positions`) and every ``apply`` here first drops the records below its own
checkpoint for their partition (:func:`unapplied`, read in the same transaction). The folds in
``projections.audit``, ``projections.workloads`` and ``projections.metrics`` write rows only;
:func:`_checkpointed` adds that filter and the checkpoint to them, once for all.

The live runners (``projections.bus_runner``, ``projections.kafka_runner``) apply every
projector in :data:`PROJECTORS` to each batch, in one transaction (:func:`apply_all`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Table, select

from projections import audit, cases, metrics, workloads
from projections.cases import advance_checkpoints
from projections.tables import (
    agent_workloads,
    audit_trail,
    checkpoints,
    daily_metrics,
    metrics_tickets,
    workload_tickets,
)
from projections.tables import cases as cases_table
from streams.schema.events import TicketEvent

Batch = Sequence[tuple[cases.Offset, TicketEvent | None]]
Apply = Callable[[Connection, Batch, datetime], int]


@dataclass(frozen=True)
class ProjectorSpec:
    name: str
    """Its checkpoint name (``projector_checkpoints.projector``)."""
    tables: tuple[Table, ...]
    """The tables it owns and a rebuild replaces (the checkpoint table is shared)."""
    apply: Apply


def load_checkpoints(conn: Connection, projector: str) -> dict[tuple[str, int], int]:
    """``(topic, partition) -> next offset`` of one projector."""
    q = select(checkpoints.c.topic, checkpoints.c.partition, checkpoints.c.next_offset).where(
        checkpoints.c.projector == projector)
    return {(str(t), int(p)): int(o) for t, p, o in conn.execute(q)}


def unapplied(conn: Connection, projector: str, batch: Batch) -> Batch:
    """The part of ``batch`` at or past ``projector``'s checkpoints (read in ``conn``'s
    transaction, so it agrees with what the projector's rows say)."""
    if not batch:
        return batch
    stored = load_checkpoints(conn, projector)
    if all(low >= stored.get(key, 0) for key, (low, _) in cases.offset_span(batch).items()):
        return batch  # the usual case: nothing of it applied yet
    return [(pos, event) for pos, event in batch
            if pos.offset >= stored.get((pos.topic, pos.partition), 0)]


def _checkpointed(name: str, fold: Apply) -> Apply:
    """``fold`` (rows only) as a projector: skip what is applied, fold, checkpoint."""
    def apply(conn: Connection, batch: Batch, now: datetime) -> int:
        changed = fold(conn, unapplied(conn, name, batch), now)
        advance_checkpoints(conn, name, batch)
        return changed
    return apply


def _cases(conn: Connection, batch: Batch, now: datetime) -> int:
    return cases.apply_batch(conn, unapplied(conn, cases.PROJECTOR, batch), now)


PROJECTORS: dict[str, ProjectorSpec] = {
    cases.PROJECTOR: ProjectorSpec(cases.PROJECTOR, (cases_table,), _cases),
    audit.PROJECTOR: ProjectorSpec(audit.PROJECTOR, (audit_trail,),
                                   _checkpointed(audit.PROJECTOR, audit.fold)),
    workloads.PROJECTOR: ProjectorSpec(workloads.PROJECTOR, (agent_workloads, workload_tickets),
                                       _checkpointed(workloads.PROJECTOR, workloads.fold)),
    metrics.PROJECTOR: ProjectorSpec(metrics.PROJECTOR, (daily_metrics, metrics_tickets),
                                     _checkpointed(metrics.PROJECTOR, metrics.fold)),
}
"""Every projection, by name, in the order a batch is applied to them."""


def apply_all(conn: Connection, batch: Batch, now: datetime) -> dict[str, int]:
    """Apply ``batch`` to every projector, in ``conn``'s transaction: ``name -> changed``."""
    return {name: spec.apply(conn, batch, now) for name, spec in PROJECTORS.items()}


def resume_positions(conn: Connection, topic: str) -> dict[int, int]:
    """``partition -> offset`` a runner of every projector reads ``topic`` from: the lowest
    checkpoint of any projector (0 where one has none), so none misses a record."""
    stored = {name: load_checkpoints(conn, name) for name in PROJECTORS}
    partitions = {p for cps in stored.values() for (t, p) in cps if t == topic}
    return {p: min(cps.get((topic, p), 0) for cps in stored.values()) for p in partitions}

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
checkpoint for their partition (:func:`unapplied`, read in the same transaction). The folds
(``fold`` of ``projections.cases``, ``.audit``, ``.workloads`` and ``.metrics``) write rows
only; :meth:`ProjectorSpec.apply` adds that filter and the checkpoint to them, once for all,
and :func:`apply_all` the same for every projector at once.

The live runners (``projections.bus_runner``, ``projections.kafka_runner``) apply every
projector in :data:`PROJECTORS` to each batch, in one transaction (:func:`apply_all`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Table, bindparam, select

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
    fold: Apply
    """Its rows only: folds the events it is given (the part of a batch it has not applied)."""

    def apply(self, conn: Connection, batch: Batch, now: datetime) -> int:
        """The projector on its own: skip what it has applied, fold, checkpoint."""
        changed = self.fold(conn, unapplied(conn, self.name, batch), now)
        advance_checkpoints(conn, self.name, batch)
        return changed


Checkpoints = dict[tuple[str, int], int]
"""``(topic, partition) -> next offset`` of one projector."""


def load_checkpoints(conn: Connection, projector: str) -> Checkpoints:
    """One projector's checkpoints."""
    return _load(conn, [projector]).get(projector, {})


_CHECKPOINTS = select(checkpoints.c.projector, checkpoints.c.topic, checkpoints.c.partition,
                      checkpoints.c.next_offset).where(
    checkpoints.c.projector.in_(bindparam("projectors", expanding=True)))


def _load(conn: Connection, projectors: Sequence[str]) -> dict[str, Checkpoints]:
    """The checkpoints of ``projectors``, by projector, in one statement."""
    stored: dict[str, Checkpoints] = {}
    for name, t, p, o in conn.execute(_CHECKPOINTS, {"projectors": list(projectors)}):
        stored.setdefault(str(name), {})[(str(t), int(p))] = int(o)
    return stored


def unapplied(conn: Connection, projector: str, batch: Batch) -> Batch:
    """The part of ``batch`` at or past ``projector``'s checkpoints (read in ``conn``'s
    transaction, so it agrees with what the projector's rows say)."""
    if not batch:
        return batch
    return _past(load_checkpoints(conn, projector), batch)


def _past(stored: Checkpoints, batch: Batch) -> Batch:
    """The part of ``batch`` at or past the checkpoints ``stored``."""
    if all(low >= stored.get(key, 0) for key, (low, _) in cases.offset_span(batch).items()):
        return batch  # the usual case: nothing of it applied yet
    return [(pos, event) for pos, event in batch
            if pos.offset >= stored.get((pos.topic, pos.partition), 0)]


PROJECTORS: dict[str, ProjectorSpec] = {
    cases.PROJECTOR: ProjectorSpec(cases.PROJECTOR, (cases_table,), cases.fold),
    audit.PROJECTOR: ProjectorSpec(audit.PROJECTOR, (audit_trail,), audit.fold),
    workloads.PROJECTOR: ProjectorSpec(workloads.PROJECTOR, (agent_workloads, workload_tickets),
                                       workloads.fold),
    metrics.PROJECTOR: ProjectorSpec(metrics.PROJECTOR, (daily_metrics, metrics_tickets),
                                     metrics.fold),
}
"""Every projection, by name, in the order a batch is applied to them."""


def apply_all(conn: Connection, batch: Batch, now: datetime) -> dict[str, int]:
    """Apply ``batch`` to every projector, in ``conn``'s transaction: ``name -> changed``.

    What each :meth:`ProjectorSpec.apply` does, with the checkpoints of all of them read in
    one statement before the folds and moved in one after them (two statements a batch
    where there were eight, issue 19)."""
    if not batch:
        return dict.fromkeys(PROJECTORS, 0)
    stored = _load(conn, list(PROJECTORS))
    changed = {name: spec.fold(conn, _past(stored.get(name, {}), batch), now)
               for name, spec in PROJECTORS.items()}
    advance_checkpoints(conn, list(PROJECTORS), batch)
    return changed


def resume_positions(conn: Connection, topic: str) -> dict[int, int]:
    """``partition -> offset`` a runner of every projector reads ``topic`` from: the lowest
    checkpoint of any projector (0 where one has none), so none misses a record."""
    found = _load(conn, list(PROJECTORS))
    stored = {name: found.get(name, {}) for name in PROJECTORS}
    partitions = {p for cps in stored.values() for (t, p) in cps if t == topic}
    return {p: min(cps.get((topic, p), 0) for cps in stored.values()) for p in partitions}

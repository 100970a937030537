"""The projections telecase maintains, by name: what each one owns and how it applies a batch.

Every projector has the same shape: ``apply(conn, batch, now) -> int`` folds a batch of
``ticket.events`` (``(offset, event)`` pairs, ``None`` for a record that went to the dead-letter
topic) into its tables *and* advances its own checkpoint rows (``projector_checkpoints``, keyed
by its name), all in the caller's transaction, and returns how many events changed something.
It names its tables through the ``Table`` objects of ``projections.tables`` only, never by
literal SQL names, so a caller may point the same code at another schema (SQLAlchemy's
``schema_translate_map``): that is how ``telecase replay`` rebuilds a projection into fresh
tables while the live ones keep serving.

The live runners (``projections.bus_runner``, ``projections.kafka_runner``) apply every
projector in :data:`PROJECTORS` to each batch, in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Table

from projections import cases
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


def _cases(conn: Connection, batch: Batch, now: datetime) -> int:
    return cases.apply_batch(conn, batch, now)


PROJECTORS: dict[str, ProjectorSpec] = {
    cases.PROJECTOR: ProjectorSpec(cases.PROJECTOR, (cases_table,), _cases),
}
"""Every projection, by name, in the order a batch is applied to them."""

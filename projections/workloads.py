"""The ``workloads`` projection: how many open tickets each agent holds (``agent_workloads``).

Folded from ``ticket.assigned`` (a ticket moves to its new agent, or to nobody), closings
(``topic.closed``, ``ticket.closed``, a closed Case status) and reopenings (``topic.reopened``,
an open Case status). The projector remembers each ticket's agent and open/closed state in
``workload_tickets``, with the last ``seq`` it applied, so a redelivered event counts nothing.

Agent rows are aggregates over many tickets, which other partitions (and, for a moment during
a Kafka rebalance, another projector instance) update too; so they are changed by increments
in SQL, never rewritten from what was read, and the ticket rows a batch touches are locked
first (:func:`lock_ticket_rows`), so two instances never both count one event.
Capacity and availability belong to the assignment policy and are left out.

:func:`fold` writes rows only; the registry adds checkpoints (``projections.registry``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, Select, Table, case, select
from sqlalchemy.sql.dml import Insert

from projections import bulk
from projections.cases import Offset
from projections.tables import agent_workloads, workload_tickets
from streams.schema.events import (
    CaseStatusChanged,
    TicketAssigned,
    TicketClosed,
    TicketEvent,
    TopicClosed,
    TopicReopened,
)

PROJECTOR = "workloads"


@dataclass
class _Delta:
    open_tickets: int = 0
    assigned_total: int = 0
    closed_total: int = 0
    last_assigned_at: datetime | None = None
    updated_at: datetime | None = None

    def touch(self, at: datetime) -> None:
        self.updated_at = at if self.updated_at is None else max(self.updated_at, at)


_CLOSING = frozenset({TopicClosed, TicketClosed})


def closes(event: TicketEvent) -> bool | None:
    """``True``: the event closes the ticket; ``False``: reopens it; ``None``: neither.

    Event classes have no subclasses, so the projectors test ``type(event)``: pydantic
    models' metaclass is an ``ABCMeta``, whose ``isinstance`` costs several times a plain
    one, and these tests run for every event."""
    kind = type(event)
    if kind in _CLOSING:
        return True
    if kind is TopicReopened:
        return False
    if kind is CaseStatusChanged:
        return event.is_closed  # type: ignore[union-attr]
    return None


def lock_ticket_rows(conn: Connection, table: Table, ticket_ids: list[str],
                     blank: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A projector's per-ticket rows for ``ticket_ids``, locked until the transaction ends
    (``blank`` rows, with ``last_seq`` 0, for tickets it has not seen). Locked in ticket
    order, so two transactions cannot deadlock on them.

    On PostgreSQL the blank rows are inserted first, so that every row can be locked. SQLite
    locks no rows: its one writer holds the whole database until the transaction ends, so the
    blank rows are made here and written with the changed ones (:func:`save_ticket_rows`; a
    new ticket always changes, its first event being past ``last_seq`` 0), the same rows in
    the same order without a statement for them."""
    if not ticket_ids:
        return {}
    names = ["ticket_id", "last_seq", *blank]
    defaults = [0, *blank.values()]
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        bulk.insert(conn, table, names, [[t, *defaults] for t in ticket_ids],
                    bulk.OnConflict(("ticket_id",)))
    rows: dict[str, dict[str, Any]] = {}
    q = _locking(conn.dialect.name, table)
    for r in conn.execute(q, bulk.ids_value(conn, ticket_ids)).mappings().all():
        rows[r["ticket_id"]] = _utc(dict(r))
    if not postgres:
        for t in ticket_ids:
            if t not in rows:
                rows[t] = dict(zip(names, [t, *defaults], strict=True))
    return rows


@cache
def _locking(dialect: str, table: Table) -> Select[Any]:
    """:func:`lock_ticket_rows`' read of the rows :data:`bulk.IDS` (built once)."""
    return (select(table).where(bulk.among_ids(dialect, table.c.ticket_id))
            .order_by(table.c.ticket_id).with_for_update())


def fold_per_ticket(conn: Connection, table: Table, blank: dict[str, Any],
                    batch: Sequence[tuple[Offset, TicketEvent | None]],
                    apply: Callable[[dict[str, Any], TicketEvent], None]) -> int:
    """The loop both counting projections share: each ticket's memory row (``table``, locked,
    ``blank`` for a new ticket), every event past its ``last_seq`` handed to ``apply`` with it,
    the changed rows saved. Returns how many events were new."""
    ids = sorted({e.ticket_id for _, e in batch if e is not None})
    tickets = lock_ticket_rows(conn, table, ids, blank)
    changed: set[str] = set()
    applied = 0
    for _, event in batch:
        if event is None:
            continue
        ticket = tickets[event.ticket_id]
        if event.seq <= ticket["last_seq"]:
            continue
        ticket["last_seq"] = event.seq
        changed.add(event.ticket_id)
        applied += 1
        apply(ticket, event)
    save_ticket_rows(conn, table, [tickets[t] for t in sorted(changed)])
    return applied


def save_ticket_rows(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Write back rows read with :func:`lock_ticket_rows`."""
    if not rows:
        return
    names = list(rows[0])
    bulk.insert(conn, table, names, [[row[c] for c in names] for row in rows],
                bulk.OnConflict(("ticket_id",), tuple(c for c in names if c != "ticket_id")))


def fold(conn: Connection, batch: Sequence[tuple[Offset, TicketEvent | None]],
         now: datetime) -> int:
    """Fold ``batch`` into the workloads (in the caller's transaction); returns how many
    events were new to it."""
    deltas: dict[str, _Delta] = {}
    applied = fold_per_ticket(conn, workload_tickets, {"agent_id": None, "is_open": True},
                              batch, lambda ticket, event: _apply(ticket, event, deltas))
    _add(conn, deltas)
    return applied


def _apply(ticket: dict[str, Any], event: TicketEvent, deltas: dict[str, _Delta]) -> None:
    agent = ticket["agent_id"]
    at = event.occurred_at
    if type(event) is TicketAssigned:
        new = event.agent_id
        if new == agent:
            return
        if agent is not None:
            d = deltas.setdefault(agent, _Delta())
            d.open_tickets -= ticket["is_open"]
            d.touch(at)
        if new is not None:
            d = deltas.setdefault(new, _Delta())
            d.open_tickets += ticket["is_open"]
            d.assigned_total += 1
            d.last_assigned_at = at if d.last_assigned_at is None else max(
                d.last_assigned_at, at)
            d.touch(at)
        ticket["agent_id"] = new
        return
    closing = closes(event)
    if closing is None or closing != ticket["is_open"]:
        return  # not about open/closed, or already so
    ticket["is_open"] = not closing
    if agent is not None:
        d = deltas.setdefault(agent, _Delta())
        d.open_tickets += -1 if closing else 1
        d.closed_total += 1 if closing else 0
        d.touch(at)


def _add(conn: Connection, deltas: dict[str, _Delta]) -> None:
    """Add the deltas to the agents' rows (creating them), in agent order."""
    if not deltas:
        return
    conn.execute(_adding(conn.dialect.name), [
        {"agent_id": agent, "open_tickets": d.open_tickets,
         "assigned_total": d.assigned_total, "closed_total": d.closed_total,
         "last_assigned_at": d.last_assigned_at, "updated_at": d.updated_at}
        for agent, d in sorted(deltas.items())])


@cache
def _adding(dialect_name: str) -> Insert:
    """:func:`_add`'s statement (built once per dialect)."""
    t = agent_workloads
    stmt = bulk.dialect_insert(dialect_name, t)
    ex = stmt.excluded

    def later(column: str) -> Any:
        mine, theirs = getattr(t.c, column), getattr(ex, column)
        return case((theirs.is_(None), mine), (mine.is_(None), theirs),
                    (theirs > mine, theirs), else_=mine)

    return stmt.on_conflict_do_update(index_elements=["agent_id"], set_={
        "open_tickets": t.c.open_tickets + ex.open_tickets,
        "assigned_total": t.c.assigned_total + ex.assigned_total,
        "closed_total": t.c.closed_total + ex.closed_total,
        "last_assigned_at": later("last_assigned_at"),
        "updated_at": later("updated_at"),
    })


def _utc(row: dict[str, Any]) -> dict[str, Any]:
    """SQLite hands back naive datetimes; the projections store UTC."""
    for k, v in row.items():
        if isinstance(v, datetime) and v.tzinfo is None:
            row[k] = v.replace(tzinfo=UTC)
    return row

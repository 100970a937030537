"""``telecase desk``: what people do with the desk.

The Kafka runtime's desk store is :class:`streams.runtime.kafka.desk_store.SqlDeskStore`
(re-exported here with its ``desk_state`` table for older imports).

- Requests (``telecase desk claim | reassign | availability``) become a
  :class:`~streams.schema.commands.DeskRequest` in ``desk.requests``. Kafka: appended to the
  cluster. Embedded: appended to ``<data dir>/log.sqlite``; while ``telecase run`` holds that
  log (it locks it), the request goes to ``<data dir>/desk-inbox.sqlite`` instead, and the
  running desk moves it into ``desk.requests`` within a second (:func:`drain_inbox`). A crash
  between that append and the inbox delete appends it again; the desk drops a request id it
  has seen.
- ``telecase desk show``: agents' loads and availability, and the waiting tickets, from the
  state the desk saved last (read-only; beside a running desk).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import getpass
import sqlite3
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import structlog
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import DatabaseError, OperationalError

from streams.assignment.choose import availability as availability_of
from streams.assignment.policy import AssignmentPolicy
from streams.runtime.bus import Outgoing
from streams.runtime.desk import STATE_KEY, STATE_SPACE, DeskSnapshot, load_snapshot
from streams.runtime.embedded.log import EmbeddedLog, LogUnavailableError
from streams.runtime.kafka.desk_store import SqlDeskStore, desk_state, saved_in_database
from streams.runtime.topics import TopicNames
from streams.schema.commands import DeskRequest
from streams.schema.ticket_requests import TicketRequest
from telecase.bootstrap.runtime import (
    embedded_log_path,
    open_bus,
    open_embedded_log,
    projection_engine,
    topic_names,
)
from telecase.errors import TelecaseError
from telecase.settings import RuntimeKind, Settings

log = structlog.get_logger("telecase.ops.desk")
Runtime = RuntimeKind | str
"""A runtime as callers name it (parsed once with ``RuntimeKind.parse``)."""
Action = Literal["claim", "reassign", "availability"]
INBOX = "desk-inbox.sqlite"
__all__ = ["SqlDeskStore", "desk_state"]  # moved to streams.runtime.kafka.desk_store


class DeskError(TelecaseError):
    """A desk command cannot be carried out; the message says why and what to do."""


# ----------------------------------------------------------------------------- requests


def new_request(action: Action, *, ticket_id: str | None = None, agent_id: str | None = None,
                availability: Literal["available", "away", "offline"] | None = None,
                reason: str = "", requested_by: str | None = None,
                at: datetime | None = None) -> DeskRequest:
    if requested_by is None:
        try:
            requested_by = getpass.getuser()
        except (KeyError, OSError):
            requested_by = "cli"
    return DeskRequest(request_id=f"req-{uuid.uuid4().hex}", action=action, ticket_id=ticket_id,
                       agent_id=agent_id, availability=availability, reason=reason,
                       requested_by=requested_by, at=at or datetime.now(UTC))


def check_request(request: DeskRequest, policy: AssignmentPolicy | None) -> None:
    """Refuse early what the desk could not decide: no policy, or an unknown agent."""
    if policy is None:
        raise DeskError("no assignment policy is configured: set TELECASE_POLICY_FILE to a "
                        "file with [routing], [queues] and [agents] (see examples/routing.toml)")
    if request.agent_id is not None and request.agent_id not in policy.agents:
        known = ", ".join(policy.agents)
        raise DeskError(f"agent {request.agent_id!r} is not in the assignment policy "
                        f"(agents: {known})")


def _outgoing(request: DeskRequest) -> Outgoing:
    return Outgoing(request.request_id.encode(), request.to_bytes(), partition=0)


async def send_request(settings: Settings, runtime: RuntimeKind | str,
                       request: DeskRequest) -> str:
    """Append the request to ``desk.requests``; what happened, in words."""
    kind = RuntimeKind.parse(runtime)
    names = topic_names(settings)
    try:
        bus = await open_bus(settings, kind)  # the topics made sure of, desk.requests too
    except LogUnavailableError as exc:  # the embedded log, held by a running telecase run?
        path = embedded_log_path(settings)
        if not _in_use(path):
            raise DeskError(str(exc)) from None
        await asyncio.to_thread(Inbox(path.parent / INBOX).put, request)
        return (f"{request.request_id}: telecase run is using {path}; queued for its desk, "
                "which takes it within a second")
    try:
        [offset] = await bus.append(names.desk_requests, [_outgoing(request)])
    finally:
        await bus.close()
    later = "" if kind is RuntimeKind.KAFKA else "; the desk decides it when telecase run runs"
    return f"{request.request_id}: appended to {names.desk_requests} (offset {offset}){later}"


def _in_use(log_path: Path) -> bool:
    """Another process holds the embedded log's lock (a running ``telecase run``)."""
    lock = log_path.with_name(log_path.name + ".lock")
    if not lock.exists():
        return False
    with lock.open("a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
    return False


class Inbox:
    """Requests written while ``telecase run`` holds the log, for its desk to pick up."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE IF NOT EXISTS requests (n INTEGER PRIMARY KEY AUTOINCREMENT, "
                   "request_id TEXT NOT NULL, body BLOB NOT NULL)")
        return db

    def put(self, request: DeskRequest | TicketRequest) -> None:
        db = self._connect()
        try:
            db.execute("INSERT INTO requests (request_id, body) VALUES (?, ?)",
                       (request.request_id, request.to_bytes()))
        finally:
            db.close()

    def take(self) -> list[tuple[int, str, bytes]]:
        if not self.path.exists():
            return []
        db = self._connect()
        try:
            return [(int(n), str(rid), bytes(body)) for n, rid, body in db.execute(
                "SELECT n, request_id, body FROM requests ORDER BY n")]
        finally:
            db.close()

    def remove(self, upto: int) -> None:
        db = self._connect()
        try:
            db.execute("DELETE FROM requests WHERE n <= ?", (upto,))
        finally:
            db.close()


async def drain_inbox(log_: EmbeddedLog, names: TopicNames, data_dir: Path,
                      stop: asyncio.Event, every: float = 0.5) -> None:
    """Move requests from the inbox into ``desk.requests`` until ``stop`` (and once more
    then): appended first, removed from the inbox after."""
    inbox = Inbox(data_dir / INBOX)
    while True:
        rows = await asyncio.to_thread(inbox.take)
        if rows:
            await log_.append(names.desk_requests, [
                Outgoing(rid.encode(), body, partition=0) for _, rid, body in rows])
            await asyncio.to_thread(inbox.remove, rows[-1][0])
            log.info("desk.inbox.moved", count=len(rows))
        if stop.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


# ----------------------------------------------------------------------------- show


async def saved_snapshot(settings: Settings, runtime: RuntimeKind | str,
                         ) -> DeskSnapshot | None:
    """What the desk saved last (``None``: nothing yet). Read-only."""
    if RuntimeKind.parse(runtime) is RuntimeKind.KAFKA:
        engine = projection_engine(settings, RuntimeKind.KAFKA)
        try:
            return await asyncio.to_thread(saved_in_database, engine, topic_names(settings))
        except (OperationalError, DatabaseError) as exc:
            if "desk_state" in str(exc):
                return None  # the desk never ran here
            raise DeskError(f"the database cannot be read: {exc.orig or exc}") from None
        finally:
            engine.dispose()
    path = embedded_log_path(settings)
    if not path.is_file():
        return None
    try:
        log_ = await open_embedded_log(settings, read_only=True)
    except LogUnavailableError as exc:
        raise DeskError(str(exc)) from None
    try:
        raw_state = log_.get_state(STATE_SPACE, STATE_KEY)
    finally:
        await log_.close()
    return None if raw_state is None else load_snapshot(raw_state)


def render(snapshot: DeskSnapshot, policy: AssignmentPolicy | None, console: Console) -> None:
    desk = snapshot.desk
    agents = Table(title="Agents")
    for column in ("agent", "name", "availability", "open / capacity", "queues", "tickets"):
        agents.add_column(column)
    ids = list(policy.agents) if policy is not None else []
    ids += sorted(a for a in desk.agents if a not in ids)
    for agent_id in ids:
        config = policy.agents.get(agent_id) if policy is not None else None
        seat = desk.agents.get(agent_id)
        tickets = sorted(seat.tickets) if seat is not None else []
        status: str = (availability_of(policy, desk, agent_id)
                       if policy is not None and config is not None
                       else (seat.availability if seat is not None else None)
                       or "not in the policy")
        capacity = str(config.capacity) if config is not None else "-"
        agents.add_row(agent_id, config.name if config else "", status,
                       f"{len(tickets)} / {capacity}",
                       ", ".join(config.queues) if config else "", ", ".join(tickets))
    console.print(agents)
    waiting = Table(title="Waiting tickets (nearest deadline first)")
    for column in ("ticket", "queue", "deadline", "waiting since"):
        waiting.add_column(column)
    for ticket_id in desk.waiting():
        ticket = desk.tickets[ticket_id]
        waiting.add_row(ticket_id, ticket.queue,
                        ticket.deadline.isoformat() if ticket.deadline else "-",
                        ticket.routed_at.isoformat())
    console.print(waiting)
    external = sum(1 for t in desk.tickets.values() if t.external_owner is not None)
    console.print(f"open tickets: {len(desk.tickets)}, waiting: {len(desk.waiting())}, "
                  f"owned outside the policy: {external}, opened and not routed yet: "
                  f"{len(snapshot.pending)}")

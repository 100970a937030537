"""The audit trail on the command line (``telecase audit ticket``, ``telecase audit agent``,
``telecase audit key-hash``; the commands are :mod:`telecase.cli.audit`).

The CLI runs as the local operator, that is as an admin: it sees every ticket, but prints
personal data (message bodies, customers' names) only when asked (``--show-personal-data``),
so an audit printed on a shared screen or pasted into a ticket leaks nothing by default.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from projections.audit_queries import (
    PERSONAL_KEYS,
    AuditEntry,
    TicketNotFound,
    Viewer,
    agent_activity,
    parse_instant,
    ticket_history,
)
from telecase.bootstrap.projections import open_projections
from telecase.errors import CommandError
from telecase.settings import RuntimeKind, Settings
from telecase.web.audit_api import key_sha256


@contextmanager
def projections(settings: Settings, runtime: RuntimeKind) -> Iterator[Engine]:
    """:func:`open_projections`, disposed of on the way out."""
    engine = open_projections(settings, runtime)
    try:
        yield engine
    finally:
        engine.dispose()


def ticket_entries(engine: Engine, ticket_id: str, viewer: Viewer) -> list[AuditEntry]:
    try:
        with engine.connect() as conn:
            return ticket_history(conn, ticket_id, viewer)
    except TicketNotFound:
        raise CommandError(f"no ticket {ticket_id} in the audit trail") from None
    except SQLAlchemyError as exc:
        raise CommandError(f"cannot read the audit trail: {type(exc).__name__}: "
                            f"{str(exc).splitlines()[0]}") from None


def agent_entries(engine: Engine, agent_id: str, since: str, until: str | None,
                  viewer: Viewer, now: datetime | None = None,
                  ) -> tuple[datetime, datetime | None, list[AuditEntry]]:
    now = now or datetime.now(UTC)
    try:
        start = parse_instant(since, now)
        end = None if until is None else parse_instant(until, now)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    try:
        with engine.connect() as conn:
            return start, end, agent_activity(conn, agent_id, start, end, viewer)
    except SQLAlchemyError as exc:
        raise CommandError(f"cannot read the audit trail: {type(exc).__name__}: "
                            f"{str(exc).splitlines()[0]}") from None


def print_json(payload: dict[str, Any], entries: Sequence[AuditEntry], out: Any) -> None:
    json.dump({**payload, "entries": [e.as_json() for e in entries]}, out, indent=2)
    out.write("\n")


def render(entries: Sequence[AuditEntry], console: Console, *, title: str,
           with_ticket: bool, show_personal_data: bool) -> None:
    """The entries as a table: time, seq, actor, action, reason, before → after (and the
    message text when personal data is shown)."""
    if not entries:
        console.print(f"{title}: no audit rows")
        return
    table = Table(title=title, show_lines=False)
    table.add_column("time (UTC)", no_wrap=True)
    if with_ticket:
        table.add_column("ticket", no_wrap=True)
    table.add_column("seq", justify="right")
    table.add_column("actor")
    table.add_column("action")
    table.add_column("reason")
    table.add_column("before → after")
    if show_personal_data:
        table.add_column("message")
    for entry in entries:
        cells: list[str | Text] = [entry.occurred_at.strftime("%Y-%m-%d %H:%M:%S")]
        if with_ticket:
            cells.append(entry.ticket_id)
        cells += [str(entry.seq), Text(_actor(entry)), Text(entry.action),
                  Text(entry.reason or ""), Text(_change(_marked(entry.before, entry.redacted),
                                                         _marked(entry.after, entry.redacted)))]
        if show_personal_data:
            cells.append(Text(entry.body or ""))
        table.add_row(*cells)
    console.print(table)
    if not show_personal_data and any(e.redacted for e in entries):
        console.print("personal data withheld (--show-personal-data shows it)")


def _actor(entry: AuditEntry) -> str:
    who = entry.actor_name or entry.actor_id
    return f"{entry.actor_kind} {who}" if who else entry.actor_kind


def _change(before: Any, after: Any) -> str:
    if not isinstance(before, dict) and not isinstance(after, dict):
        if before is None and after is None:
            return ""
        return f"{_show(before)} → {_show(after)}"
    old = before if isinstance(before, dict) else {}
    new = after if isinstance(after, dict) else {}
    keys = list(dict.fromkeys([*old, *new]))
    return "\n".join(f"{key}: {_show(old.get(key))} → {_show(new.get(key))}" for key in keys)


WITHHELD = "(withheld)"


def _marked(value: Any, redacted: bool) -> Any:
    """For display: personal values the query withheld (``None``) say so, not "nothing"."""
    if not redacted:
        return value
    if isinstance(value, dict):
        return {key: WITHHELD if key in PERSONAL_KEYS and item is None
                else _marked(item, redacted) for key, item in value.items()}
    if isinstance(value, list):
        return [_marked(item, redacted) for item in value]
    return value


def _show(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str, ensure_ascii=False)


def read_key(text: str) -> str:
    """The key from stdin: its first line, without surrounding whitespace."""
    lines = text.strip().splitlines()
    if not lines or not lines[0].strip():
        raise CommandError("no key on stdin (for example: openssl rand -hex 32 | tee key | "
                            "telecase audit key-hash)")
    return key_sha256(lines[0].strip())

"""Simulated customers and the live cases table, shared by both demos."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.table import Table

from simulators.telegram import SimulatorDriver


@dataclass
class DemoSummary:
    tickets: int = 0
    messages: int = 0
    updates_sent: int = 0
    synced: int | None = None
    """Ticket events the Salesforce sync applied (``None``: no Salesforce configured)."""
    errors: list[str] = field(default_factory=list)
    total_tickets: int | None = None
    """Over the whole data directory, every run (``tickets``, ``messages``: this run's);
    ``None`` where the demo does not tell them apart."""
    total_messages: int | None = None
    dead_letters_waiting: int = 0


async def customers(tg: SimulatorDriver, summary: DemoSummary, stop: asyncio.Event,
                    rng: random.Random, *, forum: dict[str, Any] | None = None,
                    topics: Sequence[tuple[int, int, int]] = (), known: int = 0) -> None:
    """Customers writing in the forum ``forum`` (a new one: ``None``), continuing ``topics``
    (user, thread, last message) with ``known`` prospects already made (a resumed demo)."""
    forum = forum or await tg.create_forum("Sales desk")
    open_topics: list[tuple[int, int, int]] = list(topics)  # (user, thread, last message)
    n = known
    while not stop.is_set():
        roll = rng.random()
        try:
            if not open_topics or roll < 0.2:
                n += 1
                user = await tg.create_user(f"Prospect {n}", username=f"prospect{n}")
                topic = await tg.open_topic(forum["id"], user["id"],
                                            rng.choice(["Pricing", "Demo request", "Integration",
                                                        "Onboarding", "Security review"])
                                            + f" #{n}")
                said = await tg.write(forum["id"], user["id"], "Hello, quick question",
                                      topic.thread_id)
                open_topics.append((user["id"], topic.thread_id or 0, said.message_id))
                summary.updates_sent += 2
            elif roll < 0.8:
                user_id, thread, _ = rng.choice(open_topics)
                said = await tg.write(forum["id"], user_id, "Any update on this?", thread)
                open_topics = [(u, t, said.message_id if t == thread else m)
                               for u, t, m in open_topics]
                summary.updates_sent += 1
            elif roll < 0.9:
                user_id, thread, last = rng.choice(open_topics)
                await tg.edit(forum["id"], last,
                              f"Any update on this? (edit {summary.updates_sent})")
                summary.updates_sent += 1
            else:
                user_id, thread, _ = open_topics.pop(rng.randrange(len(open_topics)))
                await tg.close_topic(forum["id"], thread, user_id)
                summary.updates_sent += 1
        except Exception as exc:  # shown in the summary; the demo goes on
            summary.errors.append(f"{type(exc).__name__}: {exc}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=rng.uniform(0.2, 0.8))


def cases_table(rows: Sequence[Any], where: str = "projection") -> Table:
    table = Table(title=f"telecase: tickets ({where})", expand=True)
    for col in ("ticket", "subject", "customer", "status", "msgs", "replies", "case", "agent",
                "SLA", "last message"):
        table.add_column(col)
    for r in rows[-20:]:
        table.add_row(r.ticket_id, r.subject, r.customer_username or "-", r.status,
                      str(r.message_count), str(r.agent_reply_count),
                      r.salesforce_case_number or "-", _agent(r), _sla(r),
                      r.last_message_at.strftime("%H:%M:%S") if r.last_message_at else "-")
    return table


def _agent(row: Any) -> str:
    if row.agent_id:
        return str(row.agent_id)
    return "waiting" if row.queue and row.status == "open" else "-"


_SLA_STYLE = {"running": "", "warned": "yellow", "breached": "bold red", "met": "green"}


def _sla(row: Any) -> str:
    """Tier and state, with the escalation level reached (``hot breached ^1``)."""
    if row.sla_state is None:
        return "-"
    text = f"{row.sla_tier} {row.sla_state}"
    if row.escalation_level:
        text += f" ^{row.escalation_level}"
    style = _SLA_STYLE.get(row.sla_state, "")
    return f"[{style}]{text}[/{style}]" if style else text

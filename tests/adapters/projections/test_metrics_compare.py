"""``telecase metrics compare`` (issue 17 item 5): on a generated log folded into the ``cases``
projection, the figures of two periods, with and without ``--pilot``, are what a hand
computation from the generator's own record of each ticket gives."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import mean, median
from typing import Any

from projections.cases import Offset, apply_batch
from projections.db import create_schema, make_engine
from projections.metrics_compare import Figures, Period, compare
from streams.schema.events import (
    Actor,
    Agent,
    AgentReplied,
    Customer,
    SlaBreached,
    SlaEscalated,
    SourceRef,
    TicketEvent,
    TicketOpened,
    TopicClosed,
)

START = datetime(2026, 10, 1, tzinfo=UTC)
CHATS = (-100, -200)


@dataclass
class Truth:
    chat: int
    opened: datetime
    reply_after: float | None  # seconds
    close_after: float | None
    escalated: bool
    breached: bool


def generate(seed: int = 17, n: int = 120) -> tuple[list[Truth], list[TicketEvent]]:
    rng = random.Random(seed)
    truths: list[Truth] = []
    events: list[TicketEvent] = []
    for i in range(n):
        chat = rng.choice(CHATS)
        opened = START + timedelta(minutes=rng.randrange(0, 20 * 24 * 60))
        reply = rng.choice([None, rng.randrange(30, 7200)])
        close = None if reply is None or rng.random() < 0.3 else reply + rng.randrange(60, 90000)
        truth = Truth(chat, opened, reply, close, rng.random() < 0.2, rng.random() < 0.25)
        truths.append(truth)
        base = _numbering(f"tg:{chat}:t{i}")

        sla = {"tier": "general", "team": "support", "reason": "generated"}
        events.append(TicketOpened(
            channel="forum_topic", chat_id=chat, thread_id=i + 10, thread_key=f"k{i}",
            subject=f"s{i}", subject_message_id=i + 10,
            customer=Customer(telegram_user_id=1000 + i, first_name="C"),
            customer_message_id=i + 10, **base(opened)))
        if truth.breached:
            events.append(SlaBreached(signal="fr:b", clock="first_response",
                                      target=timedelta(minutes=30),
                                      **sla, **base(opened + timedelta(minutes=30), "clock")))
        if truth.escalated:
            events.append(SlaEscalated(signal="fr:e1", level=1, escalate_to="lead", actions=(),
                                       **sla, **base(opened + timedelta(minutes=31), "clock")))
        if reply is not None:
            for extra in (0, 600):  # a second reply does not move the first response
                events.append(AgentReplied(
                    via="telegram", message_id=5000 + i + extra, chat_id=chat,
                    thread_id=i + 10, text="hi", agent=Agent(telegram_user_id=7),
                    **base(opened + timedelta(seconds=reply + extra))))
        if close is not None:
            events.append(TopicClosed(message_id=9000 + i,
                                      **base(opened + timedelta(seconds=close))))
    return truths, events


def _numbering(ticket: str) -> Any:
    """The common fields of a ticket's next event (seq 1, 2, ...)."""
    seq = 0

    def base(at: datetime, kind: str = "telegram") -> dict[str, Any]:
        nonlocal seq
        seq += 1
        return {"event_id": f"{ticket}#{seq}", "ticket_id": ticket, "seq": seq,
                "occurred_at": at, "recorded_at": at, "source": SourceRef(kind=kind),
                "actor": Actor(kind="customer")}
    return base


def by_hand(truths: list[Truth], start: datetime, end: datetime,
            pilot: int | None) -> Figures:
    chosen = [t for t in truths if start <= t.opened < end and pilot in (None, t.chat)]
    frt = [t.reply_after for t in chosen if t.reply_after is not None]
    res = [t.close_after for t in chosen if t.close_after is not None]
    return Figures(len(chosen), len(frt), mean(frt) if frt else None,
                   median(frt) if frt else None, len(res), mean(res) if res else None,
                   median(res) if res else None, sum(t.escalated for t in chosen),
                   sum(t.breached for t in chosen))


def test_compare_gives_the_hand_computed_figures(tmp_path: Path) -> None:
    truths, events = generate()
    engine = make_engine(f"sqlite:///{tmp_path / 'p.sqlite'}")
    create_schema(engine)
    batch = [(Offset("ticket.events", 0, i), e) for i, e in enumerate(events)]
    with engine.begin() as conn:
        apply_batch(conn, batch, START)
    rollout = START + timedelta(days=10)
    before, after = Period(START, rollout), Period(rollout, rollout + timedelta(days=10))
    with engine.connect() as conn:
        for pilot in (None, CHATS[0]):
            old, new = compare(conn, before, after, pilot=pilot)
            assert old == by_hand(truths, START, rollout, pilot), pilot
            assert new == by_hand(truths, rollout, after.end, pilot), pilot
            assert old.tickets > 10 and new.tickets > 10 and old.responded > 0
    engine.dispose()


def test_the_command_prints_both_periods(tmp_path: Path, monkeypatch: Any) -> None:
    import json

    from typer.testing import CliRunner

    from telecase.cli.main import app

    truths, events = generate()
    url = f"sqlite:///{tmp_path / 'p.sqlite'}"
    engine = make_engine(url)
    create_schema(engine)
    with engine.begin() as conn:
        apply_batch(conn, [(Offset("ticket.events", 0, i), e) for i, e in enumerate(events)],
                    START)
    engine.dispose()
    monkeypatch.setenv("TELECASE_DATABASE_URL", url)
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    answer = CliRunner().invoke(app, ["metrics", "compare", "--before", "2026-10-01",
                                      "--after", "2026-10-11", "--pilot", str(CHATS[1]),
                                      "--runtime", "embedded", "--json"])
    assert answer.exit_code == 0, answer.output
    got = json.loads(answer.output)
    rollout = START + timedelta(days=10)
    want = by_hand(truths, rollout, rollout + timedelta(days=10), CHATS[1])
    assert {k: got["after"][k] for k in want.as_dict()} == want.as_dict()
    assert got["before"]["tickets"] == by_hand(truths, START, rollout, CHATS[1]).tickets
    table = CliRunner().invoke(app, ["metrics", "compare", "--before", "2026-10-01",
                                     "--after", "2026-10-11", "--runtime", "embedded"])
    assert table.exit_code == 0 and "first response, median (s)" in table.output

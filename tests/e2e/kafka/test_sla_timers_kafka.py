"""SLA timers on real Kafka: a worker holding timers is killed, another takes its partitions
over, and every timer fires exactly once (the ones that came due while nobody held them too)."""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from streams.schema.events import TicketEvent
from tests.e2e.kafka.conftest import Deployment, SimulatorThread
from tests.e2e.kafka.test_ticket_pipeline import ticket_log
from tests.infra import wait_for

POLICY = """
[sla]
default_tier = "fast"
warn_at = ["50%"]
[sla.teams.desk]
timezone = "UTC"
hours = "24/7"
[sla.tiers.fast]
team = "desk"
first_response = "8s"
resolution = "1h"
[sla.escalation.level1]
first_response_over = "50%"
escalate_to = "queue_manager"
actions = [{ do = "set_case_field", field = "IsEscalated", value = true }]
"""
SIGNALS = {"first_response_warning:0.5", "first_response_breached", "escalation:1"}


def write_in_private_chats(telegram: SimulatorThread, customers: int) -> None:
    """``customers`` prospects each write to the bot in a private chat of their own."""
    async def write(tg: Any) -> None:
        for n in range(customers):
            user = await tg.create_user(f"Prospect {n}")
            chat = await tg.create_private_chat(user["id"])
            await tg.write(chat["id"], user["id"], f"Hello, I need a quote ({n})")

    telegram.drive(write)


def signals(log: dict[str, list[TicketEvent]]) -> Counter[tuple[str, str]]:
    return Counter((t, e.signal) for t, events in log.items() for e in events  # type: ignore[union-attr]
                   if e.type in ("sla.warning", "sla.breached", "sla.escalated"))


def test_killing_the_worker_holding_timers_fires_each_timer_exactly_once(
        deployment: Deployment, telegram: SimulatorThread, tmp_path: Path) -> None:
    dep = deployment
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)
    env = {"TELECASE_POLICY_FILE": str(policy), "TELECASE_SLA_TICK_INTERVAL": "0.2"}
    dep.webhook()
    worker = dep.start("worker", "worker", **env)
    telegram.bot_api("setWebhook", url=dep.webhook_url, secret_token=dep.webhook_secret)
    customers = 8
    write_in_private_chats(telegram, customers)  # eight chats over the four partitions
    wait_for(lambda: sum(e.type == "sla.started" for events in ticket_log(dep).values()
                         for e in events) == customers, 120, what="every ticket's SLA started")
    # The warnings come due 4 s after each message; kill the worker right away, so that some
    # or all of them, and every breach and escalation, are left to the next worker.
    worker.kill()
    # 14 s of downtime on the next worker's clock: every timer is overdue when it starts (the
    # clock is moved, not waited for; nothing fired them meanwhile). One thread a tick: the
    # two or so overdue threads of each partition fire in ticks sent one after another.
    dep.start("worker2", "worker", **env, TELECASE_SLA_CLOCK_OFFSET="14",
              TELECASE_SLA_TICK_MAX_DUE="1")
    wait_for(lambda: set(signals(ticket_log(dep)).values()) == {1}
             and len(signals(ticket_log(dep))) == customers * len(SIGNALS), 120,
             what="every timer fired by the second worker")
    time.sleep(3)  # a doubled firing would show up now
    log = ticket_log(dep)  # also checks: gap-free seq, re-derived events identical
    fired = signals(log)
    assert len(log) == customers
    assert {s for _, s in fired} == SIGNALS
    assert all(count == 1 for count in fired.values()), fired
    for events in log.values():
        opened = events[0].occurred_at
        due = {e.signal: e.occurred_at - opened for e in events  # type: ignore[union-attr]
               if e.type in ("sla.warning", "sla.breached", "sla.escalated")}
        # each stamped with the instant it came due, not when it was fired
        assert due == {"first_response_warning:0.5": timedelta(seconds=4),
                       "first_response_breached": timedelta(seconds=8),
                       "escalation:1": timedelta(seconds=12)}


DESK_POLICY = POLICY.replace(
    'actions = [{ do = "set_case_field", field = "IsEscalated", value = true }]',
    'actions = [{ do = "reassign", to = "next_available_agent" }]') + """
[routing]
default_queue = "sales"
[queues.sales]
strategy = "round_robin"
[agents.ann]
name = "Ann"
salesforce_user_id = "005000000000001AAA"
queues = ["sales"]
capacity = 5
[agents.bo]
name = "Bo"
salesforce_user_id = "005000000000002AAA"
queues = ["sales"]
capacity = 5
"""


def test_tickets_are_routed_assigned_and_reassigned_by_an_escalation_on_kafka(
        deployment: Deployment, telegram: SimulatorThread, tmp_path: Path) -> None:
    """The whole loop as processes: the worker starts the clocks, the desk (its own process)
    routes and assigns through ticket.commands, the worker records it, the level 1 escalation
    comes back to the desk, which gives the ticket to the other agent."""
    dep = deployment
    policy = tmp_path / "policy.toml"
    policy.write_text(DESK_POLICY)
    env = {"TELECASE_POLICY_FILE": str(policy), "TELECASE_SLA_TICK_INTERVAL": "0.2"}
    dep.webhook()
    dep.start("worker", "worker", **env)
    dep.start("desk", "desk", **env)
    telegram.bot_api("setWebhook", url=dep.webhook_url, secret_token=dep.webhook_secret)
    customers = 4
    write_in_private_chats(telegram, customers)

    def assignments() -> dict[str, list[tuple[str | None, str]]]:
        return {t: [(e.agent_id, e.assigned_by) for e in events  # type: ignore[union-attr]
                    if e.type == "ticket.assigned"] for t, events in ticket_log(dep).items()}

    wait_for(lambda: len(assignments()) == customers
             and all(len(a) == 2 for a in assignments().values()), 120,
             what="each ticket assigned, then reassigned by its escalation")
    log = ticket_log(dep)
    for ticket_id, moves in assignments().items():
        (first, by_policy), (second, by_escalation) = moves
        assert (by_policy, by_escalation) == ("policy", "next_agent"), moves
        assert {first, second} == {"ann", "bo"}, moves
        types = [e.type for e in log[ticket_id]]
        assert types.index("ticket.routed") < types.index("ticket.assigned")
        assert types.index("sla.escalated") < len(types) - 1 - types[::-1].index(
            "ticket.assigned")
    firsts = Counter(moves[0][0] for moves in assignments().values())
    assert firsts == {"ann": 2, "bo": 2}  # round robin

"""``telecase sla simulate``: past ticket events replayed under a new policy, read-only.

The composition root of the what-if: it reads the policy files, reads ``ticket.events`` from the
configured runtime without touching anything live, runs :func:`streams.sla.replay.simulate` (and
the baseline, when given) and renders the report.

- embedded: ``<data dir>/log.sqlite`` opened read-only (:meth:`EmbeddedLog.open_read_only`: no
  lock, no writes), so it runs beside ``telecase run``; it sees what was committed when it opened.
- Kafka: a consumer without a group (nothing joins, nothing is committed) assigned every
  partition of ``ticket.events``, reading from the beginning to the end offsets it found at start.

Errors: :class:`SimulateError` (a policy with problems, one line each; no log to read).
"""

from __future__ import annotations

import asyncio
import time
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from streams.assignment.errors import PolicyError as AssignmentPolicyError
from streams.assignment.policy import SECTIONS, AssignmentPolicy
from streams.runtime.embedded.log import LogUnavailableError
from streams.schema.events import TicketEvent, UnknownEventError, decode_event
from streams.sla.errors import PolicyError as SlaPolicyError
from streams.sla.policy import SlaPolicy
from streams.sla.replay import Comparison, SimulationReport, compare, simulate
from telecase.bootstrap.runtime import open_embedded_log, topic_names
from telecase.errors import TelecaseError
from telecase.settings import RuntimeKind, Settings

READ_BATCH = 5000
KAFKA_IDLE_LIMIT = 30.0  # seconds without progress before the Kafka read gives up


class SimulateError(TelecaseError):
    """The what-if cannot run; the message says why, one line per problem."""


@dataclass(frozen=True)
class Policies:
    sla: SlaPolicy
    assignment: AssignmentPolicy | None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SimulateError(f"{path}: cannot read it: {exc.strerror or exc}") from None


def load_policies(policy: Path, routing: Path | None,
                  fallback_assignment: AssignmentPolicy | None = None) -> Policies:
    """The SLA policy of ``policy``; the assignment policy of ``routing``, else of ``policy``
    itself when it has a ``[routing]`` section, else ``fallback_assignment``."""
    text = _read(policy)
    problems: list[str] = []
    sla: SlaPolicy | None = None
    try:
        sla = SlaPolicy.from_toml(text)
    except SlaPolicyError as exc:
        problems += [f"{policy}: {p}" for p in exc.problems]
    assignment = fallback_assignment
    source, source_text = (routing, _read(routing)) if routing is not None else (policy, text)
    try:
        has_desk = any(section in tomllib.loads(text) for section in SECTIONS)
    except tomllib.TOMLDecodeError:
        has_desk = False  # already reported by the SLA policy
    if routing is not None or has_desk:
        try:
            assignment = AssignmentPolicy.from_toml(source_text)
        except AssignmentPolicyError as exc:
            problems += [f"{source}: {p}" for p in exc.problems]
    if problems or sla is None:
        raise SimulateError(f"invalid policy, {len(problems)} problem(s):\n"
                            + "\n".join(f"  {p}" for p in problems))
    return Policies(sla, assignment)


@dataclass
class Loaded:
    events: list[TicketEvent]
    undecodable: int
    end_offsets: dict[int, int]


def _decode(values: Iterable[bytes], loaded: Loaded) -> None:
    for value in values:
        try:
            loaded.events.append(decode_event(value))
        except (UnknownEventError, ValueError):
            loaded.undecodable += 1  # counted and shown: never silently


async def read_embedded(settings: Settings) -> Loaded:
    topic = topic_names(settings).ticket_events
    try:
        log = await open_embedded_log(settings, read_only=True)
    except LogUnavailableError as exc:
        raise SimulateError(str(exc)) from None
    loaded = Loaded([], 0, {})
    try:
        for partition in range(await log.partitions(topic)):
            end = loaded.end_offsets[partition] = await log.end_offset(topic, partition)
            offset = 0
            while offset < end:
                records = await log.read(topic, partition, offset, READ_BATCH)
                if not records:
                    break
                _decode((r.value for r in records), loaded)
                offset = records[-1].offset + 1
    except LogUnavailableError as exc:
        raise SimulateError(str(exc)) from None
    finally:
        await log.close()
    return loaded


async def read_kafka(settings: Settings) -> Loaded:
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import KafkaError

    topic = topic_names(settings).ticket_events
    servers = settings.kafka_bootstrap_servers
    admin = AIOKafkaAdminClient(bootstrap_servers=servers)
    try:
        await admin.start()
        described = ([] if topic not in await admin.list_topics()
                     else await admin.describe_topics([topic]))
    except KafkaError as exc:
        raise SimulateError(f"Kafka at {servers}: {exc}") from None
    finally:
        await admin.close()
    partitions = sorted(p["partition"] for d in described for p in d["partitions"])
    if not partitions:
        raise SimulateError(f"Kafka at {servers} has no topic {topic}: nothing to simulate")
    consumer = AIOKafkaConsumer(bootstrap_servers=servers, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                max_poll_records=READ_BATCH)
    loaded = Loaded([], 0, {})
    try:
        await consumer.start()
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        ends = {tp: int(o) for tp, o in (await consumer.end_offsets(tps)).items()}
        loaded.end_offsets = {tp.partition: o for tp, o in ends.items()}
        await consumer.seek_to_beginning(*tps)
        remaining = {tp for tp in tps if await consumer.position(tp) < ends[tp]}
        progress = time.monotonic()
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, records in batch.items():
                _decode((r.value for r in records if r.offset < ends[tp] and r.value), loaded)
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
            if batch:
                progress = time.monotonic()
            elif time.monotonic() - progress > KAFKA_IDLE_LIMIT:
                raise SimulateError(f"reading {topic} stalled for {KAFKA_IDLE_LIMIT:g}s "
                                    f"before its end offsets")
    except KafkaError as exc:
        raise SimulateError(f"Kafka at {servers}: {exc}") from None
    finally:
        await consumer.stop()
    return loaded


def read_events(settings: Settings, runtime: RuntimeKind | str) -> Loaded:
    kind = RuntimeKind.parse(runtime)
    return asyncio.run(read_kafka(settings) if kind is RuntimeKind.KAFKA
                       else read_embedded(settings))


@dataclass(frozen=True)
class Outcome:
    report: SimulationReport
    baseline: SimulationReport | None
    comparison: Comparison | None
    loaded: Loaded
    runtime: str

    def as_json(self, details: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"runtime": self.runtime,
                               "undecodable_events": self.loaded.undecodable,
                               "report": self.report.summary()}
        if self.baseline is not None and self.comparison is not None:
            out["baseline"] = self.baseline.summary()
            out["differences"] = self.comparison.summary()
            if details:
                out["differences_tickets"] = {k: list(getattr(self.comparison, k))
                                              for k in self.comparison.summary()}
        if details:
            out["tickets"] = [_ticket_json(t) for t in self.report.details]
        return out


def _ticket_json(t: Any) -> dict[str, Any]:
    return {"ticket_id": t.ticket_id, "tier": t.tier, "team": t.team,
            "tier_reason": t.tier_reason, "opened_at": t.opened_at.isoformat(),
            "closed": t.closed,
            "first_response_at": t.first_response_at.isoformat() if t.first_response_at
            else None,
            "first_response_breached": t.first_response_breached,
            "resolution_breached": t.resolution_breached, "escalations": list(t.escalations),
            "signals": [[key, at.isoformat()] for key, at in t.signals], "queue": t.queue,
            "agent": t.agent, "simulated_owner": t.simulated_owner,
            "actual_owner": t.actual_owner, "assigned_differently": t.assigned_differently}


def run(settings: Settings, *, policy: Path, routing: Path | None, baseline: Path | None,
        runtime: RuntimeKind | str, until: datetime) -> Outcome:
    new = load_policies(policy, routing)
    old = (load_policies(baseline, None, fallback_assignment=new.assignment)
           if baseline is not None else None)
    loaded = read_events(settings, runtime)
    report = simulate(loaded.events, new.sla, new.assignment, until)
    base = (simulate(loaded.events, old.sla, old.assignment, until)
            if old is not None else None)
    return Outcome(report, base, compare(base, report) if base is not None else None, loaded,
                   runtime)


# ----------------------------------------------------------------------------- rendering


def render(outcome: Outcome, console: Console, details: bool) -> None:
    report, base = outcome.report, outcome.baseline
    table = Table(title=f"telecase sla simulate ({outcome.runtime} log, as of "
                        f"{report.until.isoformat(timespec='seconds')})")
    table.add_column("")
    if base is not None:
        table.add_column("baseline", justify="right")
    table.add_column("new policy", justify="right")

    def row(name: str, value: Any, old: Any = None) -> None:
        table.add_row(name, *([str(old)] if base is not None else []), str(value))

    for name, get in _ROWS:
        row(name, get(report), get(base) if base is not None else None)
    console.print(table)
    if outcome.loaded.undecodable:
        console.print(f"[yellow]{outcome.loaded.undecodable} events this build cannot read "
                      "were left out[/yellow]")
    if outcome.comparison is not None:
        diff = Table(title="new policy vs baseline (tickets)")
        diff.add_column("")
        diff.add_column("tickets", justify="right")
        for name, count in outcome.comparison.summary().items():
            diff.add_row(name.replace("_", " "), str(count))
        console.print(diff)
    if details:
        per = Table(title="tickets under the new policy")
        for col in ("ticket", "tier", "signals", "queue", "owner", "actual owner"):
            per.add_column(col)
        for t in report.details:
            per.add_row(t.ticket_id, t.tier, ", ".join(k for k, _ in t.signals) or "-",
                        t.queue or "-", t.agent or t.simulated_owner or "-",
                        (t.actual_owner or "-") + (" (differs)" if t.assigned_differently
                                                   else ""))
        console.print(per)


def _assign(name: str) -> Any:
    return lambda r: "-" if r.assignment is None else getattr(r.assignment, name)


_ROWS: list[tuple[str, Any]] = [
    ("tickets", lambda r: r.tickets),
    ("events replayed", lambda r: r.events),
    ("first response: warned", lambda r: r.first_response_warnings),
    ("first response: breached", lambda r: r.first_response_breaches),
    ("first response: met on time / late",
     lambda r: f"{r.first_responses_on_time} / {r.first_responses_late}"),
    ("resolution: warned", lambda r: r.resolution_warnings),
    ("resolution: breached", lambda r: r.resolution_breaches),
    ("resolved", lambda r: r.resolved),
    *[(f"escalated: level {n}", lambda r, n=n: r.escalations.get(n, 0)) for n in (1, 2, 3)],
    ("tiers", lambda r: ", ".join(f"{k} {v}" for k, v in sorted(r.tiers.items())) or "-"),
    ("routed (per queue)", lambda r: "-" if r.assignment is None else ", ".join(
        f"{k} {v}" for k, v in sorted(r.assignment.routed.items())) or "-"),
    ("owners (per agent)", lambda r: "-" if r.assignment is None else ", ".join(
        f"{k} {v}" for k, v in sorted(r.assignment.owners.items())) or "-"),
    ("waiting for capacity", _assign("waiting")),
    ("reassigned by escalation", _assign("reassigned_by_escalation")),
    ("assigned differently (of compared)", lambda r: "-" if r.assignment is None else
     f"{r.assignment.assigned_differently} of {r.assignment.compared}"),
    ("no actual owner", _assign("no_actual_owner")),
]

"""Reconciliation with Salesforce: the log's view of every ticket against its Case, and an
explicit correction for each drift the log can take in.

The log's view of a ticket is its events folded with the ticket core (``evolve_ticket``): its
status, the Case it is linked to, the Case Status and Owner last taken in from Salesforce, and
the owner the desk asked for. Salesforce's view is one SOQL query over the Cases that carry a
``Telecase_Ticket_Id__c``. For each ticket, :func:`compare` finds:

- ``case_unlinked``: Salesforce has the ticket's Case but the log never learnt its id (a lost
  link-back). Correction: a ``case_linked`` change.
- ``owner_changed`` / ``status_changed``: the Case's Owner or Status is neither what the log last
  took in nor what telecase asked for, and changed after the log last heard of the ticket: an
  agent changed it and the poller missed it (it judges a Case by its *last* modifier, so an
  agent's change followed by telecase's own write within one poll is not seen). Correction: a
  ``case_updated`` change with the Case as it is now.
- ``salesforce_behind``: Salesforce still shows an older owner or status than the log asked for
  (a write that was dead-lettered, or not made yet). Reported, not corrected here: the sync's
  dead letters say why, and a re-sync writes it.
- ``case_missing``: the log links the ticket to a Case Salesforce no longer has (deleted).
  Reported.
- ``unknown_ticket``: a Case names a ticket the log does not have. Reported.

Corrections are :class:`~streams.schema.salesforce.SalesforceChange` records whose ``change_id``
starts with ``reconcile:``, appended to ``salesforce.changes`` like the poller's, so the worker
turns each into ordinary ticket events (``salesforce.case_linked``, ``case.status_changed``,
``case.owner_changed``) whose ``source.change_id`` says they came from reconciliation: the audit
trail shows the repair as what it is. The worker records only what differs, so running
reconciliation twice, or beside the poller, corrects once.

With a Telegram bot configured, each open forum ticket's topic is compared too
(:mod:`connectors.telegram.topic_check`): a topic closed while its ticket is open is reopened
and recorded, a deleted one is recorded; those corrections go to ``telegram.updates``. A
``--dry-run`` does not probe Telegram: the only way to read a topic's state is the call that
repairs it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import structlog
from prometheus_client import Counter

from connectors.salesforce.change_poller import id15, parse_datetime
from connectors.telegram.topic_check import TopicFinding, TopicProbe
from streams.core.ticket import TicketState, evolve_ticket
from streams.runtime.bus import Bus
from streams.schema.envelope import TopicChecked
from streams.schema.events import TicketEvent, TicketOpened, decode_event
from streams.schema.salesforce import SalesforceChange

log = structlog.get_logger("telecase.reconcile")
DRIFTS = Counter("telecase_reconcile_drifts_total", "Drifts found by reconciliation", ["kind"])
CORRECTIONS = Counter("telecase_reconcile_corrections_total",
                      "Correction records appended by reconciliation", ["kind"])

DriftKind = Literal["case_unlinked", "owner_changed", "status_changed", "salesforce_behind",
                    "case_missing", "unknown_ticket", "topic_closed", "topic_missing",
                    "chat_unreachable", "topic_unchecked"]
CASE_QUERY = ("SELECT Id, CaseNumber, Telecase_Ticket_Id__c, Status, IsClosed, OwnerId, "
              "SystemModstamp, LastModifiedById, CreatedById FROM Case "
              "WHERE Telecase_Ticket_Id__c != null")
TELECASE_STATUSES = frozenset({"New", "Working", "Closed"})
"""The Statuses telecase itself writes (a new Case's default, a reopened and a closed topic)."""


class CaseReader(Protocol):
    def query_all(self, soql: str) -> list[dict[str, Any]]: ...


@dataclass
class LogTicket:
    state: TicketState
    last_event_at: datetime


@dataclass(frozen=True)
class Drift:
    ticket_id: str
    kind: DriftKind
    log_value: str | None
    remote_value: str | None
    """What Salesforce (or Telegram, ``system="telegram"``) has."""
    detail: str
    correction: SalesforceChange | TopicChecked | None = None
    system: Literal["salesforce", "telegram"] = "salesforce"


@dataclass
class Report:
    tickets: int = 0
    cases: int = 0
    drifts: list[Drift] = field(default_factory=list)
    corrected: int = 0
    topics: int | None = None
    """Forum topics probed in Telegram (``None``: Telegram not compared)."""

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for d in self.drifts:
            out[d.kind] = out.get(d.kind, 0) + 1
        return out


# ----------------------------------------------------------------------------- the log's view


def fold_tickets(events: Iterable[TicketEvent]) -> dict[str, LogTicket]:
    """Every ticket's state as its events say (each applied once, in ``seq`` order)."""
    tickets: dict[str, LogTicket] = {}
    for event in sorted(events, key=lambda e: (e.ticket_id, e.seq)):
        current = tickets.get(event.ticket_id)
        if current is None:
            if isinstance(event, TicketOpened):
                tickets[event.ticket_id] = LogTicket(evolve_ticket(None, event),
                                                     event.occurred_at)
            continue
        if event.seq <= current.state.seq:
            continue
        current.state = evolve_ticket(current.state, event)
        current.last_event_at = max(current.last_event_at, event.occurred_at)
    return tickets


async def read_events(bus: Bus, topic: str) -> list[TicketEvent]:
    """Every event in ``topic`` now (undecodable records are the projector's business)."""
    out: list[TicketEvent] = []
    for partition in range(await bus.partitions(topic)):
        offset, end = 0, await bus.end_offset(topic, partition)
        while offset < end:
            records = await bus.read(topic, partition, offset, 5000)
            if not records:
                break
            for rec in records:
                try:
                    out.append(decode_event(rec.value))
                except ValueError:
                    continue
            offset = records[-1].offset + 1
    return out


# ----------------------------------------------------------------------------- comparing


def compare(tickets: dict[str, LogTicket], cases: list[dict[str, Any]],
            now: datetime) -> Report:
    report = Report(tickets=len(tickets), cases=len(cases))
    seen: set[str] = set()
    for case in cases:
        ticket_id = str(case.get("Telecase_Ticket_Id__c"))
        seen.add(ticket_id)
        known = tickets.get(ticket_id)
        if known is None:
            report.drifts.append(Drift(ticket_id, "unknown_ticket", None, case["Id"],
                                       f"Case {case.get('CaseNumber')} names a ticket the log "
                                       "does not have"))
            continue
        report.drifts.extend(_case_drifts(known, case, now))
    for ticket_id, known in tickets.items():
        if known.state.case_id is not None and ticket_id not in seen:
            report.drifts.append(Drift(ticket_id, "case_missing", known.state.case_id, None,
                                       "the log links the ticket to a Case Salesforce does not "
                                       "have (deleted?)"))
    for drift in report.drifts:
        DRIFTS.labels(drift.kind).inc()
    return report


def _case_drifts(known: LogTicket, case: dict[str, Any], now: datetime) -> list[Drift]:
    t = known.state
    out: list[Drift] = []
    stamp = parse_datetime(case.get("SystemModstamp")) or now
    if t.case_id is None or id15(t.case_id) != id15(case["Id"]):
        out.append(Drift(t.ticket_id, "case_unlinked", t.case_id, case["Id"],
                         f"Salesforce has Case {case.get('CaseNumber')}; the log never linked it",
                         _change(case, "case_linked", now, stamp)))
    changed_since = stamp > known.last_event_at and (
        t.case_changed_at is None or stamp > t.case_changed_at)
    owner = case.get("OwnerId")
    known_owners = {id15(t.owner_id), id15(t.assigned_owner)}
    if t.owner_id is None and t.assigned_owner is None:
        known_owners.add(id15(case.get("CreatedById")))  # a new Case's owner: its creator
    if owner and id15(owner) not in known_owners:
        if changed_since:
            out.append(Drift(t.ticket_id, "owner_changed", t.owner_id, owner,
                             "the Case's owner changed in Salesforce and the log missed it",
                             _change(case, "case_updated", now, stamp)))
        elif t.assigned_owner is not None:
            out.append(Drift(t.ticket_id, "salesforce_behind", t.assigned_owner, owner,
                             "the desk assigned the ticket; the Case's owner is not updated"))
    elif (t.assigned_owner is not None and id15(owner) != id15(t.assigned_owner)
          and id15(owner) == id15(t.owner_id) and t.owner_id != t.assigned_owner):
        out.append(Drift(t.ticket_id, "salesforce_behind", t.assigned_owner, owner,
                         "the desk assigned the ticket; the Case's owner is not updated"))
    status, closed = case.get("Status"), bool(case.get("IsClosed"))
    log_closed = t.status == "closed"
    agent_status = status is not None and status not in TELECASE_STATUSES \
        and status != t.case_status
    if closed != log_closed or agent_status:
        if changed_since and (agent_status or closed != log_closed):
            out.append(Drift(t.ticket_id, "status_changed", t.case_status or t.status, status,
                             "the Case's status changed in Salesforce and the log missed it",
                             _change(case, "case_updated", now, stamp)))
        elif closed != log_closed:
            out.append(Drift(t.ticket_id, "salesforce_behind", t.status, status,
                             "the ticket is " + t.status + " in the log; the Case is "
                             + ("closed" if closed else "open")))
    return _one_update_each(out)


def _one_update_each(drifts: list[Drift]) -> list[Drift]:
    """One ``case_updated`` correction per Case is enough (the worker takes every field of it
    in): the later drifts of the same Case keep their report, without a second record."""
    out: list[Drift] = []
    updated = False
    for d in drifts:
        if isinstance(d.correction, SalesforceChange) and d.correction.change == "case_updated":
            if updated:
                d = Drift(d.ticket_id, d.kind, d.log_value, d.remote_value, d.detail)
            updated = True
        out.append(d)
    return out


def _change(case: dict[str, Any], kind: Literal["case_linked", "case_updated"], now: datetime,
            stamp: datetime) -> SalesforceChange:
    ticket = str(case["Telecase_Ticket_Id__c"])
    if kind == "case_linked":
        return SalesforceChange(change="case_linked", change_id=f"reconcile:linked:{case['Id']}",
                                ticket_id=ticket, case_id=case["Id"], observed_at=now,
                                occurred_at=now, case_number=case.get("CaseNumber"))
    return SalesforceChange(
        change="case_updated", change_id=f"reconcile:case:{case['Id']}:{case['SystemModstamp']}",
        ticket_id=ticket, case_id=case["Id"], observed_at=now, occurred_at=stamp,
        case_number=case.get("CaseNumber"), status=case.get("Status"),
        is_closed=case.get("IsClosed"), owner_id=case.get("OwnerId"),
        actor_id=case.get("LastModifiedById"),
        record={k: v for k, v in case.items() if k != "attributes"})


def corrections(report: Report) -> list[SalesforceChange | TopicChecked]:
    out = [d.correction for d in report.drifts if d.correction is not None]
    for d in report.drifts:
        if d.correction is not None:
            CORRECTIONS.labels(d.kind).inc()
    return out


def topic_drifts(tickets: dict[str, LogTicket], findings: list[TopicFinding]) -> list[Drift]:
    """Telegram's findings as drifts; a correction the log already holds (a topic found
    missing in an earlier round) is not made again."""
    out: list[Drift] = []
    for f in findings:
        remote = {"topic_closed": "closed", "topic_missing": "deleted"}.get(f.kind)
        correction = f.correction
        known = tickets.get(f.ticket_id)
        if correction is not None and known is not None \
                and correction.check_id in known.state.topic_checks:
            correction = None
        out.append(Drift(f.ticket_id, f.kind, "open", remote, f.detail, correction,
                         system="telegram"))
    for drift in out:
        DRIFTS.labels(drift.kind).inc()
    return out


# ----------------------------------------------------------------------------- the runner


class Reconciler:
    """Reads the log, Salesforce (``api``) and Telegram (``topics``), compares, and (unless
    ``dry_run``) appends the corrections: Salesforce's to ``salesforce.changes`` through
    ``raw_log``, Telegram's to ``telegram.updates`` through ``topic_log``. Either side may be
    absent (``api``/``topics`` ``None``)."""

    def __init__(self, bus: Bus, events_topic: str, api: CaseReader | None,
                 raw_log: Any | None, *, dry_run: bool = False,
                 topics: TopicProbe | None = None, topic_log: Any | None = None) -> None:
        self.bus, self.events_topic, self.api = bus, events_topic, api
        self.raw_log, self.dry_run = raw_log, dry_run
        self.topics, self.topic_log = topics, topic_log

    async def run_once(self) -> Report:
        events = await read_events(self.bus, self.events_topic)
        tickets = fold_tickets(events)
        now = datetime.now(UTC)
        if self.api is not None:
            cases = await asyncio.to_thread(self.api.query_all, CASE_QUERY)
            report = compare(tickets, cases, now)
        else:
            report = Report(tickets=len(tickets))
        if self.topics is not None and not self.dry_run and self.topic_log is not None:
            report.topics, findings = await self.topics.check_all(
                (t.state for t in tickets.values()), now)
            report.drifts.extend(topic_drifts(tickets, findings))
        records = corrections(report)
        if records and not self.dry_run:
            to_salesforce = [r for r in records if isinstance(r, SalesforceChange)]
            to_telegram = [r for r in records if isinstance(r, TopicChecked)]
            if to_salesforce and self.raw_log is not None:
                await self.raw_log.append(to_salesforce)
                report.corrected += len(to_salesforce)
            if to_telegram and self.topic_log is not None:
                await self.topic_log.append(to_telegram)
                report.corrected += len(to_telegram)
        return report

    async def run(self, stop: Any, every: float) -> None:
        """Reconcile every ``every`` seconds until ``stop`` (an ``asyncio.Event``); a failed
        round (Salesforce unreachable) is logged and retried next time."""
        while not stop.is_set():
            try:
                report = await self.run_once()
                (log.info if report.drifts else log.debug)(
                    "reconcile.round", tickets=report.tickets, cases=report.cases,
                    topics=report.topics, drifts=report.counts(), corrected=report.corrected)
                for drift in report.drifts:
                    log.info("reconcile.drift", ticket_id=drift.ticket_id, kind=drift.kind,
                             corrected=drift.correction is not None, detail=drift.detail)
            except Exception as exc:  # any failure: the next round tries again
                log.warning("reconcile.failed", error=type(exc).__name__, detail=str(exc)[:200])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)

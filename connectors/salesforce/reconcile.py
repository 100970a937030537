"""Reconciliation with Salesforce: the log's view of every ticket against its Case, and an
explicit correction for each drift the log can take in.

Salesforce is read first (one SOQL query over the Cases that carry a
``Telecase_Ticket_Id__c``, one over their ``CaseHistory`` Status and Owner rows), the log
second, so every write telecase made that Salesforce shows already has its event in the log.
The log's view of a ticket is its events folded with the ticket core (``evolve_ticket``) and
the view of its Case's Status and Owner (:mod:`connectors.salesforce.case_drift`: what
telecase wrote, what it took in, whichever came last). For each ticket, :func:`compare` finds:

- ``case_unlinked``: Salesforce has the ticket's Case but the log never learnt its id (a lost
  link-back). Correction: a ``case_linked`` change.
- ``status_changed`` / ``owner_changed``: the Case's Status or Owner differs from the log's
  view and was set by someone other than telecase (an agent, a flow, an assignment rule) after
  the log's view was set, or by telecase's own user to a value this ticket's events never
  wrote (automation running in telecase's transaction). Who and when come from
  ``CaseHistory`` where the org tracks field history, else from the Case's
  ``LastModifiedById`` and ``SystemModstamp`` (:func:`~connectors.salesforce.case_drift.judge`).
  Correction: one ``case_updated`` change with the Case as it is now and the user who made the
  change as its actor.
- ``salesforce_behind``: Salesforce still shows a value telecase wrote earlier (or one set
  before the log's newer view): telecase's newer write was dead-lettered or is not made yet.
  Reported, not corrected here: the sync's dead letters say why, and a re-sync writes it.
- ``case_missing``: the log links the ticket to a Case Salesforce no longer has (deleted).
  Reported.
- ``unknown_ticket``: a Case names a ticket the log does not have. Reported.

telecase's own user is ``integration_user_id`` (or the ``User`` named ``integration_username``),
else the creator of the Cases the sync itself linked (``salesforce.case_linked`` events whose
``change_id`` is the sync's ``linked:<CaseId>``).

Corrections are :class:`~streams.schema.salesforce.SalesforceChange` records whose ``change_id``
starts with ``reconcile:``, appended to ``salesforce.changes`` like the poller's, so the worker
turns each into ordinary ticket events (``salesforce.case_linked``, ``case.status_changed``,
``case.owner_changed``) whose ``source.change_id`` says they came from reconciliation: the audit
trail shows the repair as what it is. The worker records only what differs, so running
reconciliation twice, or beside the poller, corrects once. A dry run computes the same
corrections and appends none: its report says "would correct".

With a Telegram bot configured, each open forum ticket's topic is compared too
(:mod:`connectors.telegram.topic_check`): a topic closed while its ticket is open is reopened
and recorded, a deleted one is recorded; those corrections go to ``telegram.updates``. A
``--dry-run`` does not probe Telegram: the only way to read a topic's state is the call that
repairs it.

With Salesforce as the clock of record (``milestones``: a :class:`MilestoneCheck`,
``TELECASE_SLA_CLOCK_OF_RECORD=salesforce``), the Cases' milestones are read too and where
their ``TargetDate``, ``IsViolated`` and ``CompletionDate`` disagree with the log's deadlines
(:mod:`connectors.salesforce.deadline_check`) the report says so (``milestone_breach``,
``milestone_target``, ``milestone_completion``); nothing is corrected here: the clocks follow
Salesforce's targets through the log already (the milestone reader,
:mod:`connectors.salesforce.milestone_reader`, and ``sla.target_adopted``), so the report
shows what that has not caught up with.

Reconciliation is not essential: with a ``guard``
(:class:`~connectors.salesforce.limit_guard.LimitGuard`) that holds ``reconcile`` calls (the
org's daily API allocation nearly used up), a round reads nothing from Salesforce and its
report says Salesforce was not compared (``field_history`` ``None``, ``held`` true); Telegram
is compared as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

import structlog
from prometheus_client import Counter

from connectors.errors import PermanentError, TransientError
from connectors.salesforce.case_drift import (
    HISTORY_QUERY,
    CaseField,
    CaseView,
    FieldView,
    LastChange,
    history_by_case,
    is_mine,
    judge,
    last_change,
)
from connectors.salesforce.change_poller import id15, parse_datetime
from connectors.salesforce.deadline_check import (
    TOLERANCE,
    MilestoneFact,
    disagreements,
    log_deadlines,
    read_milestones,
)
from connectors.salesforce.limit_guard import LimitGuard
from connectors.telegram.topic_check import TopicFinding, TopicProbe
from streams.core.ticket import TicketState, evolve_ticket
from streams.runtime.bus import Bus
from streams.schema.envelope import TopicChecked
from streams.schema.events import SalesforceCaseLinked, TicketEvent, TicketOpened, decode_event
from streams.schema.salesforce import SalesforceChange
from streams.sla.policy import SlaPolicy

log = structlog.get_logger("telecase.reconcile")
DRIFTS = Counter("telecase_reconcile_drifts_total", "Drifts found by reconciliation", ["kind"])
CORRECTIONS = Counter("telecase_reconcile_corrections_total",
                      "Correction records appended by reconciliation", ["kind"])

DriftKind = Literal["case_unlinked", "owner_changed", "status_changed", "salesforce_behind",
                    "case_missing", "unknown_ticket", "topic_closed", "topic_missing",
                    "chat_unreachable", "topic_unchecked", "milestone_breach",
                    "milestone_target", "milestone_completion"]
CASE_QUERY = ("SELECT Id, CaseNumber, Telecase_Ticket_Id__c, Status, IsClosed, OwnerId, "
              "SystemModstamp, LastModifiedById, CreatedById, CreatedDate FROM Case "
              "WHERE Telecase_Ticket_Id__c != null")


class CaseReader(Protocol):
    def query_all(self, soql: str) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class MilestoneCheck:
    """Compare the Cases' milestones with the log's deadlines (Salesforce's clock of record):
    ``policy`` replays running clocks to their deadline instants (``None``: only breached
    clocks have one)."""

    policy: SlaPolicy | None = None
    tolerance: timedelta = TOLERANCE


@dataclass
class LogTicket:
    state: TicketState
    last_event_at: datetime
    case: CaseView | None = None
    """The log's view of the Case's Status and Owner."""
    sync_case_ids: set[str] = field(default_factory=set)
    """Cases the outbound sync itself linked (``linked:<CaseId>``): telecase created them."""


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
    """Correction records appended (0 in a dry run)."""
    topics: int | None = None
    """Forum topics probed in Telegram (``None``: Telegram not compared)."""
    dry_run: bool = False
    field_history: bool | None = None
    """Whether Salesforce's CaseHistory was read (``None``: Salesforce not compared)."""
    appended: set[str] = field(default_factory=set)
    """``change_id``/``check_id`` of the corrections appended."""
    held: bool = False
    """Salesforce was not read: the limit guard holds non-essential calls."""

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for d in self.drifts:
            out[d.kind] = out.get(d.kind, 0) + 1
        return out

    def was_corrected(self, drift: Drift) -> bool:
        """The drift's correction was appended in this round."""
        return drift.correction is not None and _key(drift.correction) in self.appended

    def would_correct(self, drift: Drift) -> bool:
        """A dry run found a correction it did not append."""
        return self.dry_run and drift.correction is not None

    @property
    def drifts_corrected(self) -> int:
        """Drifts whose correction was appended (the drifts of one Case share one record)."""
        return sum(self.was_corrected(d) for d in self.drifts)

    @property
    def drifts_would_correct(self) -> int:
        """Drifts a dry run would correct."""
        return sum(self.would_correct(d) for d in self.drifts)


def _key(correction: SalesforceChange | TopicChecked) -> str:
    return correction.change_id if isinstance(correction, SalesforceChange) \
        else correction.check_id


# ----------------------------------------------------------------------------- the log's view


def fold_tickets(events: Iterable[TicketEvent]) -> dict[str, LogTicket]:
    """Every ticket's state and its Case's view as its events say (each applied once, in
    ``seq`` order)."""
    tickets: dict[str, LogTicket] = {}
    for event in sorted(events, key=lambda e: (e.ticket_id, e.seq)):
        current = tickets.get(event.ticket_id)
        if current is None:
            if isinstance(event, TicketOpened):
                tickets[event.ticket_id] = LogTicket(evolve_ticket(None, event),
                                                     event.occurred_at,
                                                     CaseView.opened(event.occurred_at))
            continue
        if event.seq <= current.state.seq:
            continue
        current.state = evolve_ticket(current.state, event)
        current.last_event_at = max(current.last_event_at, event.occurred_at)
        if current.case is not None:
            current.case.apply(event)
        if isinstance(event, SalesforceCaseLinked) \
                and (event.source.change_id or "").startswith("linked:"):
            current.sync_case_ids.add(str(id15(event.case_id)))
    return tickets


READ_ATTEMPTS = 5


async def read_events(bus: Bus, topic: str) -> list[TicketEvent]:
    """Every event in ``topic`` now (undecodable records are the projector's business).

    A read that comes back empty before the partition's end (Kafka's fetch can, right after a
    seek) is tried again; a partition that stays short raises
    :class:`~connectors.errors.TransientError`: comparing half a log would report drift that
    is not there."""
    out: list[TicketEvent] = []
    for partition in range(await bus.partitions(topic)):
        offset, end = 0, await bus.end_offset(topic, partition)
        misses = 0
        while offset < end:
            records = await bus.read(topic, partition, offset, 5000, wait=1.0)
            if not records:
                misses += 1
                if misses >= READ_ATTEMPTS:
                    raise TransientError(f"{topic}[{partition}] read nothing at offset "
                                         f"{offset} of {end}")
                continue
            misses = 0
            for rec in records:
                try:
                    out.append(decode_event(rec.value))
                except ValueError:
                    continue
            offset = records[-1].offset + 1
    return out


# ----------------------------------------------------------------------------- comparing


def compare(tickets: dict[str, LogTicket], cases: list[dict[str, Any]], now: datetime,
            *, history: dict[str, list[dict[str, Any]]] | None = None,
            integration_users: Iterable[str] = ()) -> Report:
    """``history``: CaseHistory rows per Case (:func:`~connectors.salesforce.case_drift.
    history_by_case`; ``None``: field history not tracked or not readable);
    ``integration_users``: telecase's own user (empty: the creator of the Cases the sync
    linked)."""
    report = Report(tickets=len(tickets), cases=len(cases), field_history=history is not None)
    me = {str(id15(u)) for u in integration_users if u} or _creators(tickets, cases)
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
        rows = None if history is None else history.get(str(id15(case["Id"])), [])
        report.drifts.extend(_case_drifts(known, case, now, rows, me))
    for ticket_id, known in tickets.items():
        if known.state.case_id is not None and ticket_id not in seen:
            report.drifts.append(Drift(ticket_id, "case_missing", known.state.case_id, None,
                                       "the log links the ticket to a Case Salesforce does not "
                                       "have (deleted?)"))
    for drift in report.drifts:
        DRIFTS.labels(drift.kind).inc()
    return report


def _creators(tickets: dict[str, LogTicket], cases: list[dict[str, Any]]) -> set[str]:
    """telecase's user as its own write records show it: who created the Cases the sync
    linked."""
    synced = {c for t in tickets.values() for c in t.sync_case_ids}
    return {str(id15(c.get("CreatedById"))) for c in cases
            if id15(c.get("Id")) in synced and c.get("CreatedById")}


_FIELDS: tuple[CaseField, ...] = ("Owner", "Status")
_KINDS: dict[CaseField, DriftKind] = {"Owner": "owner_changed", "Status": "status_changed"}


def _case_drifts(known: LogTicket, case: dict[str, Any], now: datetime,
                 history: list[dict[str, Any]] | None, me: set[str]) -> list[Drift]:
    t = known.state
    out: list[Drift] = []
    stamp = parse_datetime(case.get("SystemModstamp")) or now
    if t.case_id is None or id15(t.case_id) != id15(case["Id"]):
        out.append(Drift(t.ticket_id, "case_unlinked", t.case_id, case["Id"],
                         f"Salesforce has Case {case.get('CaseNumber')}; the log never linked it",
                         _change(case, "case_linked", now, stamp)))
    view = known.case or CaseView.opened(t.opened_at)
    changed: list[tuple[CaseField, FieldView, LastChange]] = []
    for name in _FIELDS:
        field_view = view.owner if name == "Owner" else view.status
        change = last_change(case, name, history)
        verdict = judge(field_view, case, name, change, me)
        shown = case.get("OwnerId") if name == "Owner" else case.get("Status")
        if verdict == "drift":
            changed.append((name, field_view, change))
        elif verdict == "behind":
            out.append(Drift(t.ticket_id, "salesforce_behind", field_view.value, shown,
                             f"the log's {name} is newer than the Case's (set by telecase's "
                             "own write, or before the log's): telecase's write is pending "
                             "or dead-lettered"))
    if changed:
        actor = max(changed, key=lambda c: c[2].at or stamp)[2].by
        correction = _change(case, "case_updated", now, stamp, actor=actor)
        for name, field_view, change in changed:  # one record for the Case: every field in it
            shown = case.get("OwnerId") if name == "Owner" else case.get("Status")
            out.append(Drift(t.ticket_id, _KINDS[name], field_view.value, shown,
                             _who(name, change, me), correction))
    return out


def _who(name: CaseField, change: LastChange, me: set[str]) -> str:
    where = "CaseHistory" if change.source == "history" else "the Case's last modifier"
    when = change.at.isoformat() if change.at else "an unknown time"
    if is_mine(change, me):
        return (f"the Case's {name} was set at {when} in telecase's own transaction to a value "
                f"telecase never wrote (an assignment rule or flow; {where})")
    return f"the Case's {name} was changed by {change.by} at {when} ({where})"


def _change(case: dict[str, Any], kind: Literal["case_linked", "case_updated"], now: datetime,
            stamp: datetime, actor: str | None = None) -> SalesforceChange:
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
        actor_id=actor or case.get("LastModifiedById"),
        record={k: v for k, v in case.items() if k != "attributes"})


def corrections(report: Report) -> list[SalesforceChange | TopicChecked]:
    """The records to append: each once (the drifts of one Case share their record)."""
    out: dict[str, SalesforceChange | TopicChecked] = {}
    for d in report.drifts:
        if d.correction is not None and _key(d.correction) not in out:
            out[_key(d.correction)] = d.correction
            CORRECTIONS.labels(d.kind).inc()
    return list(out.values())


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
    """Reads Salesforce (``api``), the log and Telegram (``topics``), compares, and (unless
    ``dry_run``) appends the corrections: Salesforce's to ``salesforce.changes`` through
    ``raw_log``, Telegram's to ``telegram.updates`` through ``topic_log``. Either side may be
    absent (``api``/``topics`` ``None``). ``integration_user_id`` (or the ``User`` named
    ``integration_username``): telecase's own Salesforce user; neither: the creator of the
    Cases the sync linked."""

    def __init__(self, bus: Bus, events_topic: str, api: CaseReader | None,
                 raw_log: Any | None, *, dry_run: bool = False,
                 topics: TopicProbe | None = None, topic_log: Any | None = None,
                 integration_user_id: str | None = None,
                 integration_username: str | None = None,
                 guard: LimitGuard | None = None,
                 milestones: MilestoneCheck | None = None) -> None:
        self.bus, self.events_topic, self.api, self.guard = bus, events_topic, api, guard
        self.milestones = milestones
        self.raw_log, self.dry_run = raw_log, dry_run
        self.topics, self.topic_log = topics, topic_log
        self.integration_user_id = integration_user_id
        self.integration_username = integration_username
        self._appended: set[str] = set()
        """Corrections this reconciler appended: found again (the worker has not taken it in
        yet, or takes nothing in from it), a drift is reported, not appended twice."""

    async def run_once(self) -> Report:
        now = datetime.now(UTC)
        salesforce = None
        held = self.api is not None and self.guard is not None \
            and not self.guard.allows("reconcile")
        if self.api is not None and not held:  # Salesforce first: its writes are in the log
            salesforce = await asyncio.to_thread(self._read_salesforce, self.api)
        events = await read_events(self.bus, self.events_topic)
        tickets = fold_tickets(events)
        if salesforce is not None:
            cases, history, me = salesforce
            report = compare(tickets, cases, now, history=history, integration_users=me)
            if self.milestones is not None and self.api is not None:
                facts = await asyncio.to_thread(read_milestones, self.api, cases)
                report.drifts.extend(self._milestone_drifts(events, facts, now))
        else:
            report = Report(tickets=len(tickets))
        report.dry_run, report.held = self.dry_run, held
        report.drifts = [self._not_again(d) for d in report.drifts]
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
                report.appended.update(r.change_id for r in to_salesforce)
            if to_telegram and self.topic_log is not None:
                await self.topic_log.append(to_telegram)
                report.corrected += len(to_telegram)
                report.appended.update(r.check_id for r in to_telegram)
            self._appended |= report.appended
        return report

    def _milestone_drifts(self, events: list[TicketEvent], facts: list[MilestoneFact],
                          now: datetime) -> list[Drift]:
        check = self.milestones or MilestoneCheck()
        found = disagreements(log_deadlines(events, check.policy), facts, now,
                              tolerance=check.tolerance)
        for d in found:
            DRIFTS.labels(d.kind).inc()
        return [Drift(d.ticket_id, d.kind, d.log_value, d.remote_value, d.detail)
                for d in found]

    def _not_again(self, drift: Drift) -> Drift:
        if drift.correction is None or _key(drift.correction) not in self._appended:
            return drift
        return replace(drift, correction=None, detail=f"{drift.detail}; corrected earlier "
                       f"({_key(drift.correction)}), not in the log yet")

    def _read_salesforce(self, api: CaseReader) -> tuple[
            list[dict[str, Any]], dict[str, list[dict[str, Any]]] | None, list[str]]:
        """The Cases, their CaseHistory rows (``None``: not readable: field history is not
        tracked, or the user may not read it) and telecase's user."""
        cases = api.query_all(CASE_QUERY)
        try:
            rows = api.query_all(HISTORY_QUERY)
        except PermanentError as exc:
            log.info("reconcile.no_field_history", detail=str(exc)[:200])
            history = None
        else:
            history = history_by_case(rows) if rows else None
        return cases, history, self._integration_users(api)

    def _integration_users(self, api: CaseReader) -> list[str]:
        if self.integration_user_id is None and self.integration_username is not None:
            name = self.integration_username.replace("\\", "\\\\").replace("'", "\\'")
            rows = api.query_all(f"SELECT Id FROM User WHERE Username = '{name}'")
            self.integration_user_id = rows[0]["Id"] if rows else None
            self.integration_username = None
        return [self.integration_user_id] if self.integration_user_id else []

    async def run(self, stop: Any, every: float) -> None:
        """Reconcile every ``every`` seconds until ``stop`` (an ``asyncio.Event``); a failed
        round (Salesforce unreachable) is logged and retried next time."""
        while not stop.is_set():
            try:
                report = await self.run_once()
                (log.info if report.drifts else log.debug)(
                    "reconcile.round", tickets=report.tickets, cases=report.cases,
                    topics=report.topics, drifts=report.counts(), corrected=report.corrected,
                    salesforce_held=report.held)
                for drift in report.drifts:
                    log.info("reconcile.drift", ticket_id=drift.ticket_id, kind=drift.kind,
                             corrected=report.was_corrected(drift), detail=drift.detail)
            except Exception as exc:  # any failure: the next round tries again
                log.warning("reconcile.failed", error=type(exc).__name__, detail=str(exc)[:200])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)

"""``telecase deadletter``: the dead letters an operator can list, read and re-drive.

What is there. Every stage that cannot process a record appends a
:class:`~streams.schema.deadletter.DeadLetter` to ``telecase.deadletter``: the reason, the stage
(``consumer``), where the record came from (origin topic, partition, offset, key) and its
original bytes. Nothing else is kept anywhere: this module reads that topic, on either runtime.

**A dead letter's id** is ``<partition>:<offset>`` of its record in ``telecase.deadletter``
(on Kafka the topic has one partition, so ids are ``0:<offset>``). It is stable: the topic is
append-only.

**Retry** (``retry ID... | --reason R``) re-drives a dead letter by appending its original key
and bytes to its origin topic, in its origin partition, and then a ``deadletter.retried`` marker
(:class:`Retried`, naming the letter and where the copy went) to ``telecase.deadletter`` itself.
A letter with a marker is *retried*: ``list`` says so, ``retry`` skips it, and the waiting
gauge no longer counts it. A crash between the copy and the marker leaves the letter waiting,
and a second retry appends the copy again; that is safe only because the origin's consumer
drops a repeat, so retry re-drives only origins whose consumer does (checked in the code):

- ``telegram.updates``: the worker remembers each thread's recent ``update_id`` values and
  drops one it has (``streams.core.ticket``, ``recent_updates``);
- ``ticket.commands``: a desk decision already applied changes nothing (only what differs from
  the ticket's state becomes an event), and a ``Tick`` fires only timers due and not fired yet;
- ``salesforce.changes``: the worker drops a change it has folded (a comment by its id, a case
  change that changes nothing);
- ``desk.requests``: the desk drops a request id it has seen.

Dead letters whose origin is ``ticket.events`` are not re-driven to their origin: a copy
appended to the system of record would reach every consumer of it, and the projector skips any
event at or below a ticket's ``last_seq``, so a copy of an old event is dropped there, never
projected. What retry does with them depends on the stage:

- **The Salesforce sync** (stage ``salesforce``, formerly ``salesforce-sync``: a record
  Salesforce refused, ``salesforce_rejected``, or an event the sync failed on,
  ``sync_failed``): retry re-drives it to the sync *only*, by asking the sync to re-sync the
  letter's ticket from the log instead of replaying the old event. It appends a
  :class:`~connectors.salesforce.resync.ResyncRequest` (the letter, the ticket, the partition
  of ``ticket.events`` holding it) to ``telecase.deadletter`` and then the letter's marker,
  naming the request as where the retry went. The sync runner follows the dead-letter topic
  with a group of its own (``salesforce-sync-retries``; nothing else acts on a request), reads
  the ticket's events up to the log's end and applies them in order through the same sync,
  between its own batches, leaving out what an agent's later change in Salesforce superseded
  (a close before a status set there, an assignment before an owner set there). So the Case
  ends with the ticket's *current* state, never an older value over a newer one, and, every
  write of the sync being idempotent (external ids, the comment ledger and its marker), the
  refused record is written once and the rest not again. A request applied twice (a crash
  between the request and the marker) is harmless. A record Salesforce still refuses is
  dead-lettered again, as a new letter. The ticket's other waiting letters are covered by the
  same re-sync: retrying them re-syncs again and writes nothing new.
- **The projectors, the reply mirror, the intake messenger**: not re-driven. The projectors'
  remedy is ``telecase replay`` (it rebuilds the projections from the log, where the
  original still is); the outbound Telegram stages have no retry input of their own.
  ``retry`` says so for each such letter and leaves it waiting.

``retry --dismiss`` marks letters handled without re-driving them (a marker with no
destination).

Embedded, ``telecase run`` holds the log: ``list`` and ``show`` read beside it; ``retry`` finds
the log taken, queues the ids in the :class:`RetryInbox` (``<data dir>/deadletter-inbox.sqlite``)
and waits until the run's watch (:mod:`telecase.ops.deadletter_watch`) has re-driven and marked
them. On Kafka all three run beside the processes.

The gauge ``telecase_dead_letters_waiting{stage, reason}`` (letters without a marker) is in
:mod:`telecase.ops.deadletter_watch`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import getpass
import json
import sqlite3
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import structlog
from pydantic import BaseModel, ConfigDict, ValidationError

from connectors.salesforce.resync import RESYNC_KEY, ResyncRequest, ticket_of
from connectors.salesforce.resync import STAGES as SALESFORCE_STAGES
from streams.runtime.bus import Bus, Outgoing
from streams.runtime.embedded.log import LogUnavailableError
from streams.runtime.topics import TopicNames
from telecase.bootstrap.runtime import open_runtime, topic_names
from telecase.errors import TelecaseError
from telecase.settings import RuntimeKind, Settings

log = structlog.get_logger("telecase.deadletter")

RETRY_INBOX = "deadletter-inbox.sqlite"
"""In the data directory: retries queued for a running ``telecase run``."""
QUEUED_WAIT = 20.0
"""Seconds ``retry`` waits for a running ``telecase run`` to re-drive what it queued."""
MARKER_KEY = b"deadletter.retried"
_PAGE = 1000


class DeadLetterError(TelecaseError):
    """A ``telecase deadletter`` command cannot do what it was asked."""


class Retried(BaseModel):
    """The marker appended to ``telecase.deadletter`` once a dead letter was re-driven."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["deadletter.retried"] = "deadletter.retried"
    version: Literal[1] = 1
    letter: str
    """The dead letter's id (``<partition>:<offset>``)."""
    topic: str | None
    partition: int | None
    offset: int | None
    """Where the copy went (``None``: dismissed, not re-driven)."""
    retried_at: datetime
    retried_by: str

    def describe(self) -> str:
        when = f"{self.retried_at:%Y-%m-%d %H:%M:%S} by {self.retried_by}"
        if self.topic is None:
            return f"dismissed {when}"
        return f"retried to {self.topic}[{self.partition}]@{self.offset} {when}"


@dataclass
class Letter:
    """One record of ``telecase.deadletter`` as an operator sees it."""

    id: str
    written_at: datetime
    fields: dict[str, Any]
    """Everything the stage recorded (the payload as ``payload_b64``)."""
    retried: Retried | None = None

    @property
    def stage(self) -> str:
        return str(self.fields.get("consumer", "?"))

    @property
    def reason(self) -> str:
        return str(self.fields.get("reason", "unreadable"))

    @property
    def origin(self) -> str:
        f = self.fields
        return f"{f.get('topic', '?')}[{f.get('partition', '?')}]@{f.get('offset', '?')}"

    def payload(self) -> bytes:
        return base64.b64decode(self.fields.get("payload_b64", ""))

    def failed_at(self) -> datetime:
        raw = self.fields.get("failed_at")
        try:
            return _utc(datetime.fromisoformat(str(raw)))
        except ValueError:
            return self.written_at

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "failed_at": self.failed_at().isoformat(), "stage": self.stage,
                "reason": self.reason, "origin": self.origin,
                "detail": self.fields.get("detail", ""),
                "retried": None if self.retried is None else self.retried.model_dump(mode="json")}

    def full(self) -> dict[str, Any]:
        """Everything recorded, the payload decoded when it is JSON (else base64)."""
        out = {k: v for k, v in self.fields.items() if k != "payload_b64"}
        raw = self.payload()
        try:
            out["payload"] = json.loads(raw)
        except ValueError:
            out["payload_b64"] = self.fields.get("payload_b64", "")
        return {"id": self.id, **out,
                "retried": None if self.retried is None else self.retried.model_dump(mode="json")}


def _utc(instant: datetime) -> datetime:
    return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant


@dataclass
class Index:
    """What ``telecase.deadletter`` holds: the letters in log order, their markers applied,
    and where reading stopped (so :func:`read_new` continues from there)."""

    letters: dict[str, Letter] = field(default_factory=dict)
    markers: dict[str, Retried] = field(default_factory=dict)
    positions: dict[int, int] = field(default_factory=dict)

    def add(self, partition: int, offset: int, value: bytes, timestamp: float) -> None:
        letter_id = f"{partition}:{offset}"
        try:
            body = json.loads(value)
        except ValueError:
            body = {"reason": "unreadable", "detail": "not JSON",
                    "payload_b64": base64.b64encode(value).decode()}
        if isinstance(body, dict) and body.get("kind") == "salesforce.resync":
            return  # a retry's request to the Salesforce sync, not a letter
        if isinstance(body, dict) and body.get("kind") == "deadletter.retried":
            try:
                marker = Retried.model_validate(body)
            except ValidationError:
                return
            self.markers[marker.letter] = marker
            if marker.letter in self.letters:
                self.letters[marker.letter].retried = marker
            return
        if not isinstance(body, dict):
            body = {"reason": "unreadable", "detail": "not a JSON object"}
        self.letters[letter_id] = Letter(letter_id, datetime.fromtimestamp(timestamp, UTC), body,
                                         self.markers.get(letter_id))

    def waiting(self) -> Counter[tuple[str, str]]:
        """``(stage, reason) -> count`` of the letters not retried."""
        return Counter((x.stage, x.reason) for x in self.letters.values() if x.retried is None)


async def read_new(bus: Bus, topic: str, index: Index, *, wait: float = 0.0) -> Index:
    """Read what ``topic`` holds beyond ``index.positions`` into ``index``."""
    for p in range(await bus.partitions(topic)):
        end = (await bus.end_offsets(topic, [p])).get(p, 0)
        while index.positions.get(p, 0) < end:
            records = await bus.read(topic, p, index.positions.get(p, 0), _PAGE, wait=wait)
            if not records:
                break
            for rec in records:
                index.add(rec.partition, rec.offset, rec.value, rec.timestamp)
            index.positions[p] = records[-1].offset + 1
    return index


async def read_letters(bus: Bus, names: TopicNames) -> Index:
    return await read_new(bus, names.dead_letters, Index(), wait=1.0)


async def load(settings: Settings, kind: RuntimeKind) -> Index:
    """The dead letters of the runtime ``kind``, read beside its running processes."""
    try:
        async with open_runtime(settings, kind, read_only=True) as rt:
            return await read_letters(rt.bus, rt.names)
    except LogUnavailableError as exc:
        raise DeadLetterError(str(exc)) from None


def select(index: Index, *, reason: str | None = None, stage: str | None = None,
           since: datetime | None = None) -> list[Letter]:
    """The letters matching every filter given, in log order."""
    return [x for x in index.letters.values()
            if (reason is None or x.reason == reason) and (stage is None or x.stage == stage)
            and (since is None or x.failed_at() >= since)]


def find(index: Index, letter_id: str) -> Letter:
    letter = index.letters.get(letter_id.strip())
    if letter is None:
        raise DeadLetterError(f"no dead letter {letter_id!r} (ids are <partition>:<offset> "
                              "in telecase.deadletter, as `telecase deadletter list` shows)")
    return letter


def redrivable(names: TopicNames) -> frozenset[str]:
    """The origin topics a retry appends to (their consumer drops a repeat)."""
    return frozenset({names.telegram_updates, names.ticket_commands, names.salesforce_changes,
                      names.desk_requests})


@dataclass(frozen=True)
class Outcome:
    """What retry did (or would do) with one letter."""

    id: str
    action: Literal["retried", "dismissed", "would_retry", "would_dismiss", "already_retried",
                    "not_redrivable"]
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"id": self.id, "action": self.action, "detail": self.detail}


def _ticket(letter: Letter) -> str | None:
    return ticket_of(letter.payload())


def resyncable(names: TopicNames, letter: Letter) -> bool:
    """A letter of the Salesforce sync about a ticket event: retried by re-syncing the
    ticket (see the module's docstring)."""
    return (letter.stage in SALESFORCE_STAGES
            and letter.fields.get("topic") == names.ticket_events
            and _ticket(letter) is not None)


def plan(names: TopicNames, letter: Letter, *, dismiss: bool = False) -> Outcome:
    """What retry would do with ``letter``, appending nothing."""
    origin = str(letter.fields.get("topic", ""))
    if letter.retried is not None:
        return Outcome(letter.id, "already_retried", letter.retried.describe())
    if dismiss:
        return Outcome(letter.id, "would_dismiss", "marked handled, not re-driven")
    if resyncable(names, letter):
        return Outcome(letter.id, "would_retry", f"re-sync ticket {_ticket(letter)} to "
                                                 "Salesforce from the log")
    if origin not in redrivable(names):
        remedy = ("once the cause is fixed, `telecase replay` rebuilds the projections from "
                  "the log, where the original still is; then --dismiss it"
                  if letter.stage.startswith("projector") else
                  f"{letter.stage} has no retry input of its own; once its effect is repaired "
                  "(`telecase reconcile` for Salesforce and topics), --dismiss it")
        return Outcome(letter.id, "not_redrivable", f"origin {origin or '?'} is not re-driven "
                                                    f"by retry (stage {letter.stage}): {remedy}")
    return Outcome(letter.id, "would_retry", f"to {letter.origin}")


async def retry(bus: Bus, names: TopicNames, letters: Sequence[Letter], *,
                dry_run: bool = False, dismiss: bool = False,
                now: datetime | None = None) -> list[Outcome]:
    """Re-drive ``letters`` (see the module's docstring): per letter, its copy appended to
    its origin, then its marker (``dismiss``: the marker only); a letter already retried, or
    from an origin retry does not re-drive, is reported and left alone."""
    outcomes: list[Outcome] = []
    for letter in letters:
        planned = plan(names, letter, dismiss=dismiss)
        if dry_run or planned.action not in ("would_retry", "would_dismiss"):
            outcomes.append(planned)
        else:
            outcomes.append(await _redrive(bus, names, letter, now, dismiss=dismiss))
    return outcomes


async def _redrive(bus: Bus, names: TopicNames, letter: Letter, now: datetime | None, *,
                   dismiss: bool) -> Outcome:
    origin: str | None = None
    partition = offset = None
    if not dismiss and resyncable(names, letter):
        request = ResyncRequest(
            letter=letter.id, ticket_id=str(_ticket(letter)), topic=str(letter.fields["topic"]),
            partition=int(letter.fields.get("partition", 0)),
            requested_at=now or datetime.now(UTC), requested_by=_who())
        origin, partition = names.dead_letters, 0
        [offset] = await bus.append(origin, [Outgoing(RESYNC_KEY, request.model_dump_json()
                                                      .encode(), partition=0)])
    elif not dismiss:
        key = letter.fields.get("key")
        origin, partition = str(letter.fields["topic"]), int(letter.fields.get("partition", 0))
        [offset] = await bus.append(origin, [Outgoing(
            None if key is None else str(key).encode(), letter.payload(), partition=partition)])
    marker = Retried(letter=letter.id, topic=origin, partition=partition, offset=offset,
                     retried_at=now or datetime.now(UTC), retried_by=_who())
    await bus.append(names.dead_letters, [Outgoing(MARKER_KEY, marker.model_dump_json().encode(),
                                                   partition=0)])
    letter.retried = marker
    log.info("deadletter.retried", letter=letter.id, stage=letter.stage, reason=letter.reason,
             topic=origin, partition=partition, offset=offset)
    return Outcome(letter.id, "dismissed" if dismiss else "retried", marker.describe())


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


class RetryInbox:
    """Ids ``telecase deadletter retry`` queued while ``telecase run`` holds the embedded log;
    the run's :func:`~telecase.ops.deadletter_watch.watch_dead_letters` re-drives them and
    removes them (a crash in between re-drives them again: the markers make that a no-op)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
        db.execute("CREATE TABLE IF NOT EXISTS retries (n INTEGER PRIMARY KEY AUTOINCREMENT, "
                   "letter TEXT NOT NULL, dismiss INTEGER NOT NULL)")
        return db

    def put(self, letter_ids: Iterable[str], *, dismiss: bool) -> list[int]:
        with contextlib.closing(self._connect()) as db:
            return [int(db.execute("INSERT INTO retries (letter, dismiss) VALUES (?, ?)",
                                   (i, int(dismiss))).lastrowid or 0) for i in letter_ids]

    def take(self) -> list[tuple[int, str, bool]]:
        if not self.path.exists():
            return []
        with contextlib.closing(self._connect()) as db:
            return [(int(n), str(i), bool(d)) for n, i, d in db.execute(
                "SELECT n, letter, dismiss FROM retries ORDER BY n")]

    def remove(self, rows: Iterable[int]) -> None:
        with contextlib.closing(self._connect()) as db:
            db.executemany("DELETE FROM retries WHERE n = ?", [(n,) for n in rows])


async def request_retry(settings: Settings, kind: RuntimeKind, letter_ids: Sequence[str],
                        reason: str | None, *, dry_run: bool = False, dismiss: bool = False,
                        wait: float = QUEUED_WAIT) -> list[Outcome]:
    """``telecase deadletter retry``: the letters named (ids, else ``reason``) re-driven, or
    dismissed. Embedded while ``telecase run`` holds the log, they are queued in the
    :class:`RetryInbox` and this waits (up to ``wait`` s) until the run has marked them."""
    def chosen(index: Index) -> list[Letter]:
        return ([find(index, i) for i in letter_ids] if letter_ids
                else select(index, reason=reason))

    try:
        async with open_runtime(settings, kind, read_only=dry_run) as rt:
            return await retry(rt.bus, rt.names, chosen(await read_letters(rt.bus, rt.names)),
                               dry_run=dry_run, dismiss=dismiss)
    except LogUnavailableError as exc:
        if kind is not RuntimeKind.EMBEDDED:
            raise
        held = str(exc)
    names = topic_names(settings)
    planned = [plan(names, x, dismiss=dismiss) for x in chosen(await load(settings, kind))]
    queued = [o.id for o in planned if o.action in ("would_retry", "would_dismiss")]
    if not queued:
        return planned
    inbox = RetryInbox(Path(settings.data_dir) / RETRY_INBOX)
    rows = await asyncio.to_thread(inbox.put, queued, dismiss=dismiss)
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        index = await load(settings, kind)
        done = {i: index.letters[i].retried for i in queued}
        if all(done.values()):
            break
        if asyncio.get_running_loop().time() > deadline:
            await asyncio.to_thread(inbox.remove, rows)
            raise DeadLetterError(f"cannot retry: {held} (a running `telecase run` re-drives "
                                  f"a queued retry within seconds; none did in {wait:.0f} s)")
        await asyncio.sleep(0.5)
    return [o if o.id not in done else Outcome(
        o.id, "dismissed" if dismiss else "retried", done[o.id].describe())  # type: ignore[union-attr]
        for o in planned]


def render_rows(letters: Iterable[Letter]) -> list[list[str]]:
    """Table rows for ``list``: id, failed at, stage, reason, origin, state, detail."""
    return [[x.id, f"{x.failed_at():%Y-%m-%d %H:%M:%S}", x.stage, x.reason, x.origin,
             "waiting" if x.retried is None else x.retried.describe(),
             str(x.fields.get("detail", ""))[:80]] for x in letters]

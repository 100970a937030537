"""Agents' commands on the Salesforce side (issue 7): Knowledge search, the Case's record of
what was sent, and telling an agent in Salesforce that a command sent nothing. Also where
Quick Text is read for the template catalog.

:class:`AgentToolsRunner` consumes ``ticket.events`` as a consumer group of its own
(``salesforce-agent-tools``) and acts on:

- ``knowledge.requested`` → one SOSL search (REST ``search``, simple-salesforce's
  ``sf.search``) for published articles in the configured language::

      FIND {refund policy} IN ALL FIELDS RETURNING Knowledge__kav(Id, KnowledgeArticleId, Title,
        Summary, UrlName, ArticleNumber, VersionNumber, Language
        WHERE PublishStatus = 'Online' AND Language = 'en_US' LIMIT 3)

  and what it found goes to ``salesforce.changes`` as a
  :class:`~streams.schema.knowledge.KnowledgeSearched` record (the worker turns it into the
  reply or the refusal, so a replay never searches again). SOSL rather than the Knowledge
  support API (``/support/knowledgeArticles?q=``): it names the object, fields, status and
  language explicitly, needs no ``Accept-Language`` header or channel, works for the
  integration user through simple-salesforce's ``search``, and is what the simulator serves.
  Reserved SOSL characters in the agent's words are escaped, so ``/kb`` text is always words.
- ``agent.replied`` with an ``article`` → a ``CaseArticle`` linking the Case and the article
  (``KnowledgeArticleId``, ``ArticleVersionNumber``): the Case records which article was sent.
  Creating a link that exists returns the existing one (Salesforce's documented behaviour), so
  a redelivered event links once.
- ``agent.replied`` with ``via="salesforce"`` and a ``template`` or ``article`` → a published
  CaseComment holding what the customer received ("Sent to the customer in Telegram (template
  pricing): ..."), so the Case shows the expansion next to the agent's ``/t`` comment. (A
  ``via="telegram"`` one is already a CaseComment: the outbound sync writes every Telegram
  reply.)
- ``agent_command.refused`` with ``via="salesforce"`` → an internal CaseComment
  (``IsPublished`` false) telling the agent why nothing was sent.

CaseComments are written as the integration user, so the change poller never reads them back,
and once: CaseComment takes no custom fields, so they go through the write ledger, its marker
and its crash recovery (:mod:`connectors.salesforce.comments`, key: the event id). The
Case is found by ``Telecase_Ticket_Id__c``; a Case the outbound sync has not created yet is
waited for (retried like an outage) for a while, then the event is dead-lettered.

Knowledge search is not essential: with a ``guard``
(:class:`~connectors.salesforce.limit_guard.LimitGuard`) that holds ``knowledge`` calls (the
org's daily API allocation nearly used up), a batch holding a search waits (retried like an
outage, nothing committed) until the guard allows searches again; the agent's ``/kb`` is
answered late, never wrongly "nothing found".

Errors: :class:`~connectors.errors.TransientError` keeps the batch and retries it after a
backoff; a search Salesforce refuses counts as "nothing found" (the agent is told); any other
refusal dead-letters that event with Salesforce's error and the rest of the batch goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from prometheus_client import Counter

from connectors.errors import PermanentError, TransientError
from connectors.raw_log import RawLog
from connectors.salesforce.api import SimpleSalesforceApi, Writer, record_error, waiting_policy
from connectors.salesforce.comments import MemoryWriteLedger, Note, NoteWriter, WriteLedger
from connectors.salesforce.limit_guard import LimitGuard
from connectors.salesforce.results import SyncResult
from streams.core.templates import Template, TemplateCatalog, name_of
from streams.runtime.bus import Bus, Outgoing, Record
from streams.runtime.lag import consume
from streams.runtime.retry import retry_after_of
from streams.runtime.topics import TopicNames
from streams.schema.deadletter import DeadLetter
from streams.schema.events import (
    AgentCommandRefused,
    AgentReplied,
    KnowledgeRequested,
    TicketEvent,
    UnknownEventError,
    decode_event,
)
from streams.schema.knowledge import FoundArticle, KnowledgeSearched

GROUP = "salesforce-agent-tools"
TICKET_ID = "Telecase_Ticket_Id__c"
log = structlog.get_logger("telecase.bootstrap.salesforce.agent_tools")
SEARCHES = Counter("telecase_knowledge_searches_total", "Knowledge searches run in Salesforce",
                   ["outcome"])  # found | none | refused
CASE_ARTICLES = Counter("telecase_case_articles_total", "CaseArticle links written")

_SOSL_RESERVED = re.compile(r"""([?&|!{}\[\]()^~*:\\"'+\-])""")


def escape_sosl(words: str) -> str:
    """``words`` with every SOSL reserved character escaped (they stay literal)."""
    return _SOSL_RESERVED.sub(r"\\\1", " ".join(words.split()))


def _soql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass(frozen=True)
class KnowledgeConfig:
    language: str = "en_US"
    sobject: str = "Knowledge__kav"
    """The article version object (``<prefix>__kav``; orgs may rename the prefix)."""
    article_url: str | None = None
    """Where customers read an article: a format string with ``{url_name}``, ``{id}``,
    ``{knowledge_article_id}``, ``{article_number}``, ``{language}``. ``None``: the article's
    Lightning page in the org (agents only: set it to your help center)."""
    max_results: int = 3

    def sosl(self, query: str) -> str:
        return (f"FIND {{{escape_sosl(query)}}} IN ALL FIELDS RETURNING {self.sobject}(Id, "
                "KnowledgeArticleId, Title, Summary, UrlName, ArticleNumber, VersionNumber, "
                f"Language WHERE PublishStatus = 'Online' AND Language = "
                f"{_soql_string(self.language)} LIMIT {self.max_results})")


class AgentToolsApi(SimpleSalesforceApi):
    """The calls the runner makes, over simple-salesforce (error mapping and session renewal
    of :class:`SimpleSalesforceApi`)."""

    def search(self, sosl: str) -> list[dict[str, Any]]:
        answer = self._call("search", sosl)
        if isinstance(answer, dict):
            return list(answer.get("searchRecords") or [])
        return list(answer or [])  # before API v37.0: a bare list

    def case_ids(self, tickets: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for start in range(0, len(tickets), 100):
            keys = ",".join(_soql_string(t) for t in tickets[start:start + 100])
            for row in self.query_all(f"SELECT Id, {TICKET_ID} FROM Case WHERE {TICKET_ID} "
                                      f"IN ({keys})"):
                found[row[TICKET_ID]] = row["Id"]
        return found

    def instance(self) -> str:
        return f"https://{getattr(self.sf, 'sf_instance', 'localhost')}"

    def quick_texts(self) -> list[dict[str, Any]]:
        """Every Quick Text (``Name`` and ``Message`` cannot be filtered in SOQL)."""
        return self.query_all("SELECT Id, Name, Message FROM QuickText ORDER BY CreatedDate")


def quick_text_catalog(rows: Sequence[dict[str, Any]]) -> TemplateCatalog:
    """Quick Text records as templates named by :func:`~streams.core.templates.name_of`
    (the oldest wins a name two share). One with invalid text is kept, so the agent who uses
    it is told what is wrong with it."""
    templates: dict[str, Template] = {}
    for row in rows:
        name = name_of(str(row.get("Name") or ""))
        if name and name not in templates:
            templates[name] = Template(name, str(row.get("Message") or ""), "quick_text",
                                       row.get("Id"))
    return TemplateCatalog(templates)


class _CaseMissing(TransientError):
    """The outbound sync has not created a ticket's Case yet."""


@dataclass
class _Work:
    """What one batch asks of Salesforce, and what it was refused."""

    searches: list[KnowledgeRequested] = field(default_factory=list)
    links: list[AgentReplied] = field(default_factory=list)
    comments: list[AgentReplied | AgentCommandRefused] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)

    @property
    def needs_cases(self) -> list[str]:
        return sorted({e.ticket_id for e in [*self.links, *self.comments]})


class AgentToolsRunner:
    def __init__(self, bus: Bus, names: TopicNames, api: AgentToolsApi, results: RawLog, *,
                 config: KnowledgeConfig | None = None, batch_max: int = 200,
                 max_backoff: float = 60.0, case_wait_attempts: int = 8,
                 ledger: WriteLedger | None = None, guard: LimitGuard | None = None) -> None:
        """``results``: where search results go (``salesforce.changes``); ``ledger``: where
        the CaseComments written are recorded (default: in memory); ``guard``: the limit
        guard that may hold searches."""
        self.bus, self.names, self.api, self.results = bus, names, api, results
        self.notes = NoteWriter(api, Writer(api, time.sleep),
                                ledger if ledger is not None else MemoryWriteLedger(),
                                sobject="CaseComment", body_field="CommentBody")
        self.config = config or KnowledgeConfig()
        self.batch_max, self.max_backoff = batch_max, max_backoff
        self.case_wait_attempts, self.guard = case_wait_attempts, guard
        self.case_ids: dict[str, str] = {}
        self.handled = 0

    async def run(self, stop: asyncio.Event) -> None:
        topic = self.names.ticket_events
        positions = await self.bus.committed(GROUP, topic)

        async def handle(partition: int, records: list[Record]) -> bool:
            if not await self._apply(records, stop):
                return False
            await self.bus.commit(GROUP, topic, {partition: records[-1].offset + 1})
            return True

        await consume(self.bus, topic, positions, handle, stop, group=GROUP,
                      batch_max=self.batch_max)

    async def _apply(self, records: list[Record], stop: asyncio.Event) -> bool:
        work, origin = _Work(), {}
        for rec in records:
            with contextlib.suppress(UnknownEventError, ValueError):
                event = decode_event(rec.value)  # undecodable: the projector dead-letters it
                if _sort(event, work):
                    origin[event.event_id] = rec
        if not (work.searches or work.links or work.comments):
            return True
        policy = waiting_policy(self.max_backoff)
        attempt, waited = 0, 0
        while True:
            try:
                found = await asyncio.to_thread(self._do, work,
                                                waited >= self.case_wait_attempts)
                break
            except TransientError as exc:
                waited += isinstance(exc, _CaseMissing)
                attempt += 1
                delay = policy.wait(attempt, retry_after_of(exc))
                log.warning("salesforce.agent_tools.retry", delay=delay, error=str(exc))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                if stop.is_set():
                    return False
        if found:
            await self.results.append(found)
            log.info("salesforce.agent_tools.searched", count=len(found))
        if work.rejected:
            await self._dead_letter(work.rejected, origin)
        self.handled += len(origin)
        return True

    # -- the Salesforce side (in a thread) -----------------------------------------------

    def _do(self, work: _Work, give_up_waiting: bool) -> list[KnowledgeSearched]:
        """Search, then link and comment; returns the search results. Idempotent: a retried
        batch redoes it all (a search made twice is appended twice, with one ``search_id``:
        the worker takes the first)."""
        work.rejected.clear()
        if work.searches and self.guard is not None:
            self.guard.hold("knowledge", retry_after=self.max_backoff)
        found = [self._search(e) for e in work.searches]
        if not work.needs_cases:
            return found
        missing = [t for t in work.needs_cases if t not in self.case_ids]
        if missing:
            self.case_ids.update(self.api.case_ids(missing))
        absent = [t for t in work.needs_cases if t not in self.case_ids]
        if absent and not give_up_waiting:
            raise _CaseMissing(f"no Case yet for {len(absent)} tickets (the sync is behind)",
                               retry_after=2.0)
        for event in [*work.links, *work.comments]:
            if event.ticket_id in absent:
                work.rejected.append((event.event_id, "no Case for this ticket"))
        self._link(work)
        self._comment(work)
        return found

    def _search(self, request: KnowledgeRequested) -> KnowledgeSearched:
        try:
            rows = self.api.search(self.config.sosl(request.query))
            SEARCHES.labels("found" if rows else "none").inc()
        except PermanentError as exc:  # a search Salesforce refuses: nothing found
            log.warning("salesforce.agent_tools.search_refused", event_id=request.event_id,
                        error=str(exc))
            SEARCHES.labels("refused").inc()
            rows = []
        return KnowledgeSearched(
            search_id=f"kb:{request.event_id}", ticket_id=request.ticket_id,
            request_event_id=request.event_id, query=request.query,
            language=self.config.language, articles=tuple(self._article(r) for r in rows),
            searched_at=datetime.now(UTC))

    def _article(self, row: dict[str, Any]) -> FoundArticle:
        fields = {"id": row["Id"], "knowledge_article_id": row.get("KnowledgeArticleId") or "",
                  "url_name": row.get("UrlName") or "",
                  "article_number": row.get("ArticleNumber") or "",
                  "language": row.get("Language") or self.config.language}
        url = (self.config.article_url.format(**fields) if self.config.article_url
               else f"{self.api.instance()}/lightning/r/{self.config.sobject}/{row['Id']}/view")
        version = row.get("VersionNumber")
        return FoundArticle(id=row["Id"], knowledge_article_id=fields["knowledge_article_id"],
                            title=str(row.get("Title") or ""),
                            summary=str(row.get("Summary") or ""),
                            url_name=row.get("UrlName"), url=url,
                            article_number=row.get("ArticleNumber"),
                            version_number=int(version) if version is not None else None,
                            language=fields["language"])

    def _link(self, work: _Work) -> None:
        rows: list[tuple[str, dict[str, Any]]] = []
        for reply in work.links:
            case_id = self.case_ids.get(reply.ticket_id)
            article = reply.article
            if case_id is None or article is None:
                continue
            body: dict[str, Any] = {"CaseId": case_id,
                                    "KnowledgeArticleId": article.knowledge_article_id}
            if article.version_number is not None:
                body["ArticleVersionNumber"] = article.version_number
            rows.append((reply.event_id, body))
        for start in range(0, len(rows), 200):
            chunk = rows[start:start + 200]
            answers = self.api.create_collection("CaseArticle", [r for _, r in chunk])
            for (event_id, _), answer in zip(chunk, answers, strict=True):
                if answer.get("success"):
                    CASE_ARTICLES.inc()
                else:
                    work.rejected.append((event_id, record_error(answer)[1]))

    def _comment(self, work: _Work) -> None:
        notes: list[Note] = []
        for event in work.comments:
            case_id = self.case_ids.get(event.ticket_id)
            if case_id is None:
                continue
            if isinstance(event, AgentCommandRefused):
                text, public = f"telecase: {event.detail}", False
            else:
                text, public = _sent_note(event), True
            notes.append(Note(event.event_id, event.event_id, case_id, text,
                              event.occurred_at, {"IsPublished": public}))
        result = SyncResult()
        self.notes.write(notes, result)
        work.rejected.extend(result.rejected)

    # -- the log side --------------------------------------------------------------------

    async def _dead_letter(self, rejected: list[tuple[str, str]],
                           origin: dict[str, Record]) -> None:
        now = datetime.now(UTC)
        letters = []
        for event_id, error in rejected:
            rec = origin[event_id]
            letter = DeadLetter(reason="salesforce_rejected", detail=error[:500],
                                consumer=GROUP, topic=rec.topic, partition=rec.partition,
                                offset=rec.offset, key=event_id,
                                payload_b64=DeadLetter.encode_payload(rec.value),
                                failed_at=now)
            letters.append(Outgoing(event_id.encode(), letter.model_dump_json().encode(),
                                    partition=0))
        await self.bus.append(self.names.dead_letters, letters)
        log.warning("salesforce.agent_tools.rejected", count=len(rejected))


def _sort(event: TicketEvent, work: _Work) -> bool:
    """File ``event`` under what it asks of Salesforce; ``False``: nothing."""
    if isinstance(event, KnowledgeRequested):
        work.searches.append(event)
    elif isinstance(event, AgentReplied) and (event.article or event.template):
        if event.article is not None:
            work.links.append(event)
        if event.via == "salesforce":
            work.comments.append(event)
        return event.article is not None or event.via == "salesforce"
    elif isinstance(event, AgentCommandRefused) and event.via == "salesforce":
        work.comments.append(event)
    else:
        return False
    return True


def _sent_note(reply: AgentReplied) -> str:
    if reply.template is not None:
        what = f"template {reply.template.name}"
    else:
        assert reply.article is not None
        what = f"Knowledge article \"{reply.article.title}\""
    return f"Sent to the customer in Telegram ({what}):\n{reply.text}"


"""Agents' commands in the ticket core, through the worker's folder: ``/t <name>`` becomes an
expanded reply or a refusal, ``/kb <query>`` a request whose search result becomes a linked
article or a refusal; each input is taken in once, whatever is re-read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from streams.core.templates import Template, TemplateCatalog
from streams.core.ticket import ThreadState
from streams.runtime.fold import Folded, Position, UpdateFolder
from streams.runtime.state_codec import dump_thread, load_thread
from streams.schema.envelope import RawTelegramUpdate
from streams.schema.events import (
    AgentCommandRefused,
    AgentReplied,
    KnowledgeRequested,
    TicketEvent,
    decode_event,
    encode_event,
)
from streams.schema.knowledge import FoundArticle, KnowledgeSearched
from streams.schema.salesforce import SalesforceChange
from tests.telegram_factory import BOT_ID, Script, forum, user

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ANN = user(501, "Ann", "ann")
ALEX = user(90, "Alex", "alex_sales")
CATALOG = TemplateCatalog.of([
    Template.make("pricing", "Hi {{customer_first_name|there}}, plans start at $10/seat. "
                             "— {{agent_name}}"),
    Template.make("case", "Your case number is {{case_number}}."),
])


class Store(dict[str, ThreadState]):
    def due_threads(self, partition: int, at: datetime) -> list[str]:
        return []


class Worker:
    def __init__(self, templates: TemplateCatalog = CATALOG) -> None:
        self.folder = UpdateFolder(frozenset({90}), templates=templates)
        self.store = Store()
        self.log: list[TicketEvent] = []

    def feed(self, payload: bytes) -> list[TicketEvent]:
        folded: Folded = self.folder.fold(payload, self.store,
                                          Position("raw", 0, 0, "chat:1"), T0)
        assert folded.dead_letter is None, folded.dead_letter
        for state in folded.states:  # through the codec, as a restarted worker reads them
            self.store[state.thread_key] = load_thread(dump_thread(state))
        self.log += folded.events
        return folded.events


def raw(update: dict[str, Any]) -> bytes:
    return RawTelegramUpdate(bot_id=BOT_ID, source="webhook", received_at=T0,
                             update=update).to_bytes()


def comment(ticket_id: str, n: int, body: str) -> bytes:
    at = T0 + timedelta(minutes=n)
    return SalesforceChange(change="case_comment", change_id=f"comment:00a{n}",
                            ticket_id=ticket_id, case_id="500A", observed_at=at,
                            occurred_at=at, comment_id=f"00a{n}", comment_body=body,
                            actor_id="005D", actor_name="Dana Agent").to_bytes()


def linked(ticket_id: str) -> bytes:
    return SalesforceChange(change="case_linked", change_id="linked:500A", ticket_id=ticket_id,
                            case_id="500A", case_number="00001001", observed_at=T0,
                            occurred_at=T0).to_bytes()


def topic(worker: Worker) -> tuple[Script, str, int]:
    s = Script(forum())
    created = s.create_topic(ANN, "Pricing", 100)
    thread = created["message"]["message_id"]
    worker.feed(raw(created))
    worker.feed(raw(s.write(ANN, "How much?", 101, thread)))
    return s, f"tg:{forum()['id']}:t{thread}", thread


def only(events: list[TicketEvent]) -> TicketEvent:
    assert len(events) == 1, [e.type for e in events]
    return events[0]


def ticket(worker: Worker) -> Any:
    (state,) = worker.store.values()
    return state.current


def test_a_template_from_salesforce_is_expanded_once_and_the_comment_never_sent() -> None:
    w = Worker()
    _, tid, thread = topic(w)
    w.feed(linked(tid))
    reply = only(w.feed(comment(tid, 1, "  /t pricing \n")))
    assert isinstance(reply, AgentReplied) and reply.via == "salesforce"
    assert reply.text == "Hi Ann, plans start at $10/seat. — Dana Agent"
    assert reply.template is not None and (reply.template.name, reply.template.source) == (
        "pricing", "file")
    assert (reply.chat_id, reply.thread_id, reply.comment_id) == (forum()["id"], thread, "00a1")
    assert reply.sent_by_telecase and reply.actor.kind == "agent"
    assert w.feed(comment(tid, 1, "/t pricing")) == []  # the poller re-read it
    assert ticket(w).first_response_at == reply.occurred_at  # a reply like any other
    case = only(w.feed(comment(tid, 2, "/T CASE")))
    assert isinstance(case, AgentReplied) and case.text == "Your case number is 00001001."


def test_a_template_from_telegram_replaces_the_agents_command() -> None:
    w = Worker()
    s, _, thread = topic(w)
    command = s.write(ALEX, "/t@desk_bot pricing", 102, thread)
    reply = only(w.feed(raw(command)))
    assert isinstance(reply, AgentReplied) and reply.via == "telegram"
    assert reply.text == "Hi Ann, plans start at $10/seat. — Alex"
    assert reply.message_id == command["message"]["message_id"]
    assert reply.sent_by_telecase  # the customer gets the expansion from the bot
    assert w.feed(raw(command)) == [] and w.feed(raw({**command, "update_id": 9999})) == []
    plain = only(w.feed(raw(s.write(ALEX, "Anything else?", 103, thread))))
    assert isinstance(plain, AgentReplied) and not plain.sent_by_telecase


def test_unknown_template_or_missing_variable_tells_the_agent_and_sends_nothing() -> None:
    w = Worker()
    s, tid, _ = topic(w)
    refused = only(w.feed(comment(tid, 1, "/t pricng")))
    assert isinstance(refused, AgentCommandRefused) and refused.reason == "unknown_template"
    assert "pricng" in refused.detail and "pricing" in refused.detail
    assert refused.via == "salesforce" and refused.comment_id == "00a1"
    assert w.feed(comment(tid, 1, "/t pricng")) == []
    missing = only(w.feed(comment(tid, 2, "/t case")))  # no Case linked yet
    assert isinstance(missing, AgentCommandRefused) and missing.reason == "missing_variable"
    assert "{{case_number}}" in missing.detail
    usage = only(w.feed(raw(s.write(ALEX, "/t two words", 104, 1))))
    assert isinstance(usage, AgentCommandRefused) and usage.reason == "usage"
    assert usage.via == "telegram" and usage.agent.telegram_user_id == 90
    assert not any(isinstance(e, AgentReplied) for e in w.log)
    assert ticket(w).first_response_at is None  # nothing reached the customer


def test_an_invalid_quick_text_is_refused_when_used() -> None:
    bad = Template("qt", "Hi {{nosuch}}", "quick_text", "574A")  # as loaded, unchecked
    w = Worker(TemplateCatalog.of([bad]))
    _, tid, _ = topic(w)
    refused = only(w.feed(comment(tid, 1, "/t qt")))
    assert isinstance(refused, AgentCommandRefused) and refused.reason == "invalid_template"
    assert "unknown variable {{nosuch}}" in refused.detail


def searched(tid: str, request: str, *articles: FoundArticle, n: int = 0) -> bytes:
    return KnowledgeSearched(search_id=f"kb:{request}", ticket_id=tid, request_event_id=request,
                             query="refund policy", language="en_US", articles=articles,
                             searched_at=T0 + timedelta(minutes=10 + n)).to_bytes()


ARTICLE = FoundArticle(id="ka0A", knowledge_article_id="kA0A", title="Refund policy",
                       summary="Refunds within 30 days of purchase. " * 20, url_name="refunds",
                       url="https://help.example.com/s/article/refunds", version_number=1,
                       language="en_US")


def test_a_knowledge_request_becomes_a_linked_article_once() -> None:
    w = Worker()
    s, tid, thread = topic(w)
    request = only(w.feed(raw(s.write(ALEX, "/kb  refund   policy", 102, thread))))
    assert isinstance(request, KnowledgeRequested) and request.query == "refund policy"
    assert [p.request_event_id for p in ticket(w).pending_knowledge] == [request.event_id]
    reply = only(w.feed(searched(tid, request.event_id, ARTICLE)))
    assert isinstance(reply, AgentReplied) and reply.article is not None
    assert reply.via == "telegram" and reply.sent_by_telecase
    assert reply.article.knowledge_article_id == "kA0A" and reply.thread_id == thread
    assert reply.text.startswith("Refund policy\n\n") and reply.text.endswith(ARTICLE.url)
    assert len(reply.text) < 400  # a short summary, not the article
    assert ticket(w).pending_knowledge == ()
    assert w.feed(searched(tid, request.event_id, ARTICLE, n=1)) == []  # searched twice


def test_no_matching_article_tells_the_agent() -> None:
    w = Worker()
    _, tid, _ = topic(w)
    request = only(w.feed(comment(tid, 1, "/kb warp drive")))
    assert isinstance(request, KnowledgeRequested) and request.via == "salesforce"
    refused = only(w.feed(searched(tid, request.event_id)))
    assert isinstance(refused, AgentCommandRefused) and refused.reason == "no_article"
    assert refused.request_event_id == request.event_id and refused.via == "salesforce"
    assert ticket(w).pending_knowledge == () and ticket(w).first_response_at is None
    short = only(w.feed(comment(tid, 2, "/kb")))
    assert isinstance(short, AgentCommandRefused) and short.reason == "usage"


def test_an_agent_reply_of_version_1_still_decodes() -> None:
    w = Worker()
    s, _, thread = topic(w)
    reply = only(w.feed(raw(s.write(ALEX, "Hello", 102, thread))))
    old = reply.model_dump(mode="json")
    del old["template"], old["article"]
    old["version"] = 1
    again = decode_event(old)
    assert isinstance(again, AgentReplied) and again.version == 2 and again.template is None
    assert decode_event(encode_event(reply)) == reply


def test_the_audit_trail_says_what_each_command_did() -> None:
    from projections.audit import describe
    w = Worker()
    s, tid, thread = topic(w)
    w.feed(comment(tid, 1, "/t pricing"))
    w.feed(comment(tid, 2, "/t pricng"))
    request = only(w.feed(raw(s.write(ALEX, "/kb refund policy", 102, thread))))
    w.feed(searched(tid, request.event_id, ARTICLE))
    said = [describe(e) for e in w.log[2:]]
    assert said == [
        "Dana Agent replied in Salesforce with template pricing (file)",
        "Dana Agent's /t pricng from Salesforce sent nothing (unknown template)",
        '@alex_sales searched Knowledge for "refund policy" from Telegram',
        '@alex_sales sent Knowledge article "Refund policy" (kA0A) from Telegram']

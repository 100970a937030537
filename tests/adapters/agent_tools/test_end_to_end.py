"""Agents' commands end to end on the embedded runtime (``telecase run`` as a process), through
the Telegram and Salesforce simulators: templates used from Salesforce and from the Telegram
topic reach the customer expanded; an unknown template or a missing variable tells the agent
and sends nothing; ``/kb`` links an article (the Case records it) or tells the agent that
nothing matched."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from streams.schema.events import AgentCommandRefused, AgentReplied
from tests.e2e.embedded.conftest import EmbeddedDeployment, SimulatorThread
from tests.e2e.kafka.conftest import SalesforceThread, free_port, salesforce_scenario
from tests.e2e.kafka.test_ticket_pipeline import enrol_agent, ticket_log
from tests.infra import wait_for

TEMPLATES = '''
[templates.pricing]
text = """Hi {{customer_first_name | there}}, Team is $10 a seat. \\
{{agent_name}}, case {{case_number}}"""
[templates.tier]
text = "Your tickets are handled at the {{tier}} level."
'''
ARTICLE_URL = "https://help.example.com/s/article/{url_name}"


@pytest.fixture
def salesforce(tmp_path: Path) -> Iterator[SalesforceThread]:
    sf = SalesforceThread(tmp_path / "sf-certs")
    try:
        yield sf
    finally:
        sf.close()


def start(embedded: EmbeddedDeployment, telegram: SimulatorThread, salesforce: SalesforceThread,
          tmp_path: Path, *, quick_text: dict[str, str] | None = None,
          **extra: str) -> dict[str, Any]:
    """``telecase run`` with templates, Knowledge links, an agent on the roster; then Ann's
    topic becomes a linked Case. Returns where it all is (``salesforce_scenario``), the
    agent's Telegram id and a Salesforce agent."""
    templates = tmp_path / "templates.toml"
    templates.write_text(TEMPLATES)
    agent_tg = enrol_agent(telegram)
    embedded.agent_ids = str(agent_tg)
    for name, message in (quick_text or {}).items():
        salesforce.act(lambda d, n=name, m=message: d.create_quick_text(n, m))
    if quick_text:
        extra["TELECASE_TEMPLATES_QUICK_TEXT"] = "true"
    embedded.run("run", **salesforce.env(), TELECASE_SALESFORCE_POLL_INTERVAL="0.5",
                 TELECASE_TELEGRAM_API_BASE=telegram.base_url,
                 TELECASE_TEMPLATES_FILE=str(templates),
                 TELECASE_KNOWLEDGE_ARTICLE_URL=ARTICLE_URL, **extra)
    where = salesforce_scenario(telegram, salesforce, embedded.webhook_url,
                                embedded.webhook_secret)
    wait_for(lambda: [r["salesforce_case_number"] for r in embedded.cases()]
             == [where["case"]["CaseNumber"]], 60, what="the Case linked back")
    agent = salesforce.act(lambda d: d.create_user("Dana Agent"))
    return {**where, "agent_tg": agent_tg, "agent": agent}


def sent(telegram: SimulatorThread, chat: int, text: str) -> list[dict[str, Any]]:
    return [m for m in telegram.drive(lambda tg: tg.sent_messages(chat))
            if text in (m.get("text") or "")]


def comments(salesforce: SalesforceThread, text: str) -> list[dict[str, Any]]:
    return [c for c in salesforce.records("CaseComment") if text in (c["CommentBody"] or "")]


def note(salesforce: SalesforceThread, case_id: str, text: str, agent_id: str) -> None:
    """An agent's internal CaseComment (where commands belong)."""
    salesforce.act(lambda d: d.post_case_comment(case_id, text, user_id=agent_id,
                                                 is_published=False))


def test_templates_from_salesforce_and_telegram_reach_the_customer_expanded(
        embedded: EmbeddedDeployment, telegram: SimulatorThread, salesforce: SalesforceThread,
        tmp_path: Path) -> None:
    metrics = free_port()
    w = start(embedded, telegram, salesforce, tmp_path, TELECASE_METRICS_PORT=str(metrics),
              quick_text={"Welcome Back": "Welcome back, {!Contact.FirstName}! ({!User.Name})",
                          "Pricing": "the file's pricing wins over this one"})
    forum, thread, case = w["forum_id"], w["thread_id"], w["case"]
    agent_id = w["agent"]["Id"]
    expected = f"Hi Ann, Team is $10 a seat. Dana Agent, case {case['CaseNumber']}"

    note(salesforce, case["Id"], "/t pricing", agent_id)  # from Salesforce
    wait_for(lambda: sent(telegram, forum, expected), 60, what="the expansion in Telegram")
    [message] = sent(telegram, forum, expected)
    assert message["message_thread_id"] == thread
    wait_for(lambda: comments(salesforce, "Sent to the customer in Telegram (template pricing)"),
             60, what="the Case showing what was sent")

    command = telegram.drive(lambda tg: tg.write(forum, w["agent_tg"], "/t pricing", thread))
    from_tg = f"Hi Ann, Team is $10 a seat. Alex, case {case['CaseNumber']}"
    wait_for(lambda: sent(telegram, forum, from_tg), 60, what="the bot's expansion")
    # the agent's command leaves the customer's topic once the expansion is sent
    wait_for(lambda: command.message["message_id"] in telegram.drive(
        lambda tg: tg.deleted_messages(forum)), 30, what="the command message deleted")
    wait_for(lambda: comments(salesforce, from_tg), 60, what="the expansion as a CaseComment")
    wait_for(lambda: [r["agent_reply_count"] for r in embedded.cases()] == [2], 30,
             what="both counted as replies")

    replies = [e for e in ticket_log(embedded)[f"tg:{forum}:t{thread}"]
               if isinstance(e, AgentReplied)]
    assert [(r.via, r.template and r.template.name) for r in replies] == [
        ("salesforce", "pricing"), ("telegram", "pricing")]
    assert not sent(telegram, forum, "/t pricing") and not comments(salesforce, "/t pricing\n")
    assert not sent(telegram, forum, "wins over")

    note(salesforce, case["Id"], "/t welcome-back", agent_id)  # a Quick Text, merge fields
    wait_for(lambda: sent(telegram, forum, "Welcome back, Ann! (Dana Agent)"), 60,
             what="the Quick Text expanded")
    last = ticket_log(embedded)[f"tg:{forum}:t{thread}"][-1]
    assert isinstance(last, AgentReplied) and last.template is not None
    assert (last.template.name, last.template.source) == ("welcome-back", "quick_text")
    assert (last.template.id or "").startswith("574")
    scraped = httpx.get(f"http://127.0.0.1:{metrics}/metrics", timeout=10).text
    assert 'telecase_templates_used_total{source="file",template="pricing",via="salesforce"}' \
        ' 1.0' in scraped
    assert 'telecase_templates_used_total{source="file",template="pricing",via="telegram"}' \
        ' 1.0' in scraped


def test_an_unknown_template_or_missing_variable_tells_the_agent_and_sends_nothing(
        embedded: EmbeddedDeployment, telegram: SimulatorThread, salesforce: SalesforceThread,
        tmp_path: Path) -> None:
    w = start(embedded, telegram, salesforce, tmp_path)
    forum, thread, case = w["forum_id"], w["thread_id"], w["case"]
    before = len(telegram.drive(lambda tg: tg.sent_messages(forum)))

    note(salesforce, case["Id"], "/t pricng", w["agent"]["Id"])
    wait_for(lambda: comments(salesforce, "There is no template called 'pricng'"), 60,
             what="the agent told on the Case")
    [told] = comments(salesforce, "There is no template called 'pricng'")
    assert told["IsPublished"] is False and told["ParentId"] == case["Id"]
    note(salesforce, case["Id"], "/t tier", w["agent"]["Id"])  # no SLA policy: no tier
    wait_for(lambda: comments(salesforce, "needs {{tier}}"), 60, what="the missing variable")

    telegram.drive(lambda tg: tg.create_private_chat(w["agent_tg"]))  # Alex started the bot
    telegram.drive(lambda tg: tg.write(forum, w["agent_tg"], "/t nope", thread))
    wait_for(lambda: sent(telegram, w["agent_tg"], "There is no template called 'nope'"), 60,
             what="Alex told privately")
    refused = [e for e in ticket_log(embedded)[f"tg:{forum}:t{thread}"]
               if isinstance(e, AgentCommandRefused)]
    assert [(e.via, e.reason) for e in refused] == [
        ("salesforce", "unknown_template"), ("salesforce", "missing_variable"),
        ("telegram", "unknown_template")]
    assert len(telegram.drive(lambda tg: tg.sent_messages(forum))) == before  # nothing sent
    assert [r["agent_reply_count"] for r in embedded.cases()] == [0]
    assert not comments(salesforce, "/t nope")  # the command is no reply on the Case either


def test_knowledge_links_reach_the_customer_and_the_case_records_the_article(
        embedded: EmbeddedDeployment, telegram: SimulatorThread, salesforce: SalesforceThread,
        tmp_path: Path) -> None:
    w = start(embedded, telegram, salesforce, tmp_path)
    forum, thread, case = w["forum_id"], w["thread_id"], w["case"]
    articles = {a["UrlName"]: a for a in salesforce.records("Knowledge__kav")}
    refund, password = articles["refund-policy"], articles["reset-your-password"]

    note(salesforce, case["Id"], "/kb refund policy", w["agent"]["Id"])
    link = "https://help.example.com/s/article/refund-policy"
    wait_for(lambda: sent(telegram, forum, link), 60, what="the article in Telegram")
    [message] = sent(telegram, forum, link)
    assert "Refund policy" in message["text"] and "within 30 days" in message["text"]
    assert message["message_thread_id"] == thread
    telegram.drive(lambda tg: tg.write(forum, w["agent_tg"], "/kb reset password", thread))
    wait_for(lambda: sent(telegram, forum, "/s/article/reset-your-password"), 60,
             what="the article asked for in Telegram")
    wait_for(lambda: len(salesforce.records("CaseArticle")) == 2, 60, what="the CaseArticles")
    assert sorted((a["CaseId"], a["KnowledgeArticleId"])
                  for a in salesforce.records("CaseArticle")) == sorted(
        [(case["Id"], refund["KnowledgeArticleId"]),
         (case["Id"], password["KnowledgeArticleId"])])

    before = len(telegram.drive(lambda tg: tg.sent_messages(forum)))
    note(salesforce, case["Id"], "/kb warp drive", w["agent"]["Id"])
    wait_for(lambda: comments(salesforce, "No published Knowledge article matches 'warp drive'"),
             60, what="the agent told nothing matched")
    replies = [e for e in ticket_log(embedded)[f"tg:{forum}:t{thread}"]
               if isinstance(e, AgentReplied)]
    assert [(r.via, r.article and r.article.knowledge_article_id) for r in replies] == [
        ("salesforce", refund["KnowledgeArticleId"]),
        ("telegram", password["KnowledgeArticleId"])]
    assert len(telegram.drive(lambda tg: tg.sent_messages(forum))) == before
    assert len(salesforce.records("CaseArticle")) == 2

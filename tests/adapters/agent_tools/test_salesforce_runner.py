"""The Salesforce side of agents' commands, in one process: the embedded log, the runner,
the simulated org (simple-salesforce in worker threads). Searches become records for the
worker; a Case that never appears dead-letters the event instead of blocking the rest."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from simple_salesforce import Salesforce

from connectors.raw_log import BusRawLog
from connectors.salesforce.comments import marked
from connectors.salesforce.knowledge import (
    AgentToolsApi,
    AgentToolsRunner,
    KnowledgeConfig,
    escape_sosl,
    quick_text_catalog,
)
from simulators.salesforce import SalesforceSimulator, requests_session
from streams.runtime.bus import Outgoing
from streams.runtime.embedded.log import EmbeddedLog
from streams.runtime.topics import TopicNames
from streams.schema.deadletter import DeadLetter
from streams.schema.events import (
    Actor,
    Agent,
    AgentCommandRefused,
    ArticleRef,
    KnowledgeRequested,
    SourceRef,
    TicketEvent,
    encode_event,
)
from streams.schema.knowledge import KnowledgeSearched
from tests.adapters.agent_tools.test_mirror_notices import templated

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
CHAT = -1001000000001


def test_reserved_characters_stay_words() -> None:
    assert escape_sosl('refund  (50%) -"x"') == 'refund \\(50%\\) \\-\\"x\\"'
    config = KnowledgeConfig(language="de_DE", sobject="Help__kav")
    assert config.sosl("a'b") == (
        "FIND {a\\'b} IN ALL FIELDS RETURNING Help__kav(Id, KnowledgeArticleId, Title, Summary, "
        "UrlName, ArticleNumber, VersionNumber, Language WHERE PublishStatus = 'Online' AND "
        "Language = 'de_DE' LIMIT 3)")


def test_quick_text_names_and_invalid_ones() -> None:
    catalog = quick_text_catalog([
        {"Id": "574A", "Name": "Refund Policy", "Message": "Hi {!Contact.FirstName}"},
        {"Id": "574B", "Name": "refund policy", "Message": "a later duplicate"},
        {"Id": "574C", "Name": "Broken", "Message": "Hi {{nme}}"}])
    assert catalog.get("refund-policy").id == "574A"
    assert catalog.get("broken").problem is not None  # kept: the agent is told why


@pytest.fixture
async def org(tmp_path: Path) -> AsyncIterator[tuple[SalesforceSimulator, AgentToolsApi]]:
    async with SalesforceSimulator(cert_dir=tmp_path / "certs") as sim:
        session = requests_session(sim.base_url, sim.ca_file)
        sf = await asyncio.to_thread(Salesforce, username=sim.username, password=sim.password,
                                     security_token=sim.security_token, session=session)
        yield sim, AgentToolsApi(sf)
        session.close()


def _envelope(ticket: str, seq: int) -> dict[str, Any]:
    return {"event_id": f"{ticket}#{seq}", "ticket_id": ticket, "seq": seq, "occurred_at": T0,
            "recorded_at": T0, "source": SourceRef(kind="salesforce", change_id=f"c{seq}"),
            "actor": Actor(kind="agent", id="005D"), "via": "salesforce",
            "agent": Agent(salesforce_user_id="005D", display_name="Dana"),
            "chat_id": CHAT, "thread_id": 7}


async def test_searches_are_recorded_and_a_missing_case_is_dead_lettered(
        org: tuple[SalesforceSimulator, AgentToolsApi], tmp_path: Path) -> None:
    sim, api = org
    has_case, no_case = f"tg:{CHAT}:t7", f"tg:{CHAT}:t8"
    case = await asyncio.to_thread(api.sf.Case.create, {"Subject": "Refunds",
                                                        "Telecase_Ticket_Id__c": has_case})
    bus = await EmbeddedLog.open(tmp_path / "log.sqlite")
    names = TopicNames()
    try:
        events: list[TicketEvent] = [
            KnowledgeRequested(**_envelope(has_case, 3), query="refund policy"),
            AgentCommandRefused(**_envelope(has_case, 4), command="template", argument="x",
                                reason="unknown_template", detail="There is no template 'x'."),
            templated(no_case, 3, CHAT, 8, template=False).model_copy(update={
                "article": ArticleRef(request_event_id="r", query="q", id="ka0X",
                                      knowledge_article_id="kA0X", title="T", url="u")})]
        await bus.append(names.ticket_events, [Outgoing(e.ticket_id.encode(), encode_event(e))
                                               for e in events])
        runner = AgentToolsRunner(bus, names, api, BusRawLog(bus, names.salesforce_changes),
                                  max_backoff=0.05, case_wait_attempts=2)
        stop = asyncio.Event()
        task = asyncio.create_task(runner.run(stop))
        for _ in range(400):
            if await bus.read(names.dead_letters, 0, 0, 10):
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 10)

        [record] = await bus.read(names.salesforce_changes, 0, 0, 10)
        found = KnowledgeSearched.model_validate_json(record.value)
        assert (found.request_event_id, found.language) == (f"{has_case}#3", "en_US")
        assert [a.title for a in found.articles] == ["Refund policy"]
        assert found.articles[0].url.endswith(f"/lightning/r/Knowledge__kav/"
                                              f"{found.articles[0].id}/view")
        [letter] = [DeadLetter.model_validate_json(r.value)
                    for r in await bus.read(names.dead_letters, 0, 0, 10)]
        assert (letter.key, letter.detail) == (f"{no_case}#3", "no Case for this ticket")
        [told] = [c for c in sim.org.store.all("CaseComment")
                  if c.fields["ParentId"] == case["id"]]
        assert told.fields["IsPublished"] is False
        assert told.fields["CommentBody"] == marked("telecase: There is no template 'x'.",
                                                    f"{has_case}#4")
        assert await bus.committed("salesforce-agent-tools", names.ticket_events) == {0: 3}
    finally:
        await bus.close()

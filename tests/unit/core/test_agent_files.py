"""An agent's File on the Case becomes one ``agent.file_shared`` event for the ticket's thread,
however many times the poller reads it (issue 16 item 6)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from projections.audit import describe
from streams.core.ticket import ApplySalesforceChange, DecisionError, decide
from streams.schema.events import AgentFileShared, decode_event, encode_event
from streams.schema.salesforce import SalesforceChange
from tests.unit.core.test_salesforce_changes import T0, apply, opened_topic
from tests.unit.core.test_ticket_core import NOW


def shared(ticket_id: str, version: str = "068A", **fields: object) -> SalesforceChange:
    return SalesforceChange(
        change="case_file", change_id=f"file:{version}:500A", ticket_id=ticket_id,
        case_id="500A", observed_at=T0, occurred_at=T0 + timedelta(seconds=1),
        actor_id="005AGENT", actor_name="Alex Agent", **{
            "file_version_id": version, "file_title": "prices", "file_extension": "pdf",
            "file_type": "PDF", "file_size": 2048, **fields})


def test_an_agents_file_is_shared_once_into_the_tickets_thread() -> None:
    state, tid, thread = opened_topic()
    state, log = apply(state, shared(tid), shared(tid), shared(tid, "068B", file_title="b.png",
                                                                file_extension="png"))
    assert [e.type for e in log] == ["agent.file_shared", "agent.file_shared"]
    first, second = log
    assert isinstance(first, AgentFileShared) and isinstance(second, AgentFileShared)
    assert state.current is not None and first.chat_id == state.current.chat_id
    assert (first.thread_id, first.case_id, first.version_id) == (thread, "500A", "068A")
    assert (first.file_name, second.file_name) == ("prices.pdf", "b.png")
    assert (first.agent.display_name, first.file_type, first.file_size) == ("Alex Agent",
                                                                           "PDF", 2048)
    assert decode_event(encode_event(first)) == first
    assert state.current is not None and state.current.files_shared == {"068A", "068B"}


def test_a_case_file_without_a_version_is_refused() -> None:
    state, tid, _ = opened_topic()
    with pytest.raises(DecisionError, match="without file_version_id"):
        decide(ApplySalesforceChange(shared(tid, file_version_id=None), NOW), state)


def test_the_audit_trail_names_the_agent_and_the_file() -> None:
    state, tid, _ = opened_topic()
    _, [event] = apply(state, shared(tid))
    assert describe(event) == "Alex Agent shared a File from Salesforce: prices.pdf"

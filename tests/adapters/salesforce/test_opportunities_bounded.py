"""The deals' memory stays bounded (connectors.salesforce.opportunities): a closed ticket
whose closed stage is written, or that is no deal, leaves the fold for a bounded set of
recent closed ones; a reopened deal kept there goes back to its replied stage, and one
forgotten is found in Salesforce again and followed. On the Salesforce simulator."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from connectors.salesforce.case_sync import CaseSync, SimpleSalesforceApi
from simulators.salesforce import SalesforceDriver
from streams.schema.events import CaseOwnerChanged, TicketEvent, TopicReopened
from tests.adapters.salesforce.test_case_sync import conversation, customer
from tests.adapters.salesforce.test_case_sync_intake import intake_ticket
from tests.adapters.salesforce.test_opportunities import (
    apply,
    closed,
    deals,
    later,
    replied,
)

DEAL = "tg:50:p:1"


async def stages(driver: SalesforceDriver) -> list[str]:
    return [d["StageName"] for d in await driver.records("Opportunity")]


async def test_many_closed_tickets_leave_only_a_bounded_few(sf: Any) -> None:
    target = deals(sf, closed_max=5)
    for n in range(60):  # small talk: no deals, each opened and closed
        ticket = f"tg:-100:t{n}"
        events: list[TicketEvent] = [*conversation(ticket, customer(900 + n), 0),
                                     closed(ticket, 2)]
        assert (await apply(target, events)).rejected == []
    still_open = conversation("tg:-100:open", customer(7), 0)
    await apply(target, still_open)
    assert set(target.deals) == {"tg:-100:open"}
    assert len(target.closed) == 5


@pytest.mark.parametrize("closed_max", [10, 0], ids=["kept", "forgotten"])
async def test_a_reopened_deal_is_followed_after_pruning(
        sf: Any, driver: SalesforceDriver, closed_max: int) -> None:
    opening = intake_ticket(DEAL, 50)
    await asyncio.to_thread(CaseSync(SimpleSalesforceApi(sf)).apply, opening)
    target = deals(sf, closed_max=closed_max)
    steps: list[list[TicketEvent]] = [opening, [replied(DEAL, 2)], [closed(DEAL, 3)]]
    for events in steps:
        assert (await apply(target, events)).rejected == []
    assert await stages(driver) == ["Closed Won"]
    assert DEAL not in target.deals  # settled: pruned

    assert (await apply(target, [TopicReopened(message_id=99, **later(DEAL, 4, 70))])
            ).rejected == []
    # kept: it remembers the reply; forgotten: found in Salesforce, the opened stage
    assert await stages(driver) == ["Needs Analysis" if closed_max else "Qualification"]
    assert DEAL in target.deals and len(await driver.records("Opportunity")) == 1
    await apply(target, [closed(DEAL, 5)])
    assert await stages(driver) == ["Closed Won"]


@pytest.mark.parametrize("fresh", [False, True], ids=["forgotten", "restarted"])
async def test_an_event_that_is_no_step_leaves_a_closed_deals_stage_alone(
        sf: Any, driver: SalesforceDriver, fresh: bool) -> None:
    """An owner change on the closed Case (or any event that says nothing of the ticket's
    step) reaching an instance that no longer holds the deal, or never did, writes nothing:
    before, the deal started over at the opened stage and took Closed Won back to
    Qualification."""
    opening = intake_ticket(DEAL, 50)
    await asyncio.to_thread(CaseSync(SimpleSalesforceApi(sf)).apply, opening)
    target = deals(sf, closed_max=0)
    steps: list[list[TicketEvent]] = [opening, [replied(DEAL, 2)], [closed(DEAL, 3)]]
    for events in steps:
        assert (await apply(target, events)).rejected == []
    assert await stages(driver) == ["Closed Won"]
    if fresh:
        target = deals(sf)
    owner = CaseOwnerChanged(owner_id="005000000000009AAA", owner_name="Bo",
                             previous_owner_id=None, **later(DEAL, 4, 90))
    assert (await apply(target, [owner])).rejected == []
    assert await stages(driver) == ["Closed Won"]
    assert DEAL not in target.deals  # nothing kept for it either
    await apply(target, [TopicReopened(message_id=99, **later(DEAL, 5, 95))])
    assert await stages(driver) == ["Qualification"]  # a step: followed again

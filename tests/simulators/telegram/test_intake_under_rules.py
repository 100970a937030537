"""The intake messenger against the simulator's rules: a team forum where the bot lacks
``can_manage_topics`` (the summary topic is refused, dead-lettered with the missing right,
logged and counted), and 429 on each method it calls (waited out, nothing lost or doubled)."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from streams.schema.deadletter import DeadLetter
from tests.adapters.telegram_out.conftest import harness
from tests.adapters.telegram_out.test_intake_messenger import (
    asked,
    messenger,
    opened,
    run_until,
)


async def test_a_team_forum_without_can_manage_topics_is_refused_with_the_reason(
        tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        team = await h.tg.create_forum("Team")
        ann = await h.tg.create_user("Ann", username="ann")
        await h.tg.set_bot_rights(team["id"], can_manage_topics=False)
        before = REGISTRY.get_sample_value("telecase_telegram_rights_missing_total",
                                           {"method": "createForumTopic"}) or 0.0
        await h.append(opened(ann["id"]))

        async def dead_lettered() -> bool:
            return bool(await h.records(h.names.dead_letters))

        await run_until(h, messenger(h, team["id"]), dead_lettered)
        [letter] = [DeadLetter.model_validate_json(r.value)
                    for r in await h.records(h.names.dead_letters)]
        assert letter.reason == "topic_not_created"
        assert letter.detail == "Bad Request: not enough rights to create a topic"
        assert REGISTRY.get_sample_value("telecase_telegram_rights_missing_total",
                                         {"method": "createForumTopic"}) == before + 1
        assert await h.tg.topics(team["id"]) == []


@pytest.mark.parametrize("method", ["sendMessage", "createForumTopic"])
async def test_a_429_on_any_method_is_waited_out(tmp_path: Path, method: str) -> None:
    async with harness(tmp_path) as h:
        team = await h.tg.create_forum("Team")
        ann = await h.tg.create_user("Ann", username="ann")
        await h.tg.create_private_chat(ann["id"])
        await h.tg.fail_next(1, 429, methods=[method], retry_after=1)
        await h.append(asked(ann["id"], 2, "region"), opened(ann["id"]))

        async def both_sent() -> bool:
            return (len(await h.sent(ann["id"])) >= 1 and len(await h.sent(team["id"])) >= 1)

        await run_until(h, messenger(h, team["id"]), both_sent)
        assert len(await h.sent(ann["id"])) == 1 and len(await h.sent(team["id"])) == 1
        assert len(await h.tg.topics(team["id"])) == 1
        assert await h.records(h.names.dead_letters) == []

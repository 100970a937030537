"""parse_mode=MarkdownV2 as the Bot API documents it: entities, escapes, refusals."""

from __future__ import annotations

from typing import Any

import pytest

from simulators.telegram import SimulatorDriver
from simulators.telegram.errors import BotApiError
from simulators.telegram.markdown import parse_markdown_v2
from tests.simulators.telegram.conftest import BotApi


def test_the_documented_entities() -> None:
    text, entities = parse_markdown_v2(
        "*bold* _italic_ __under__ ~strike~ ||spoiler|| [link](https://x.org/a\\)b) "
        "`co\\`de` and \\*not bold\\*")
    assert text == "bold italic under strike spoiler link co`de and *not bold*"
    assert [(e["type"], text[e["offset"]:e["offset"] + e["length"]]) for e in entities] == [
        ("bold", "bold"), ("italic", "italic"), ("underline", "under"),
        ("strikethrough", "strike"), ("spoiler", "spoiler"), ("text_link", "link"),
        ("code", "co`de")]
    assert entities[5]["url"] == "https://x.org/a)b"


def test_nested_pre_and_blockquote() -> None:
    text, entities = parse_markdown_v2("*bold _both_*\n```python\nprint(1)\n```\n>quoted\n>too")
    assert text == "bold both\nprint(1)\n\nquoted\ntoo"
    kinds = {e["type"]: e for e in entities}
    assert kinds["italic"]["offset"] == 5 and kinds["bold"]["length"] == 9
    assert kinds["pre"]["language"] == "python"
    assert text[kinds["blockquote"]["offset"]:][:kinds["blockquote"]["length"]] == "quoted\ntoo"


@pytest.mark.parametrize(("markup", "description"), [
    ("Price: 10.5", "Character '.' is reserved and must be escaped with the preceding '\\'"),
    ("Hi!", "Character '!' is reserved and must be escaped with the preceding '\\'"),
    ("a-b", "Character '-' is reserved and must be escaped with the preceding '\\'"),
    ("*bold", "Can't find end of Bold entity at byte offset 0"),
    ("ok `code", "Can't find end of Code entity at byte offset 3"),
])
def test_refusals(markup: str, description: str) -> None:
    with pytest.raises(BotApiError) as refused:
        parse_markdown_v2(markup)
    assert refused.value.description == f"Bad Request: can't parse entities: {description}"


async def test_send_message_parses_markdown_v2(api: BotApi, tg: SimulatorDriver,
                                              ann: dict[str, Any]) -> None:
    await tg.create_private_chat(ann["id"])
    status, body = await api.call("sendMessage", chat_id=ann["id"], text="Total: 10.5",
                                  parse_mode="MarkdownV2")
    assert (status, body["description"]) == (
        400, "Bad Request: can't parse entities: Character '.' is reserved and must be "
             "escaped with the preceding '\\'")
    sent = await api.result("sendMessage", chat_id=ann["id"], text="Total: *10\\.5*",
                            parse_mode="MarkdownV2")
    assert sent["text"] == "Total: 10.5"
    assert sent["entities"] == [{"type": "bold", "offset": 7, "length": 4}]

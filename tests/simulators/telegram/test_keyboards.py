"""Reply keyboards and contacts in the simulator: ``reply_markup`` checked as the Bot API
checks it, the keyboard a chat shows until replaced or removed, buttons people press (a
``request_contact`` button sends the presser's own contact), and contacts of others."""

from __future__ import annotations

from typing import Any

import pytest

from simulators.telegram import SimulatorDriver
from simulators.telegram.errors import DriverError
from tests.simulators.telegram.conftest import BotApi

SHARE = {"text": "Share my phone", "request_contact": True}


@pytest.mark.parametrize(("markup", "description"), [
    (42, "can't parse reply keyboard markup JSON object"),
    ({"keyboard": [["a"]], "remove_keyboard": True},
     "can't parse reply keyboard markup JSON object"),
    ({"keyboard": ["a", "b"]},
     'field "keyboard" of the ReplyKeyboardMarkup must be an Array of Arrays'),
    ({"keyboard": [[{"request_contact": True}]]},
     "can't parse keyboard button: Field \"text\" must be of type String"),
    ({"remove_keyboard": False}, "can't parse reply keyboard markup JSON object"),
])
async def test_malformed_markup_is_refused(api: BotApi, tg: SimulatorDriver,
                                           ann: dict[str, Any], markup: Any,
                                           description: str) -> None:
    chat = await tg.create_private_chat(ann["id"])
    status, body = await api.call("sendMessage", chat_id=chat["id"], text="hi",
                                  reply_markup=markup)
    assert (status, body["description"]) == (400, f"Bad Request: {description}")


async def test_a_contact_button_only_in_private_chats(api: BotApi,
                                                      forum: dict[str, Any]) -> None:
    status, body = await api.call("sendMessage", chat_id=forum["id"], text="phone?",
                                  reply_markup={"keyboard": [[SHARE]]})
    assert status == 400 and "request_contact" in body["description"]


async def test_buttons_send_their_text_or_the_pressers_own_contact(
        api: BotApi, tg: SimulatorDriver) -> None:
    ann = await tg.create_user("Ann", phone="+15550100")
    chat = await tg.create_private_chat(ann["id"])
    assert await tg.reply_keyboard(chat["id"]) is None
    with pytest.raises(DriverError):
        await tg.press_button(chat["id"], ann["id"], "EMEA")
    markup = {"keyboard": [["EMEA", "APAC"], [SHARE]], "resize_keyboard": True}
    await api.result("sendMessage", chat_id=chat["id"], text="Region?", reply_markup=markup)
    assert await tg.reply_keyboard(chat["id"]) == markup
    pressed = await tg.press_button(chat["id"], ann["id"], "APAC")
    assert (pressed.message or {})["text"] == "APAC"
    shared = await tg.press_button(chat["id"], ann["id"], "Share my phone")
    assert (shared.message or {})["contact"] == {"phone_number": "+15550100",
                                                 "first_name": "Ann", "user_id": ann["id"]}
    await api.result("sendMessage", chat_id=chat["id"], text="No keyboard now",
                     reply_markup={"remove_keyboard": True})
    assert await tg.reply_keyboard(chat["id"]) is None
    [sent_with_markup, _] = await tg.sent_messages(chat["id"])
    assert sent_with_markup["reply_markup"] == markup


async def test_sharing_someone_elses_contact(tg: SimulatorDriver) -> None:
    ann = await tg.create_user("Ann", phone="+15550100")
    bob = await tg.create_user("Bob", phone="+15550199")
    chat = await tg.create_private_chat(ann["id"])
    shared = await tg.share_contact(chat["id"], ann["id"], contact_user_id=bob["id"])
    contact = (shared.message or {})["contact"]
    assert contact["user_id"] == bob["id"] and (shared.message or {})["from"]["id"] == ann["id"]

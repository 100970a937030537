"""Webhook management on the Bot API client: set, inspect and delete the bot's webhook.

The Bot API methods (core.telegram.org/bots/api, "Getting updates"):

- ``setWebhook(url, secret_token, allowed_updates, max_connections, drop_pending_updates)``:
  Telegram then POSTs each update to ``url`` with the header
  ``X-Telegram-Bot-Api-Secret-Token``; ``max_connections`` is 1-100 (default 40);
  ``allowed_updates`` lists the update types delivered (unspecified: the previous setting).
- ``getWebhookInfo``: ``WebhookInfo`` (``url``, empty when none is set;
  ``pending_update_count``; ``last_error_date`` (Unix time) and ``last_error_message`` of the
  most recent failed delivery; ``max_connections``; ``allowed_updates``).
- ``deleteWebhook(drop_pending_updates)``: back to ``getUpdates``; pending updates stay unless
  dropped.

:data:`ALLOWED_UPDATES` is what telecase handles: the update types the core's
:class:`~streams.schema.telegram.Update` model reads (every other one is skipped by
:func:`streams.core.routing.route`), derived from the model so the two cannot drift.
:func:`prepare_inbound` runs as the inbound connector starts (``telecase run``, ``telecase
connector telegram``): in polling mode it deletes a webhook (keeping the pending updates, which
``getUpdates`` then reads; logged as ``telegram.webhook_deleted_for_polling``), and in webhook
mode with ``TELECASE_WEBHOOK_PUBLIC_URL`` it sets the webhook, once the listener is up.
:func:`bot_status` is what ``telecase telegram status`` prints, including a line per configured
group whose bot membership lacks a right telecase needs (read by
:meth:`connectors.telegram.topic_check.TopicProbe.missing_rights`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import structlog
from pydantic import SecretStr

from connectors.telegram.bot_api import BotApi, TelegramApiError
from connectors.telegram.topic_check import NEEDED_RIGHTS, BotCaller, TopicProbe
from streams.schema.telegram import Update

log = structlog.get_logger("telecase.telegram.webhook_admin")

ALLOWED_UPDATES: tuple[str, ...] = tuple(name for name in Update.model_fields
                                         if name != "update_id")
"""The update types telecase asks Telegram for (``message``, ``edited_message``)."""


async def set_webhook(api: BotCaller, url: str, *, secret: str | None,
                      max_connections: int = 40, drop_pending: bool = False) -> Any:
    """Point the bot's webhook at ``url`` with telecase's ``allowed_updates``."""
    result = await api.call("setWebhook", url=url, secret_token=secret,
                            allowed_updates=list(ALLOWED_UPDATES),
                            max_connections=max_connections,
                            drop_pending_updates=drop_pending)
    log.info("telegram.webhook_set", url=url, allowed_updates=list(ALLOWED_UPDATES),
             max_connections=max_connections)
    return result


async def delete_webhook(api: BotCaller, *, drop_pending: bool = False) -> Any:
    return await api.call("deleteWebhook", drop_pending_updates=drop_pending)


async def clear_for_polling(api: BotCaller) -> bool:
    """Before long polling: delete a webhook if one is set, keeping its pending updates (they
    are then read by ``getUpdates``). Whether one was deleted (logged when so)."""
    info = await api.call("getWebhookInfo")
    url = str((info or {}).get("url") or "")
    if not url:
        return False
    await delete_webhook(api, drop_pending=False)
    log.warning("telegram.webhook_deleted_for_polling", url=url,
                pending_update_count=(info or {}).get("pending_update_count", 0))
    return True


@dataclass(frozen=True)
class BotStatus:
    """``getMe``, ``getWebhookInfo`` and the rights lacking per group, as read."""

    me: dict[str, Any]
    webhook: dict[str, Any]
    lacking: dict[int, list[str]] = field(default_factory=dict)
    unreadable: dict[int, str] = field(default_factory=dict)
    """Groups where the bot's membership cannot be read, and Telegram's reason."""

    def lines(self) -> list[str]:
        hook = self.webhook
        out = [f"bot: @{self.me.get('username', '?')} (id {self.me.get('id', '?')})",
               f"webhook: {hook.get('url') or 'none (getUpdates)'}",
               f"pending updates: {hook.get('pending_update_count', 0)}"]
        if hook.get("allowed_updates"):
            out.append(f"allowed updates: {', '.join(hook['allowed_updates'])}")
        if hook.get("max_connections"):
            out.append(f"max connections: {hook['max_connections']}")
        if hook.get("last_error_date"):
            when = datetime.fromtimestamp(int(hook["last_error_date"]), UTC)
            out.append(f"last delivery error: {when.isoformat()}: "
                       f"{hook.get('last_error_message', '')}")
        else:
            out.append("last delivery error: none")
        for chat, rights in sorted(self.lacking.items()):
            if chat in self.unreadable:
                out.append(f"group {chat}: the bot cannot read its membership there: "
                           f"{self.unreadable[chat]}")
            elif rights:
                needs = "; ".join(f"{r} (to {NEEDED_RIGHTS[r]})" for r in rights)
                out.append(f"group {chat}: the bot lacks {needs}: grant it in the group's "
                           "administrator settings")
            else:
                out.append(f"group {chat}: no missing right found")
        return out


async def bot_status(api: BotCaller, groups: Iterable[int] = ()) -> BotStatus:
    me = await api.call("getMe")
    webhook = await api.call("getWebhookInfo")
    probe = TopicProbe(api)
    lacking: dict[int, list[str]] = {}
    unreadable: dict[int, str] = {}
    for chat in sorted(set(groups)):
        try:  # missing_rights reads the same membership but says nothing when it cannot
            await api.call("getChatMember", chat_id=chat, user_id=int(me["id"]))
        except TelegramApiError as exc:
            unreadable[chat] = exc.description
        lacking[chat] = await probe.missing_rights(chat)
    return BotStatus(me=dict(me or {}), webhook=dict(webhook or {}), lacking=lacking,
                     unreadable=unreadable)


class InboundSettings(Protocol):
    """The settings :func:`prepare_inbound` reads (``telecase.settings.Settings`` has them)."""

    @property
    def telegram_mode(self) -> Literal["webhook", "polling"]: ...
    @property
    def telegram_api_base(self) -> str: ...
    @property
    def telegram_webhook_secret(self) -> SecretStr | None: ...
    @property
    def webhook_public_url(self) -> str | None: ...
    @property
    def webhook_max_connections(self) -> int: ...

    def require_token(self) -> str: ...


async def prepare_inbound(settings: InboundSettings) -> None:
    """At start: polling deletes a webhook (pending updates kept); webhook mode with a public
    URL sets it. Nothing else calls Telegram."""
    polling = settings.telegram_mode == "polling"
    if not polling and not settings.webhook_public_url:
        return
    api = BotApi(settings.require_token(), settings.telegram_api_base)
    try:
        if polling:
            await clear_for_polling(api)
        else:
            assert settings.webhook_public_url is not None
            secret = settings.telegram_webhook_secret
            await set_webhook(api, settings.webhook_public_url,
                              secret=secret.get_secret_value() if secret else None,
                              max_connections=settings.webhook_max_connections)
    finally:
        await api.aclose()

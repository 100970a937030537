"""One simulation: the world, the bot's update queue, webhook, limits, faults and records.

Both HTTP faces (the Bot API in ``bot_api`` and the driver's ``/sim`` in ``sim_api``) act on a
:class:`Simulation`; nothing in it does I/O except the webhook delivery it owns.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from simulators.telegram.faults import Faults
from simulators.telegram.file_store import FileStore
from simulators.telegram.ratelimit import RateLimiter, RateLimits
from simulators.telegram.updates import UpdateQueue
from simulators.telegram.webhook import RetryPolicy, WebhookConfig, WebhookDelivery
from simulators.telegram.world import World


def bot_user(token: str, first_name: str, username: str) -> dict[str, Any]:
    """The bot's ``User`` as ``getMe`` returns it; the id is the token's numeric prefix."""
    head = token.split(":", 1)[0]
    if ":" not in token or not head.isdigit():
        raise ValueError("a bot token looks like '<bot id>:<secret>', e.g. '123:abc'")
    return {"id": int(head), "is_bot": True, "first_name": first_name, "username": username,
            "can_join_groups": True, "can_read_all_group_messages": True,
            "supports_inline_queries": False, "can_connect_to_business": False,
            "has_main_web_app": False}


class Simulation:
    """Everything one simulated bot sees and does."""

    def __init__(self, token: str, *, limits: RateLimits | None = None,
                 webhook_retry: RetryPolicy | None = None, first_update_id: int = 1,
                 bot_name: str = "Telecase Desk", bot_username: str = "telecase_desk_bot",
                 wall_clock: Callable[[], float] = time.time, id_offset: int = 0) -> None:
        self.token = token
        self.bot = bot_user(token, bot_name, bot_username)
        self.sender = {k: self.bot[k] for k in ("id", "is_bot", "first_name", "username")}
        self.world = World(self.bot, wall_clock=wall_clock, id_offset=id_offset)
        self.queue = UpdateQueue(first_update_id, clock=wall_clock)
        self.limiter = RateLimiter(limits or RateLimits())
        self.retry = webhook_retry or RetryPolicy()
        self.faults = Faults()
        self.webhook: WebhookDelivery | None = None
        self.webhook_log: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []
        self.calls: list[dict[str, Any]] = []
        """Every Bot API call the bot made, in order: ``method`` (as called), ``params`` and
        the ``answer`` (the JSON envelope, error or not) -- what a test checks a client
        against."""
        self.world_files = FileStore()
        """The files people sent (``simulators.telegram.files``)."""
        self.blocked_by: set[int] = set()
        self.kicked_from: set[int] = set()
        """Groups whose members removed the bot: it gets nothing from them and may do nothing
        in them (403 ``bot was kicked from the supergroup chat``)."""

    def emit_message(self, message: dict[str, Any], *, edited: bool = False) -> int | None:
        """Queue a (new or edited) message as an update for the bot; returns its update_id
        (``None`` when the bot is not there to receive it)."""
        if message["chat"]["id"] in self.kicked_from:
            return None
        return self.queue.add("edited_message" if edited else "message", message)

    async def set_webhook(self, config: WebhookConfig, allowed_updates: list[str] | None,
                          drop_pending: bool) -> None:
        """Start delivering to ``config.url`` (replacing any previous webhook)."""
        await self.delete_webhook(drop_pending)
        self.queue.subscribe(allowed_updates)
        self.webhook = WebhookDelivery(self.queue, config, self.retry, self.webhook_log)
        self.webhook.start()

    async def delete_webhook(self, drop_pending: bool) -> None:
        """Stop delivering; pending updates stay for ``getUpdates`` unless dropped."""
        if self.webhook is not None:
            await self.webhook.stop()
            self.webhook = None
        if drop_pending:
            self.queue.clear()

    def webhook_info(self) -> dict[str, Any]:
        """``getWebhookInfo``'s ``WebhookInfo``."""
        info: dict[str, Any] = {"url": "", "has_custom_certificate": False,
                                "pending_update_count": len(self.queue.pending)}
        hook = self.webhook
        if hook is None:
            return info
        info["url"] = hook.config.url
        if hook.last_error_date is not None:
            info["last_error_date"] = hook.last_error_date
            info["last_error_message"] = hook.last_error_message
        info["max_connections"] = hook.config.max_connections
        if self.queue.subscription:
            info["allowed_updates"] = list(self.queue.subscription)
        return info

    async def close(self) -> None:
        """Stop webhook delivery and release waiting polls."""
        if self.webhook is not None:
            await self.webhook.stop()
            self.webhook = None
        self.queue.close()

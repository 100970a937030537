"""Noticing that Telegram has stopped delivering updates.

telecase cannot tell a quiet afternoon from a broken webhook by looking at one moment, so it
watches three signs, every few seconds:

- **no update** has reached ``telegram.updates`` for ``TELECASE_TELEGRAM_SILENCE_AFTER``
  seconds of *business time* (the SLA policy's default team calendar; no policy: always open),
  so a night or a weekend without customers is not an alarm;
- ``getWebhookInfo`` reports a **delivery error** (``last_error_date`` after the last update
  that got through, e.g. "Connection refused", "Wrong response from the webhook") or a
  **growing pending count** (``pending_update_count`` rising over three reads in a row:
  Telegram holds updates it cannot deliver);
- ``getWebhookInfo`` itself **fails** (Telegram, or the network to it, is down).

While any sign holds, telecase is *silent*: a ``telegram.silent`` WARNING names the reasons
(once per episode, and again when the reasons change), ``telecase_telegram_silent`` is 1,
``telecase_telegram_silence_seconds`` counts the seconds since the last update, and, with
``TELECASE_LEAD_CHAT_ID``, the team lead chat gets a notice (if Telegram takes it), and, with
``TELECASE_SILENCE_SALESFORCE_OWNER``, that Salesforce user gets one Task per episode
(``telecase.ops.silence_salesforce``). When
updates flow again, ``telegram.delivering`` (INFO) ends the episode. :class:`SilenceWatch`
decides (time is an argument); :func:`watch_silence` observes and acts.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from prometheus_client import Gauge

from connectors.telegram.bot_api import BotApi
from streams.runtime.bus import Bus
from streams.sla.calendar import BusinessCalendar
from streams.sla.policy import SlaPolicy
from telecase.ops.silence_salesforce import SalesforceSilenceNotice, SilenceNotice
from telecase.settings import Settings

SILENCE_SECONDS = Gauge("telecase_telegram_silence_seconds",
                        "Seconds since the last update reached telegram.updates")
SILENT = Gauge("telecase_telegram_silent",
               "1 while Telegram looks silent (no updates in business hours, webhook delivery "
               "errors, a growing pending count, or getWebhookInfo failing)")
log = structlog.get_logger("telecase.telegram.silence")

PENDING_READS = 3
"""A pending count rising over this many reads in a row is "growing"."""


@dataclass
class SilenceWatch:
    """The decision: fed what was observed, says whether Telegram is silent and why."""

    after: timedelta
    calendar: BusinessCalendar
    last_update_at: datetime
    updates_seen: int = -1
    pending: list[int] = field(default_factory=list)
    reasons: tuple[str, ...] = ()

    def observe(self, now: datetime, updates: int, webhook: Mapping[str, Any] | None,
                failure: str | None = None) -> tuple[str, ...]:
        """``updates``: how many records ``telegram.updates`` holds; ``webhook``: the
        ``getWebhookInfo`` result (``None`` with ``failure`` when the call failed). Returns
        the reasons Telegram looks silent now (empty: it is delivering)."""
        reasons: list[str] = []
        if updates != self.updates_seen:
            if self.updates_seen >= 0:
                self.last_update_at = now
            self.updates_seen = updates
        elif self.calendar.elapsed(self.last_update_at, now) >= self.after:
            reasons.append("no_updates")
        if failure is not None:
            reasons.append("webhook_info_failed")
        if webhook is not None:
            error_date = int(webhook.get("last_error_date") or 0)
            if webhook.get("url") and error_date > self.last_update_at.timestamp():
                reasons.append("delivery_error")  # failing since the last update got through
            self.pending = [*self.pending, int(webhook.get("pending_update_count") or 0)][
                -PENDING_READS:]
            if len(self.pending) == PENDING_READS and all(
                    a < b for a, b in zip(self.pending, self.pending[1:], strict=False)):
                reasons.append("pending_growing")
        self.reasons = tuple(reasons)
        return self.reasons


def business_calendar(policy: SlaPolicy | None) -> BusinessCalendar:
    """The default tier's team calendar; always open without a policy."""
    if policy is None:
        return BusinessCalendar.always_open()
    return policy.teams[policy.tiers[policy.default_tier].team].calendar()


async def watch_silence(bus: Bus, updates_topic: str, api: BotApi, watch: SilenceWatch,
                        stop: asyncio.Event, *, lead_chat_id: int | None = None,
                        salesforce: SilenceNotice | None = None, every: float = 5.0) -> None:
    """Observe every ``every`` seconds until ``stop``; warn, count and notify (see the module
    docstring): the lead chat whenever the reasons change, ``salesforce`` once per episode."""
    announced: tuple[str, ...] = ()
    while not stop.is_set():
        now = datetime.now(UTC)
        updates = sum((await bus.end_offsets(updates_topic)).values())
        webhook: Mapping[str, Any] | None = None
        failure: str | None = None
        try:
            webhook = await api.call("getWebhookInfo", http_timeout=max(1.0, every))
        except Exception as exc:  # any failure to ask is itself a sign
            failure = type(exc).__name__
        reasons = watch.observe(now, updates, webhook, failure)
        SILENCE_SECONDS.set((now - watch.last_update_at).total_seconds())
        SILENT.set(1 if reasons else 0)
        if reasons and reasons != announced:
            log.warning("telegram.silent", reasons=list(reasons),
                        last_update_at=watch.last_update_at.isoformat(),
                        pending=(webhook or {}).get("pending_update_count"),
                        last_error=(webhook or {}).get("last_error_message"), error=failure)
            await _notify(api, lead_chat_id, reasons, watch.last_update_at)
            if salesforce is not None and not announced:  # a new episode
                await salesforce(reasons, watch.last_update_at)
        elif not reasons and announced:
            log.info("telegram.delivering", last_update_at=watch.last_update_at.isoformat())
        announced = reasons
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


async def _notify(api: BotApi, chat: int | None, reasons: tuple[str, ...],
                  since: datetime) -> None:
    if chat is None:
        return
    text = (f"telecase: Telegram looks silent ({', '.join(reasons)}); last update at "
            f"{since:%Y-%m-%d %H:%M} UTC. Record urgent inquiries with "
            "`telecase ticket open --manual` until it recovers.")
    try:
        await api.call("sendMessage", chat_id=chat, text=text)
    except Exception as exc:  # Telegram may be what is down
        log.warning("telegram.silent_notice_failed", chat_id=chat, error=type(exc).__name__)


async def watch_from_settings(settings: Settings, policy: SlaPolicy | None, bus: Bus,
                              updates_topic: str, api: BotApi, stop: asyncio.Event) -> None:
    """:func:`watch_silence` as the settings say (``telegram_silence_after`` > 0, the team
    lead chat, the Salesforce user), on the SLA policy's calendar; it checks every quarter of
    the time (at most every 5 s)."""
    after = float(settings.telegram_silence_after)
    watch = SilenceWatch(timedelta(seconds=after), business_calendar(policy), datetime.now(UTC))
    salesforce = None
    if settings.silence_salesforce_owner:
        from telecase.bootstrap.salesforce import connect

        salesforce = SalesforceSilenceNotice(lambda: connect(settings),
                                             settings.silence_salesforce_owner)
    await watch_silence(bus, updates_topic, api, watch, stop, lead_chat_id=settings.lead_chat_id,
                        salesforce=salesforce, every=max(0.2, min(5.0, after / 4)))

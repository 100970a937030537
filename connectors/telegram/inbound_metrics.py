"""Counters of the Telegram inbound connector (Prometheus)."""

from __future__ import annotations

from prometheus_client import Counter

ACCEPTED = Counter("telecase_telegram_updates_accepted_total",
                   "Updates made durable in telegram.updates", ["mode"])
REJECTED = Counter("telecase_telegram_webhook_rejected_total",
                   "Webhook requests rejected", ["reason"])

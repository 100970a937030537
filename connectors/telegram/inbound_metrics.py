"""Counters of the Telegram inbound connector (Prometheus)."""

from __future__ import annotations

from prometheus_client import Counter

ACCEPTED = Counter("telecase_telegram_updates_accepted_total",
                   "Updates made durable in telegram.updates", ["mode"])
REJECTED = Counter("telecase_telegram_webhook_rejected_total",
                   "Webhook requests rejected", ["reason"])
REFUSED = Counter("telecase_telegram_updates_refused_total",
                  "Updates the worker would not fold, refused at the door (webhook: 400; "
                  "long polling: dead-lettered)", ["mode", "reason"])

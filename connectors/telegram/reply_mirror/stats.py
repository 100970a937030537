"""What the reply mirror counts: per instance (:class:`MirrorStats`) and in Prometheus."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import Counter

SENT = Counter("telecase_telegram_mirror_sent_total", "Agent replies delivered to Telegram")
NOTIFIED = Counter("telecase_telegram_mirror_notices_sent_total",
                   "SLA escalation notices delivered to Telegram")
FLOODED = Counter("telecase_telegram_mirror_429_total", "429 answers received from Telegram")
REOPENED = Counter("telecase_telegram_mirror_topics_reopened_total",
                   "Closed topics reopened to deliver a reply")
RECREATED = Counter("telecase_telegram_mirror_topics_recreated_total",
                    "Deleted topics recreated (and re-linked) to deliver a reply")
DEAD_LETTERED = Counter("telecase_telegram_mirror_dead_lettered_total",
                        "Replies and escalation notices that cannot be delivered (no chat, "
                        "or Telegram refused them for good), sent to the dead-letter topic")


@dataclass
class MirrorStats:
    """What this mirror instance did (the Prometheus counters add up every instance)."""

    sent: int = 0
    notified: int = 0
    """Escalation notices (parts) delivered."""
    notes: int = 0
    already_delivered: int = 0
    flood_429: int = 0
    retries: int = 0
    reopened: int = 0
    recreated: int = 0
    dead_lettered: int = 0
    agent_notices: int = 0
    """Notices to agents whose command sent nothing."""


__all__ = ["DEAD_LETTERED", "FLOODED", "NOTIFIED", "RECREATED", "REOPENED", "SENT",
           "MirrorStats"]

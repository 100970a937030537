"""Building intake and the pilot rollout from settings (the worker's rules, the messenger)."""

from __future__ import annotations

from datetime import timedelta

from connectors.raw_log import RawLog
from connectors.telegram.bot_api import BotApi
from connectors.telegram.intake_messenger import IntakeMessenger
from connectors.telegram.intake_topics import IntakeTopics
from connectors.telegram.ledger import DeliveryLedger
from connectors.telegram.reply_mirror import Limits
from streams.core.intake import IntakeRules
from streams.core.intake_form import default_form
from streams.core.pilot import PilotGate
from streams.runtime.bus import Bus
from streams.runtime.topics import TopicNames
from telecase.bootstrap.mirror import Runtime, ledger_url
from telecase.settings import Settings


def intake_rules(settings: Settings) -> IntakeRules | None:
    """What the ticket worker needs to run intake forms and the team's intake group
    (``None`` when private-chat intake is off and no team group is set)."""
    if not settings.intake_enabled and settings.intake_topic_chat_id is None:
        return None
    return IntakeRules(
        form=default_form(settings.intake_products, settings.intake_regions),
        command=settings.intake_command if settings.intake_enabled else "",
        timeout=timedelta(seconds=settings.intake_timeout),
        topic_chat_id=settings.intake_topic_chat_id,
        phone_region=settings.default_phone_region)


def pilot_gate(settings: Settings) -> PilotGate:
    groups = settings.pilot_chats
    return PilotGate(groups=frozenset(groups) if groups is not None else None,
                     private_chats=settings.intake_enabled)


def intake_messenger(settings: Settings, runtime: Runtime, bus: Bus, names: TopicNames,
                     api: BotApi, raw_log: RawLog) -> tuple[IntakeMessenger, DeliveryLedger]:
    """The messenger, on the reply mirror's ledger database and pace."""
    ledger = DeliveryLedger.from_url(ledger_url(settings, runtime))
    limits = Limits(per_chat=settings.telegram_out_per_chat_per_second,
                    per_group=settings.telegram_out_per_group_per_minute,
                    overall=settings.telegram_out_per_second)
    messenger = IntakeMessenger(bus, names, api, ledger, IntakeTopics(ledger.engine),
                                raw_log=raw_log, topic_chat_id=settings.intake_topic_chat_id,
                                limits=limits)
    return messenger, ledger

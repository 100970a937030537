"""Building the reply mirror (agents' Salesforce replies and Files → the ticket's Telegram
thread)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from connectors.raw_log import RawLog
from connectors.salesforce.version_data import SalesforceFileDownloads
from connectors.telegram.bot_api import BotApi
from connectors.telegram.ledger import DeliveryLedger
from connectors.telegram.reply_mirror import Limits, ReplyMirror
from streams.runtime.bus import Bus
from streams.runtime.topics import TopicNames
from telecase.settings import Settings

Runtime = Literal["embedded", "kafka"]


def ledger_url(settings: Settings, runtime: Runtime) -> str:
    if settings.telegram_ledger_url:
        return settings.telegram_ledger_url
    if runtime == "kafka":
        return settings.projection_url("kafka")
    path = Path(settings.data_dir) / "telegram-ledger.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


class SettingsFileDownloads:
    """An agent's File's bytes through the process's shared Salesforce login
    (``telecase.bootstrap.salesforce.connect``), logged in at the first File."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._api: SalesforceFileDownloads | None = None

    async def version_data(self, version_id: str) -> bytes:
        if self._api is None:
            from telecase.bootstrap.salesforce import connect
            self._api = SalesforceFileDownloads(await connect(self.settings))
        return await self._api.version_data(version_id)


def reply_mirror(settings: Settings, runtime: Runtime, bus: Bus, names: TopicNames,
                 api: BotApi, raw_log: RawLog) -> tuple[ReplyMirror, DeliveryLedger]:
    ledger = DeliveryLedger.from_url(ledger_url(settings, runtime))
    limits = Limits(per_chat=settings.telegram_out_per_chat_per_second,
                    per_group=settings.telegram_out_per_group_per_minute,
                    overall=settings.telegram_out_per_second)
    files = (SettingsFileDownloads(settings) if settings.has_salesforce_credentials
             else None)  # no Salesforce: a message names an agent's File instead
    return ReplyMirror(bus, names, api, ledger, raw_log=raw_log, limits=limits, files=files,
                       files_max_bytes=settings.files_max_bytes), ledger

"""``telecase connector``: the Telegram and Salesforce connectors, each a Kafka process."""

from __future__ import annotations

import asyncio

import typer

from telecase.cli.common import configure

app = typer.Typer(no_args_is_help=True, help="Inbound/outbound connectors.")


@app.command("telegram")
def connector_telegram() -> None:
    """Receive Telegram updates (webhook or long polling) into telegram.updates."""
    from telecase.roles.kafka import telegram_connector
    asyncio.run(telegram_connector(configure()))


@app.command("salesforce")
def connector_salesforce() -> None:
    """Sync tickets to Salesforce: Contact, Case and a Task per customer message."""
    from telecase.roles.kafka import salesforce_connector
    asyncio.run(salesforce_connector(configure()))


@app.command("telegram-out")
def connector_telegram_out() -> None:
    """Mirror agents' Salesforce replies into the tickets' Telegram threads."""
    from telecase.roles.kafka import telegram_out_connector
    asyncio.run(telegram_out_connector(configure()))

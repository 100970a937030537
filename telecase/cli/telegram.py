"""``telecase telegram``: the bot's webhook (set, inspect, delete) and what the bot may do.

The logic is :mod:`connectors.telegram.webhook_admin`; these commands read the settings, call
it, and print. A refusal or an unreachable Bot API prints ``telecase: <reason>`` and exits 1.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer

from telecase.cli.common import configure, echo_json
from telecase.settings import Settings

app = typer.Typer(no_args_is_help=True,
                  help="The Telegram bot: its webhook, and the rights it has in the groups.")

T = TypeVar("T")


def _with_api(settings: Settings, work: Callable[..., Awaitable[T]]) -> T:
    from connectors.errors import ConnectorError
    from connectors.telegram.bot_api import BotApi

    async def go() -> T:
        api = BotApi(settings.require_token(), settings.telegram_api_base)
        try:
            return await work(api)
        finally:
            await api.aclose()

    try:
        return asyncio.run(go())
    except ConnectorError as exc:
        typer.echo(f"telecase: Telegram: {exc}", err=True)
        raise typer.Exit(1) from None


def configured_groups(settings: Settings) -> list[int]:
    """The forum groups the settings name (pilot groups, the intake and outreach forums)."""
    groups = set(settings.pilot_chats or [])
    groups.update(c for c in (settings.intake_topic_chat_id, settings.outreach_chat_id)
                  if c is not None)
    return sorted(groups)


@app.command("set-webhook")
def set_webhook(
    url: str | None = typer.Option(None, "--url", help="the public HTTPS URL of telecase's "
                                   "webhook (default: TELECASE_WEBHOOK_PUBLIC_URL)"),
    drop_pending: bool = typer.Option(False, "--drop-pending",
                                      help="drop the updates Telegram holds for the bot"),
) -> None:
    """Point the bot's webhook at URL: secret token TELECASE_TELEGRAM_WEBHOOK_SECRET, the
    update types telecase handles, max connections TELECASE_WEBHOOK_MAX_CONNECTIONS."""
    from connectors.telegram import webhook_admin
    settings = configure()
    target = url or settings.webhook_public_url
    if not target:
        raise typer.BadParameter("give --url or set TELECASE_WEBHOOK_PUBLIC_URL",
                                 param_hint="--url")
    secret = settings.require_webhook_secret()
    _with_api(settings, lambda api: webhook_admin.set_webhook(
        api, target, secret=secret, max_connections=settings.webhook_max_connections,
        drop_pending=drop_pending))
    typer.echo(f"webhook set: {target} (updates: {', '.join(webhook_admin.ALLOWED_UPDATES)})")


@app.command("delete-webhook")
def delete_webhook(
    drop_pending: bool = typer.Option(False, "--drop-pending",
                                      help="drop the updates Telegram holds for the bot"),
) -> None:
    """Delete the bot's webhook (back to getUpdates); pending updates are kept unless
    --drop-pending."""
    from connectors.telegram import webhook_admin
    settings = configure()
    _with_api(settings, lambda api: webhook_admin.delete_webhook(api,
                                                                 drop_pending=drop_pending))
    typer.echo("webhook deleted" + (" (pending updates dropped)" if drop_pending else ""))


@app.command("status")
def status(
    chat: Annotated[list[int] | None, typer.Option(
        "--chat", help="also check the bot's rights in this group (repeatable)")] = None,
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of lines"),
) -> None:
    """The bot (getMe), its webhook (getWebhookInfo: URL, pending updates, last delivery error)
    and, per configured group, the administrator rights it lacks."""
    from connectors.telegram import webhook_admin
    settings = configure()
    groups = sorted(set(configured_groups(settings)) | set(chat or []))
    found = _with_api(settings, lambda api: webhook_admin.bot_status(api, groups))
    if as_json:
        echo_json({"me": found.me, "webhook": found.webhook,
                   "lacking": {str(k): v for k, v in found.lacking.items()}}, indent=2)
        return
    for line in found.lines():
        typer.echo(line)

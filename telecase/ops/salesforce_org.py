"""``telecase salesforce check`` and ``setup``: the org telecase's settings log in to, against
what telecase needs (:mod:`connectors.salesforce.org_setup`), with the tables they print.

Both log in as ``telecase run`` does (:func:`telecase.bootstrap.salesforce.connect`), so
``check`` sees the org as the integration user sees it. The integration user is
``TELECASE_SALESFORCE_INTEGRATION_USER_ID``, else the ``User`` named by
``TELECASE_SALESFORCE_USERNAME`` (with client credentials: the app's run-as user); ``setup
--assign-to USERNAME`` names another one (when an admin's login runs setup).
"""

from __future__ import annotations

import asyncio

from rich.console import Console
from rich.table import Table

from connectors.salesforce.api import soql_quote
from connectors.salesforce.org_setup import (
    Checklist,
    Line,
    OrgApi,
    OrgSetupError,
    SetupResult,
    SimpleSalesforceOrg,
    Status,
    check,
    setup,
)
from telecase.bootstrap.salesforce import connect, integration_user_id
from telecase.errors import CommandError
from telecase.settings import Settings

_STYLE = {Status.OK: "green", Status.WARN: "yellow", Status.MISSING: "red",
          Status.WRONG: "red"}


def integration_user(api: OrgApi, settings: Settings, username: str | None = None,
                     token_user: str | None = None) -> Line:
    """The integration user as a checklist line (its ``item`` is the Id when found).
    ``token_user``: the login's own user when no username names it (client credentials)."""
    if username is None and settings.salesforce_integration_user_id:
        return Line("user", settings.salesforce_integration_user_id, Status.OK,
                    "TELECASE_SALESFORCE_INTEGRATION_USER_ID")
    if username is None and settings.salesforce_username is None and token_user:
        return Line("user", token_user, Status.OK, "the login's own user (UserInfo)")
    name = username or settings.salesforce_username
    if name is None:
        return Line("user", "?", Status.MISSING, "the integration user is not named",
                    "set TELECASE_SALESFORCE_USERNAME (client credentials: the run-as user) "
                    "or TELECASE_SALESFORCE_INTEGRATION_USER_ID")
    rows = api.query(f"SELECT Id, IsActive FROM User WHERE Username = {soql_quote(name)}")
    if not rows:
        where = "--assign-to" if username else "TELECASE_SALESFORCE_USERNAME"
        return Line("user", name, Status.MISSING, "no such user",
                    f"check {where} (Setup > Users > Users)")
    return Line("user", str(rows[0]["Id"]), Status.OK, name)


async def _org(settings: Settings) -> tuple[SimpleSalesforceOrg, str | None]:
    """The org, and the login's own user when no setting names the integration user."""
    client = await connect(settings)
    return SimpleSalesforceOrg(client), await integration_user_id(settings, client)


async def run_check(settings: Settings) -> Checklist:
    """The checklist (see :func:`connectors.salesforce.org_setup.check`), with the
    integration user's line after the login flow's."""
    api, token_user = await _org(settings)
    flow = settings.salesforce_auth_flow or "?"
    try:
        user = await asyncio.to_thread(integration_user, api, settings, None, token_user)
        result = await asyncio.to_thread(
            check, api, flow=flow, notification_type=settings.salesforce_notification_type,
            user_id=user.item if user.status is Status.OK else None,
            notifications=settings.salesforce_notifications)
    except OrgSetupError as exc:
        raise CommandError(f"Salesforce refused the check: {exc}") from None
    result.lines.insert(1, user)
    return result


async def run_setup(settings: Settings, *, dry_run: bool,
                    assign_to: str | None = None) -> SetupResult:
    """Set the org up (see :func:`connectors.salesforce.org_setup.setup`); a step the org
    refuses stops here, naming it (what was done before it stays done: run setup again)."""
    api, token_user = await _org(settings)
    try:
        user = await asyncio.to_thread(integration_user, api, settings, assign_to, token_user)
        if user.status is not Status.OK:
            raise CommandError(f"the integration user: {user.detail} ({user.item}): "
                               f"{user.fix}")
        return await asyncio.to_thread(setup, api, user_id=user.item, dry_run=dry_run,
                                       notification_type=settings.salesforce_notification_type)
    except OrgSetupError as exc:
        raise CommandError(f"Salesforce refused a setup step: {exc}") from None


def render_check(result: Checklist, console: Console) -> None:
    table = Table(title="Salesforce org check")
    for column in ("", "check", "item", "detail", "fix"):
        table.add_column(column, overflow="fold")  # names whole, even on a narrow terminal
    for line in result.lines:
        table.add_row(f"[{_STYLE[line.status]}]{line.status.value}[/]", line.kind, line.item,
                      line.detail, line.fix)
    console.print(table)
    problems = len(result.problems())
    console.print("The org is ready for telecase." if result.ok else
                  f"{problems} item(s) missing or wrong: see the fix column.")


def render_setup(result: SetupResult, console: Console) -> None:
    if result.steps:
        table = Table(title="Salesforce org setup" + (" (dry run: nothing changed)"
                                                       if result.dry_run else ""))
        for column in ("action", "target", "detail"):
            table.add_column(column, overflow="fold")
        for step in result.steps:
            table.add_row(step.action, step.target, step.detail)
        console.print(table)
    else:
        console.print("Nothing to do: the org already has everything telecase needs.")
    for line in result.conflicts:
        console.print(f"[red]{line.item}[/]: {line.detail}. Fix: {line.fix}")

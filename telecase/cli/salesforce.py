"""``telecase salesforce``: check an org against what telecase needs, and set it up."""

from __future__ import annotations

import asyncio

import typer

from telecase import logs
from telecase.cli.common import configure, echo_json

app = typer.Typer(no_args_is_help=True,
                  help="The Salesforce org: check what telecase needs, and set it up.")


@app.command("check")
def check(as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
          ) -> None:
    """Check the org against what telecase needs; exit 1 with a fix for each gap.

    Describes every object telecase uses, as the integration user: custom fields and their
    flags, field-level security, Case Origin 'Telegram', API requests left, the login flow."""
    from rich.console import Console

    from telecase.ops.salesforce_org import render_check, run_check
    settings = configure()
    logs.configure("warning")
    result = asyncio.run(run_check(settings))
    if as_json:
        echo_json(result.as_json(), indent=2)
    else:
        render_check(result, Console())
    if not result.ok:
        raise typer.Exit(1)


@app.command("setup")
def setup(
    dry_run: bool = typer.Option(False, "--dry-run", help="print the plan, change nothing"),
    assign_to: str | None = typer.Option(None, "--assign-to", help="the integration user's "
                                         "username (default: TELECASE_SALESFORCE_USERNAME)"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """Create what check finds missing, idempotently (--dry-run: the plan only).

    The custom fields (Tooling API), Case Origin 'Telegram', the permission set
    Telecase_Integration granting the fields, assigned to the integration user. Exits 1 when a
    field exists with the wrong type or flags (left for the admin to fix)."""
    from rich.console import Console

    from telecase.ops.salesforce_org import render_setup, run_setup
    settings = configure()
    logs.configure("warning")
    result = asyncio.run(run_setup(settings, dry_run=dry_run, assign_to=assign_to))
    if as_json:
        echo_json(result.as_json(), indent=2)
    else:
        render_setup(result, Console())
    if result.conflicts:
        raise typer.Exit(1)

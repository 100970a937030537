"""``telecase deadletter``: list, show and retry what the stages dead-lettered
(:mod:`telecase.ops.deadletter` says what an id is and how a retry re-drives)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from telecase.cli.common import RuntimeOption, chosen_runtime, configure, echo_json
from telecase.errors import CommandError

app = typer.Typer(no_args_is_help=True, help="Records a stage could not process: list them, "
                                             "show one, re-drive them once the cause is fixed.")

AsJson = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]


def _index(runtime: str | None) -> Any:
    from telecase.ops.deadletter import load
    settings = configure()
    return asyncio.run(load(settings, chosen_runtime(settings, runtime)))


def _since(text: str | None) -> datetime | None:
    if text is None:
        return None
    from projections.audit_queries import parse_instant
    try:
        return parse_instant(text, datetime.now(UTC))
    except ValueError as exc:
        raise CommandError(f"--since: {exc}") from None


@app.command("list")
def deadletter_list(
    reason: str | None = typer.Option(None, "--reason", help="only this reason"),
    since: str | None = typer.Option(None, "--since", help="failed from (ISO 8601, no zone "
                                                           "means UTC; or a time ago: 2d, 12h)"),
    stage: str | None = typer.Option(None, "--stage", help="only this stage (the consumer "
                                                           "that wrote it, e.g. ticket-folder)"),
    as_json: AsJson = False,
    runtime: RuntimeOption = None,
) -> None:
    """The dead letters, oldest first, waiting or retried."""
    from telecase.ops.deadletter import render_rows, select
    letters = select(_index(runtime), reason=reason, stage=stage,
                     since=_since(since))
    if as_json:
        echo_json([x.summary() for x in letters])
        return
    from rich.console import Console
    from rich.table import Table
    table = Table(title=f"dead letters ({len(letters)})")
    for column in ("id", "failed at (UTC)", "stage", "reason", "origin", "state", "detail"):
        table.add_column(column)
    for row in render_rows(letters):
        table.add_row(*row)
    Console().print(table)


@app.command("show")
def deadletter_show(
    letter_id: str = typer.Argument(..., help="the id `list` shows (<partition>:<offset>)"),
    runtime: RuntimeOption = None,
) -> None:
    """Everything recorded of one dead letter (its payload decoded when it is JSON), as JSON."""
    from telecase.ops.deadletter import find
    echo_json(find(_index(runtime), letter_id).full(), indent=2)


@app.command("retry")
def deadletter_retry(
    letter_ids: Annotated[list[str] | None, typer.Argument(
        help="the ids to re-drive (or --reason)")] = None,
    reason: str | None = typer.Option(None, "--reason", help="every waiting letter with "
                                                             "this reason"),
    dry_run: bool = typer.Option(False, "--dry-run", help="say what would be done; append "
                                                          "nothing"),
    dismiss: bool = typer.Option(False, "--dismiss", help="mark them handled without "
                                                          "re-driving (e.g. after a replay)"),
    as_json: AsJson = False,
    runtime: RuntimeOption = None,
) -> None:
    """Re-drive dead letters once the cause is fixed; each at most once. A raw or command
    record goes back to its origin topic; a Salesforce letter makes the Salesforce sync
    re-sync its ticket from the log (to the sync only). Embedded, beside a running
    `telecase run`, the run re-drives them within seconds."""
    from telecase.ops.deadletter import request_retry
    if bool(letter_ids) == (reason is not None):
        raise CommandError("retry takes ids or --reason, one of the two")
    settings = configure()
    outcomes = asyncio.run(request_retry(settings, chosen_runtime(settings, runtime),
                                         letter_ids or [], reason, dry_run=dry_run,
                                         dismiss=dismiss))
    if as_json:
        echo_json([o.as_dict() for o in outcomes])
        return
    for o in outcomes:
        typer.echo(f"{o.id}: {o.action.replace('_', ' ')}: {o.detail}")
    if not outcomes:
        typer.echo("no dead letter matches")

"""``telecase replay`` and ``telecase reconcile``: operating on the log (rebuild projections
from it; compare it with Salesforce and append corrections)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from telecase.cli.common import chosen_runtime, configure, echo_json


def replay(
    projection: Annotated[list[str] | None, typer.Option(
        "--projection", help="rebuild this projection (repeat for more; default: all)")] = None,
    runtime: str | None = typer.Option(None, help="embedded (the data directory's log) or "
                                       "kafka (the configured cluster); default: kafka when "
                                       "KAFKA_BOOTSTRAP_SERVERS is set"),
    batch: int | None = typer.Option(None, "--batch", min=1, help="events per transaction "
                                     "(default: projections.replay.DEFAULT_BATCH, 20,000)"),
    restart: bool = typer.Option(False, "--restart", help="drop the rebuild tables and start "
                                 "from the first event (default: resume an interrupted one)"),
    max_lag: int = typer.Option(1000, "--max-lag", min=0, help="swap once this close to the "
                                "end of ticket.events"),
) -> None:
    """Rebuild projections from the first event of ticket.events into fresh tables while the
    live ones keep serving, then swap them in (no side effects; resumable)."""
    from rich.console import Console

    from projections.replay import DEFAULT_BATCH
    from telecase.ops.replay import run as run_replay
    settings = configure()
    chosen = chosen_runtime(settings, runtime)
    console = Console(stderr=True)
    try:
        result = asyncio.run(run_replay(settings, runtime=chosen, projections=projection,
                                        batch=batch or DEFAULT_BATCH, restart=restart,
                                        max_lag=max_lag,
                                        console=console))
    except KeyboardInterrupt:
        typer.echo("replay interrupted: what it rebuilt is kept; run it again to resume "
                   "(--restart starts over)", err=True)
        raise typer.Exit(130) from None
    if result.swapped:
        typer.echo(f"swapped in: {', '.join(result.projections)}. A running projector goes on "
                   "from its own position (events it applies again are no-ops, by seq); a "
                   "restarted one resumes from the swapped checkpoints.", err=True)
    echo_json(result.summary())


def reconcile(
    runtime: str | None = typer.Option(None, help="embedded or kafka; default: kafka when "
                                       "KAFKA_BOOTSTRAP_SERVERS is set"),
    dry_run: bool = typer.Option(False, "--dry-run", help="report only: say what would be "
                                 "corrected (\"would correct\"), append nothing"),
    every: float = typer.Option(0.0, "--every", min=0, help="repeat every N seconds until "
                                "stopped (0: once)"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
) -> None:
    """Compare every ticket in the log with its Salesforce Case (Status and Owner: the log's
    view against Salesforce's and who last changed them) and append a correction for each
    drift the log can take in (see connectors/salesforce/reconcile.py)."""
    from rich.console import Console

    from telecase.ops.reconcile import report_json, report_table
    from telecase.ops.reconcile import run as run_reconcile
    settings = configure()
    chosen = chosen_runtime(settings, runtime)
    console = Console()
    if every > 0:  # a long-running process like the others: /metrics when configured
        from telecase.web.metrics import serve_metrics
        serve_metrics(settings)
    report = asyncio.run(run_reconcile(settings, runtime=chosen, dry_run=dry_run, every=every,
                                       console=console))
    if report is None:
        return
    if as_json:
        echo_json(report_json(report))
    else:
        console.print(report_table(report))

"""``telecase run`` (everything in one process over the embedded log) and ``telecase demo``
(the Kafka processes with simulated traffic and a live view)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import typer

from telecase import logs
from telecase.cli.common import configure
from telecase.errors import CommandError


def run(
    demo: bool | None = typer.Option(None, "--demo/--no-demo",
                                     help="simulated Telegram traffic (default: when no bot "
                                          "token is configured)"),
    duration: float = typer.Option(0, help="stop after this many seconds (0: until Ctrl-C)"),
    fresh: bool = typer.Option(False, "--fresh",
                               help="with --demo: start over (remove the data directory's "
                                    "log, projections and simulated world)"),
    log_format: str = typer.Option("json", help="json (one object a line) or console"),
    log_file: str | None = typer.Option(None, help="append the log here (default: stderr; "
                                                    "<data dir>/telecase.log while the demo's "
                                                    "live table is on the terminal)"),
) -> None:
    """Run telecase on this machine: connector, worker and projector over the embedded log.
    A demo run continues the earlier ones' chats, Cases and agents (telecase.demo.world)."""
    from telecase.roles.embedded import run as run_embedded
    settings = configure()
    use_demo = (not settings.has_telegram_credentials) if demo is None else demo
    if fresh:
        if not use_demo:
            raise CommandError("--fresh starts the demo over; it is for --demo only")
        from telecase.demo.world import start_over
        start_over(settings.data_dir)
    if log_format not in ("json", "console"):
        raise CommandError(f"--log-format must be json or console, not {log_format!r}")
    log_path = Path(log_file) if log_file else None
    if log_path is None and use_demo and sys.stdout.isatty():  # the table owns the screen
        log_path = Path(settings.data_dir) / "telecase.log"
    logs.configure(settings.log_level, fmt="console" if log_format == "console" else "json",
                   file=log_path)
    if log_path is not None:
        typer.echo(f"Log: {log_path}")
    try:
        summary = asyncio.run(run_embedded(settings, demo=use_demo, duration=duration))
    except KeyboardInterrupt:  # Ctrl-C before the run took SIGINT over: stopped, as asked
        raise typer.Exit(0) from None
    sent = f"updates sent: {summary.updates_sent}, " if use_demo else ""
    typer.echo(f"this run: tickets: {summary.tickets}, messages: {summary.messages}, "
               f"{sent}errors: {len(summary.errors)}")
    typer.echo("  (tickets opened, customer messages received"
               + (", updates the simulated customers sent" if use_demo else "")
               + "; errors: dead letters and refused deliveries)")
    if summary.synced is not None:
        typer.echo(f"  salesforce: {summary.synced} ticket events synced")
    typer.echo(f"in total: tickets: {summary.total_tickets}, messages: "
               f"{summary.total_messages}, dead letters waiting: "
               f"{summary.dead_letters_waiting} (every run on {settings.data_dir})")
    for error in summary.errors[:10]:
        typer.echo(f"  error: {error}", err=True)
    raise typer.Exit(1 if summary.errors else 0)  # the exit status says whether any


def demo(duration: float = typer.Option(0, help="stop after this many seconds (0: Ctrl-C)"),
         ) -> None:
    """The demo over Kafka + PostgreSQL (the three processes), with a live view."""
    from telecase.demo.kafka import run_demo
    try:
        summary = asyncio.run(run_demo(configure(), duration))
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
    typer.echo(f"tickets opened: {summary.tickets}, messages: {summary.messages}, "
               f"updates sent: {summary.updates_sent}, errors: {len(summary.errors)}")
    for error in summary.errors[:10]:
        typer.echo(f"  error: {error}", err=True)
    raise typer.Exit(1 if summary.errors else 0)

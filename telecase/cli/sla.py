"""``telecase sla``: SLA policies (preview), the what-if ``telecase sla simulate``."""

from __future__ import annotations

from pathlib import Path

import typer

from telecase import logs
from telecase.cli.common import configure, echo_json
from telecase.errors import CommandError
from telecase.settings import RuntimeKind

app = typer.Typer(no_args_is_help=True, help="SLA policies (preview): the what-if.")


@app.command("simulate")
def sla_simulate(
    policy: str = typer.Option(..., "--policy", help="the SLA policy to try (TOML, [sla]; "
                                "its [routing]/[queues]/[agents] too when it has them)"),
    routing: str | None = typer.Option(None, "--routing", help="the routing and assignment "
                                        "policy (default: the one in --policy, if any)"),
    baseline: str | None = typer.Option(None, "--baseline", help="the current policy, to "
                                         "report the differences against"),
    runtime: str = typer.Option("embedded", help="embedded (the data directory's log) or "
                                                 "kafka (the configured cluster)"),
    until: str | None = typer.Option(None, help="simulate as of this instant (ISO 8601; no "
                                                "zone means UTC; default: now)"),
    details: bool = typer.Option(False, "--details", help="per-ticket outcomes"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of tables"),
) -> None:
    """Replay past ticket events under a policy, read-only: breaches, escalations, and who
    would have been assigned."""
    from datetime import UTC, datetime

    from rich.console import Console

    from telecase.ops.sla_simulate import render
    from telecase.ops.sla_simulate import run as run_simulation
    settings = configure()
    logs.configure("warning")
    try:
        instant = datetime.now(UTC) if until is None else datetime.fromisoformat(until)
    except ValueError:
        raise CommandError(f"--until: {until!r} is not an ISO 8601 instant") from None
    if instant.utcoffset() is None:
        instant = instant.replace(tzinfo=UTC)
    outcome = run_simulation(settings, policy=Path(policy),
                             routing=None if routing is None else Path(routing),
                             baseline=None if baseline is None else Path(baseline),
                             runtime=RuntimeKind.parse(runtime), until=instant)
    if as_json:
        echo_json(outcome.as_json(details), indent=2)
    else:
        render(outcome, Console(), details)

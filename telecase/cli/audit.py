"""``telecase audit``: the audit trail on the command line (a ticket's, an agent's), as the
local operator (:mod:`telecase.cli.audit_trail`), and its read-only HTTP API
(:mod:`telecase.web.server`)."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import typer

from telecase.cli.common import RuntimeOption, chosen_runtime, configure

app = typer.Typer(no_args_is_help=True, help="The audit trail: who did what, when and why (as "
                                             "the local operator, an admin), and its "
                                             "read-only HTTP API.")

AsJson = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]
ShowPersonalData = Annotated[bool, typer.Option(
    "--show-personal-data",
    help="print message bodies and customers' names (withheld by default)")]


@app.command("ticket")
def audit_ticket(
    ticket_id: str = typer.Argument(..., help="the ticket (tg:<chat>:...)"),
    as_json: AsJson = False,
    show_personal_data: ShowPersonalData = False,
    runtime: RuntimeOption = None,
) -> None:
    """A ticket's audit trail, in order."""
    from rich.console import Console

    from projections.audit_queries import Viewer
    from telecase.cli.audit_trail import print_json, projections, render, ticket_entries
    settings = configure()
    with projections(settings, chosen_runtime(settings, runtime)) as engine:
        entries = ticket_entries(engine, ticket_id, Viewer.admin(pii=show_personal_data))
    if as_json:
        print_json({"ticket_id": ticket_id}, entries, sys.stdout)
    else:
        render(entries, Console(), title=f"ticket {ticket_id}", with_ticket=False,
               show_personal_data=show_personal_data)


@app.command("agent")
def audit_agent(
    agent_id: str = typer.Argument(..., help="the agent (an id in the policy)"),
    since: str = typer.Option(..., "--since", help="from (ISO 8601, no zone means UTC; or a "
                                                   "time ago: 2d, 12h, 30m)"),
    until: str | None = typer.Option(None, "--until", help="up to, excluded (default: now)"),
    as_json: AsJson = False,
    show_personal_data: ShowPersonalData = False,
    runtime: RuntimeOption = None,
) -> None:
    """What happened on an agent's tickets while they were theirs, and what the agent did."""
    from rich.console import Console

    from projections.audit_queries import Viewer
    from telecase.cli.audit_trail import agent_entries, print_json, projections, render
    settings = configure()
    with projections(settings, chosen_runtime(settings, runtime)) as engine:
        start, end, entries = agent_entries(engine, agent_id, since, until,
                                            Viewer.admin(pii=show_personal_data))
    if as_json:
        print_json({"agent_id": agent_id, "since": start.isoformat(),
                    "until": None if end is None else end.isoformat()}, entries, sys.stdout)
    else:
        span = f"since {start:%Y-%m-%d %H:%M:%S}" + ("" if end is None
                                                     else f" until {end:%Y-%m-%d %H:%M:%S}")
        render(entries, Console(), title=f"agent {agent_id}, {span} (UTC)", with_ticket=True,
               show_personal_data=show_personal_data)


@app.command("serve")
def audit_serve(
    host: str | None = typer.Option(None, help="listen here (default: "
                                               "TELECASE_AUDIT_API_HOST, 127.0.0.1)"),
    port: int | None = typer.Option(None, help="and here (default: TELECASE_AUDIT_API_PORT, "
                                               "8090)"),
    runtime: RuntimeOption = None,
) -> None:
    """The read-only audit HTTP API (keys from TELECASE_AUDIT_API_KEYS_FILE)."""
    from telecase.web.server import serve_audit_api
    settings = configure()
    asyncio.run(serve_audit_api(settings, chosen_runtime(settings, runtime),
                      host or settings.audit_api_host,
                      settings.audit_api_port if port is None else port))


@app.command("key-hash")
def audit_key_hash() -> None:
    """Print the SHA-256 of the API key read from stdin, for the keys file."""
    from telecase.cli.audit_trail import read_key
    typer.echo(read_key(sys.stdin.read()))

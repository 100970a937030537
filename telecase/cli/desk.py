"""``telecase desk``: routing and assignment. Without a command it runs the desk on Kafka; its
commands ask the desk for something by hand (claim, reassign, availability) or show it."""

from __future__ import annotations

import asyncio

import typer

from telecase.cli.common import RuntimeOption, chosen_runtime, configure
from telecase.errors import CommandError

app = typer.Typer(help="Routing and assignment. Without a command: run the desk on Kafka "
                       "(embedded, it runs inside `telecase run`). With one: ask the desk for "
                       "something by hand, or show it.")


@app.callback(invoke_without_command=True)
def desk(ctx: typer.Context) -> None:
    """Without a command: run the desk on Kafka (routing and assignment from ticket.events
    and desk.requests into ticket.commands; state in the database). Embedded, the desk runs
    inside `telecase run`."""
    if ctx.invoked_subcommand is not None:
        return
    from telecase.roles.kafka import desk as run_desk
    asyncio.run(run_desk(configure()))


def _request(action: str, runtime: str | None, **fields: object) -> None:
    from telecase.bootstrap.policy import load_policies
    from telecase.ops.desk import check_request, new_request, send_request
    settings = configure()
    chosen = chosen_runtime(settings, runtime)
    request = new_request(action, **fields)  # type: ignore[arg-type]
    check_request(request, load_policies(settings.policy_file).assignment)
    typer.echo(asyncio.run(send_request(settings, chosen, request)))


@app.command("claim")
def desk_claim(
    ticket_id: str = typer.Argument(..., help="the ticket (tg:<chat>:...)"),
    agent_id: str = typer.Argument(..., help="the agent who takes it (an id in the policy)"),
    by: str | None = typer.Option(None, "--by", help="who asks (default: your user name)"),
    runtime: RuntimeOption = None,
) -> None:
    """An agent takes a ticket (respected beyond capacity and availability)."""
    _request("claim", runtime, ticket_id=ticket_id, agent_id=agent_id, requested_by=by)


@app.command("reassign")
def desk_reassign(
    ticket_id: str = typer.Argument(..., help="the ticket (tg:<chat>:...)"),
    agent_id: str | None = typer.Argument(None, help="to this agent (default: the next one "
                                                     "the queue's strategy picks)"),
    reason: str = typer.Option("", "--reason", help="why, for the audit trail"),
    by: str | None = typer.Option(None, "--by", help="who asks (default: your user name)"),
    runtime: RuntimeOption = None,
) -> None:
    """Move a ticket to another agent."""
    _request("reassign", runtime, ticket_id=ticket_id, agent_id=agent_id, reason=reason,
             requested_by=by)


@app.command("availability")
def desk_availability(
    agent_id: str = typer.Argument(..., help="the agent (an id in the policy)"),
    status: str = typer.Argument(..., help="available, away or offline"),
    by: str | None = typer.Option(None, "--by", help="who asks (default: your user name)"),
    runtime: RuntimeOption = None,
) -> None:
    """Set an agent available, away or offline (away and offline agents get no new tickets)."""
    if status not in ("available", "away", "offline"):
        raise CommandError(f"availability must be available, away or offline, not {status!r}")
    _request("availability", runtime, agent_id=agent_id, availability=status, requested_by=by)


@app.command("show")
def desk_show(runtime: RuntimeOption = None) -> None:
    """Agents' loads and availability, and the waiting tickets, as the desk saved them last."""
    from rich.console import Console

    from telecase.bootstrap.policy import load_policies
    from telecase.ops.desk import render, saved_snapshot
    settings = configure()
    chosen = chosen_runtime(settings, runtime)
    policy = load_policies(settings.policy_file).assignment
    snapshot = asyncio.run(saved_snapshot(settings, chosen))
    if snapshot is None:
        typer.echo("the desk has saved nothing yet (it runs inside `telecase run`, or as "
                   "`telecase desk` on Kafka, with an assignment policy)")
        return
    render(snapshot, policy, Console())

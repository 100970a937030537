"""The ``telecase`` command."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from telecase import logs
from telecase.settings import Settings, SettingsError, load_settings

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Telegram conversations as Salesforce Cases, kept in step.")
connector_app = typer.Typer(no_args_is_help=True, help="Inbound/outbound connectors.")
bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks (speed and memory figures).")
app.add_typer(connector_app, name="connector")
app.add_typer(bench_app, name="bench")
sla_app = typer.Typer(no_args_is_help=True, help="SLA policies (preview): the what-if.")
app.add_typer(sla_app, name="sla")
desk_app = typer.Typer(help="Routing and assignment. Without a command: run the desk on "
                            "Kafka (embedded, it runs inside `telecase run`). With one: ask "
                            "the desk for something by hand, or show it.")
app.add_typer(desk_app, name="desk")
audit_app = typer.Typer(no_args_is_help=True, help="The audit trail: who did what, when and "
                                                    "why (as the local operator, an admin), "
                                                    "and its read-only HTTP API.")
app.add_typer(audit_app, name="audit")


def _settings() -> Settings:
    try:
        settings = load_settings()
    except SettingsError as exc:
        typer.echo(f"telecase: {exc}", err=True)
        raise typer.Exit(2) from None
    logs.configure(settings.log_level)
    return settings


def _fail(exc: Exception) -> None:
    typer.echo(f"telecase: {exc}", err=True)
    raise typer.Exit(2)


@connector_app.command("telegram")
def connector_telegram() -> None:
    """Receive Telegram updates (webhook or long polling) into telegram.updates."""
    from telecase.roles.kafka import telegram_connector
    try:
        asyncio.run(telegram_connector(_settings()))
    except SettingsError as exc:
        _fail(exc)


@connector_app.command("salesforce")
def connector_salesforce() -> None:
    """Sync tickets to Salesforce: Contact, Case and a Task per customer message."""
    from telecase.roles.kafka import salesforce_connector
    try:
        asyncio.run(salesforce_connector(_settings()))
    except SettingsError as exc:
        _fail(exc)


@connector_app.command("telegram-out")
def connector_telegram_out() -> None:
    """Mirror agents' Salesforce replies into the tickets' Telegram threads."""
    from telecase.roles.kafka import telegram_out_connector
    try:
        asyncio.run(telegram_out_connector(_settings()))
    except SettingsError as exc:
        _fail(exc)


@app.command()
def worker() -> None:
    """Fold telegram.updates into ticket.events (Faust worker)."""
    from telecase.roles import kafka as processes
    try:
        processes.worker(_settings())
    except SettingsError as exc:
        _fail(exc)


@app.command()
def projector() -> None:
    """Maintain the cases table in the database from ticket.events."""
    from telecase.roles.kafka import projector as run
    try:
        asyncio.run(run(_settings()))
    except SettingsError as exc:
        _fail(exc)


@app.command()
def topics() -> None:
    """Create the log's topics on the configured Kafka cluster (idempotent)."""
    from telecase.roles.kafka import ensure
    asyncio.run(ensure(_settings()))
    typer.echo("topics ready")


@app.command()
def run(
    demo: bool | None = typer.Option(None, "--demo/--no-demo",
                                     help="simulated Telegram traffic (default: when no bot "
                                          "token is configured)"),
    duration: float = typer.Option(0, help="stop after this many seconds (0: until Ctrl-C)"),
) -> None:
    """Run telecase on this machine: connector, worker and projector over the embedded log."""
    from telecase.roles.embedded import RunError
    from telecase.roles.embedded import run as run_embedded
    settings = _settings()
    use_demo = (not settings.has_telegram_credentials) if demo is None else demo
    try:
        summary = asyncio.run(run_embedded(settings, demo=use_demo, duration=duration))
    except (RunError, SettingsError) as exc:
        _fail(exc)
        return
    typer.echo(f"tickets: {summary.tickets}, messages: {summary.messages}, "
               f"updates sent: {summary.updates_sent}, errors: {len(summary.errors)}")
    if summary.synced is not None:
        typer.echo(f"salesforce: {summary.synced} ticket events synced")
    for error in summary.errors[:10]:
        typer.echo(f"  error: {error}", err=True)
    raise typer.Exit(1 if summary.errors else 0)


@app.command()
def demo(duration: float = typer.Option(0, help="stop after this many seconds (0: Ctrl-C)"),
         ) -> None:
    """The demo over Kafka + PostgreSQL (the three processes), with a live view."""
    from telecase.demo.kafka import run_demo
    try:
        summary = asyncio.run(run_demo(_settings(), duration))
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
    typer.echo(f"tickets opened: {summary.tickets}, messages: {summary.messages}, "
               f"updates sent: {summary.updates_sent}, errors: {len(summary.errors)}")
    for error in summary.errors[:10]:
        typer.echo(f"  error: {error}", err=True)
    raise typer.Exit(1 if summary.errors else 0)


@app.command()
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

    from projections.replay import DEFAULT_BATCH, ReplayError
    from telecase.ops.replay import run as run_replay
    settings = _settings()
    chosen = runtime or settings.default_runtime
    console = Console(stderr=True)
    try:
        result = asyncio.run(run_replay(settings, runtime=chosen, projections=projection,
                                        batch=batch or DEFAULT_BATCH, restart=restart,
                                        max_lag=max_lag,
                                        console=console))
    except ReplayError as exc:
        _fail(exc)
        return
    except KeyboardInterrupt:
        typer.echo("replay interrupted: what it rebuilt is kept; run it again to resume "
                   "(--restart starts over)", err=True)
        raise typer.Exit(130) from None
    if result.swapped:
        typer.echo(f"swapped in: {', '.join(result.projections)}. A running projector goes on "
                   "from its own position (events it applies again are no-ops, by seq); a "
                   "restarted one resumes from the swapped checkpoints.", err=True)
    json.dump(result.summary(), sys.stdout)
    sys.stdout.write("\n")


@app.command()
def reconcile(
    runtime: str | None = typer.Option(None, help="embedded or kafka; default: kafka when "
                                       "KAFKA_BOOTSTRAP_SERVERS is set"),
    dry_run: bool = typer.Option(False, "--dry-run", help="report only: append no corrections"),
    every: float = typer.Option(0.0, "--every", min=0, help="repeat every N seconds until "
                                "stopped (0: once)"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
) -> None:
    """Compare every ticket in the log with its Salesforce Case and append a correction for
    each drift the log can take in (see connectors/salesforce/reconcile.py)."""
    from rich.console import Console

    from telecase.ops.reconcile import report_json, report_table
    from telecase.ops.reconcile import run as run_reconcile
    settings = _settings()
    chosen = runtime or settings.default_runtime
    if chosen not in ("embedded", "kafka"):
        _fail(SettingsError(f"--runtime must be embedded or kafka, not {chosen!r}"))
    console = Console()
    try:
        if every > 0:  # a long-running process like the others: /metrics when configured
            from telecase.web.metrics import serve_metrics
            serve_metrics(settings)
        report = asyncio.run(run_reconcile(settings, runtime=chosen,  # type: ignore[arg-type]
                                           dry_run=dry_run, every=every, console=console))
    except SettingsError as exc:
        _fail(exc)
        return
    if report is None:
        return
    if as_json:
        json.dump(report_json(report), sys.stdout)
        sys.stdout.write("\n")
    else:
        console.print(report_table(report))


@bench_app.command("ingest")
def bench_ingest(
    updates: int = typer.Option(20_000, "--updates", "-n", help="updates to drive"),
    rate: int = typer.Option(1_000, help="paced rate (updates/s) for the latency run"),
    chats: int = typer.Option(200, help="distinct forum topics the updates spread over"),
    runtime: str = typer.Option("kafka", help="kafka (the configured cluster and database) "
                                              "or embedded (SQLite, in this process)"),
) -> None:
    """Drive simulated updates through webhook → log → worker → projection; print JSON."""
    if runtime == "embedded":
        from bench.ingest_embedded import run_embedded_bench
        logs.configure("warning")
        result = asyncio.run(run_embedded_bench(updates=updates, rate=rate, chats=chats))
    elif runtime == "kafka":
        from bench.ingest import run_ingest_bench
        result = asyncio.run(run_ingest_bench(_settings(), updates=updates, rate=rate,
                                              chats=chats))
    else:
        _fail(ValueError(f"--runtime must be kafka or embedded, not {runtime!r}"))
        return
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


@bench_app.command("salesforce")
def bench_salesforce(
    rates: str = typer.Option("10,100,1000", help="inbound messages per second, comma list"),
    seconds: float = typer.Option(10.0, help="how long each rate runs"),
    replies: int = typer.Option(40, min=0, help="agent replies (Salesforce CaseComments, 2/s) "
                                                "timed to Telegram; 0 skips that phase"),
    poll_interval: float = typer.Option(1.0, "--poll-interval", min=0.01,
                                        help="seconds between the change poller's polls in "
                                             "the reply phase (it dominates reply latency)"),
) -> None:
    """Salesforce API calls per inbound message and sync latency at each rate, then agent
    reply delivery latency (Salesforce → Telegram); print JSON."""
    from bench.salesforce import run as run_bench
    logs.configure("warning")
    result = run_bench(rates=tuple(int(r) for r in rates.split(",")), seconds=seconds,
                       replies=replies, poll_interval=poll_interval)
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


@bench_app.command("telegram-out")
def bench_telegram_out(
    replies: int = typer.Option(300, help="agent replies to deliver"),
    forums: int = typer.Option(10, help="forum groups"),
    topics_per_forum: int = typer.Option(2, help="topics in each forum"),
    private_chats: int = typer.Option(40, help="private-chat tickets"),
    rate: float = typer.Option(0.0, help="replies/s (0: all at once, as a backlog)"),
) -> None:
    """Deliver agent replies to a simulated Telegram with its limits on; print JSON (429s,
    completeness, latency)."""
    from bench.telegram_out import run as run_bench
    logs.configure("warning")
    result = run_bench(replies=replies, forums=forums, topics_per_forum=topics_per_forum,
                       private_chats=private_chats, rate=rate)
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


@bench_app.command("timers")
def bench_timers(
    tickets: int = typer.Option(1_000_000, min=1, help="open tickets, two live timers each"),
    rate: int = typer.Option(2_000, min=1, help="timers coming due per second"),
    seconds: float = typer.Option(10.0, min=0.1, help="how long timers come due at --rate"),
    live: int = typer.Option(0, min=0, help="also measure the worker's own restart path "
                             "(stored states decoded, indexed, fired into encoded events) on "
                             "this many tickets"),
) -> None:
    """SLA timers on one worker: memory for --tickets open tickets, firing lateness at --rate,
    and catching up after a restart with every timer overdue; print JSON."""
    from bench.timers import run as run_bench
    result = run_bench(tickets=tickets, rate=rate, seconds=seconds)
    if live:
        from bench.timers_live import run as run_live
        result["worker_restart"] = run_live(live)
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


@bench_app.command("replay")
def bench_replay(
    events: int = typer.Option(1_000_000, "--events", "-n", min=1, help="ticket events"),
    database_url: str | None = typer.Option(None, "--database-url", help="a PostgreSQL "
                                            "server (default: the configured database); the "
                                            "bench works in a scratch database of its own"),
    batch: int | None = typer.Option(None, "--batch", min=1, help="events per transaction "
                                     "(default: as telecase replay, 20,000)"),
) -> None:
    """Rebuild every projection from N ticket events into PostgreSQL (events/s), beside a
    raw COPY of the rows it produced; print JSON."""
    from bench.replay import run as run_bench
    from projections.replay import DEFAULT_BATCH
    settings = _settings()
    logs.configure("warning")
    url = database_url or settings.projection_url("kafka")
    result = run_bench(url, events=events, batch=batch or DEFAULT_BATCH)
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


@sla_app.command("simulate")
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

    from telecase.ops.sla_simulate import SimulateError, render
    from telecase.ops.sla_simulate import run as run_simulation
    settings = _settings()
    logs.configure("warning")
    try:
        instant = datetime.now(UTC) if until is None else datetime.fromisoformat(until)
    except ValueError:
        _fail(ValueError(f"--until: {until!r} is not an ISO 8601 instant"))
        return
    if instant.utcoffset() is None:
        instant = instant.replace(tzinfo=UTC)
    try:
        outcome = run_simulation(settings, policy=Path(policy),
                                 routing=None if routing is None else Path(routing),
                                 baseline=None if baseline is None else Path(baseline),
                                 runtime=runtime, until=instant)
    except SimulateError as exc:
        _fail(exc)
        return
    if as_json:
        json.dump(outcome.as_json(details), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        render(outcome, Console(), details)


RUNTIME_HELP = ("embedded (the data directory's log) or kafka (the configured cluster); "
                "default: kafka when KAFKA_BOOTSTRAP_SERVERS is set")


@desk_app.callback(invoke_without_command=True)
def desk(ctx: typer.Context) -> None:
    """Without a command: run the desk on Kafka (routing and assignment from ticket.events
    and desk.requests into ticket.commands; state in the database). Embedded, the desk runs
    inside `telecase run`."""
    if ctx.invoked_subcommand is not None:
        return
    from telecase.bootstrap.policy import PolicyFileError
    from telecase.ops.desk import DeskError
    from telecase.roles.kafka import desk as run_desk
    try:
        asyncio.run(run_desk(_settings()))
    except (DeskError, PolicyFileError, SettingsError) as exc:
        _fail(exc)


def _desk_request(action: str, runtime: str | None, **fields: object) -> None:
    from telecase.bootstrap.policy import PolicyFileError, load_policies
    from telecase.ops.desk import DeskError, check_request, new_request, send_request
    settings = _settings()
    chosen = runtime or settings.default_runtime
    if chosen not in ("embedded", "kafka"):
        _fail(ValueError(f"--runtime must be embedded or kafka, not {chosen!r}"))
    try:
        request = new_request(action, **fields)  # type: ignore[arg-type]
        check_request(request, load_policies(settings.policy_file).assignment)
        said = asyncio.run(send_request(settings, chosen, request))  # type: ignore[arg-type]
    except (DeskError, PolicyFileError) as exc:
        _fail(exc)
        return
    typer.echo(said)


@desk_app.command("claim")
def desk_claim(
    ticket_id: str = typer.Argument(..., help="the ticket (tg:<chat>:...)"),
    agent_id: str = typer.Argument(..., help="the agent who takes it (an id in the policy)"),
    by: str | None = typer.Option(None, "--by", help="who asks (default: your user name)"),
    runtime: str | None = typer.Option(None, help=RUNTIME_HELP),
) -> None:
    """An agent takes a ticket (respected beyond capacity and availability)."""
    _desk_request("claim", runtime, ticket_id=ticket_id, agent_id=agent_id, requested_by=by)


@desk_app.command("reassign")
def desk_reassign(
    ticket_id: str = typer.Argument(..., help="the ticket (tg:<chat>:...)"),
    agent_id: str | None = typer.Argument(None, help="to this agent (default: the next one "
                                                     "the queue's strategy picks)"),
    reason: str = typer.Option("", "--reason", help="why, for the audit trail"),
    by: str | None = typer.Option(None, "--by", help="who asks (default: your user name)"),
    runtime: str | None = typer.Option(None, help=RUNTIME_HELP),
) -> None:
    """Move a ticket to another agent."""
    _desk_request("reassign", runtime, ticket_id=ticket_id, agent_id=agent_id, reason=reason,
                  requested_by=by)


@desk_app.command("availability")
def desk_availability(
    agent_id: str = typer.Argument(..., help="the agent (an id in the policy)"),
    status: str = typer.Argument(..., help="available, away or offline"),
    by: str | None = typer.Option(None, "--by", help="who asks (default: your user name)"),
    runtime: str | None = typer.Option(None, help=RUNTIME_HELP),
) -> None:
    """Set an agent available, away or offline (away and offline agents get no new tickets)."""
    if status not in ("available", "away", "offline"):
        _fail(ValueError(f"availability must be available, away or offline, not {status!r}"))
    _desk_request("availability", runtime, agent_id=agent_id, availability=status,
                  requested_by=by)


@desk_app.command("show")
def desk_show(runtime: str | None = typer.Option(None, help=RUNTIME_HELP)) -> None:
    """Agents' loads and availability, and the waiting tickets, as the desk saved them last."""
    from rich.console import Console

    from telecase.bootstrap.policy import PolicyFileError, load_policies
    from telecase.ops.desk import DeskError, render, saved_snapshot
    settings = _settings()
    chosen = runtime or settings.default_runtime
    if chosen not in ("embedded", "kafka"):
        _fail(ValueError(f"--runtime must be embedded or kafka, not {chosen!r}"))
    try:
        policy = load_policies(settings.policy_file).assignment
        snapshot = asyncio.run(saved_snapshot(settings, chosen))  # type: ignore[arg-type]
    except (DeskError, PolicyFileError) as exc:
        _fail(exc)
        return
    if snapshot is None:
        typer.echo("the desk has saved nothing yet (it runs inside `telecase run`, or as "
                   "`telecase desk` on Kafka, with an assignment policy)")
        return
    render(snapshot, policy, Console())


PERSONAL_DATA_HELP = "print message bodies and customers' names (withheld by default)"


@audit_app.command("ticket")
def audit_ticket(
    ticket_id: str = typer.Argument(..., help="the ticket (tg:<chat>:...)"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
    show_personal_data: bool = typer.Option(False, "--show-personal-data",
                                            help=PERSONAL_DATA_HELP),
    runtime: str | None = typer.Option(None, help=RUNTIME_HELP),
) -> None:
    """A ticket's audit trail, in order."""
    from rich.console import Console

    from projections.audit_queries import Viewer
    from telecase.cli.audit import (
        AuditCliError,
        choose_runtime,
        open_projections,
        print_json,
        render,
        ticket_entries,
    )
    settings = _settings()
    try:
        engine = open_projections(settings, choose_runtime(settings, runtime))
        try:
            entries = ticket_entries(engine, ticket_id,
                                     Viewer.admin(pii=show_personal_data))
        finally:
            engine.dispose()
    except AuditCliError as exc:
        _fail(exc)
        return
    if as_json:
        print_json({"ticket_id": ticket_id}, entries, sys.stdout)
    else:
        render(entries, Console(), title=f"ticket {ticket_id}", with_ticket=False,
               show_personal_data=show_personal_data)


@audit_app.command("agent")
def audit_agent(
    agent_id: str = typer.Argument(..., help="the agent (an id in the policy)"),
    since: str = typer.Option(..., "--since", help="from (ISO 8601, no zone means UTC; or a "
                                                   "time ago: 2d, 12h, 30m)"),
    until: str | None = typer.Option(None, "--until", help="up to, excluded (default: now)"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
    show_personal_data: bool = typer.Option(False, "--show-personal-data",
                                            help=PERSONAL_DATA_HELP),
    runtime: str | None = typer.Option(None, help=RUNTIME_HELP),
) -> None:
    """What happened on an agent's tickets while they were theirs, and what the agent did."""
    from rich.console import Console

    from projections.audit_queries import Viewer
    from telecase.cli.audit import (
        AuditCliError,
        agent_entries,
        choose_runtime,
        open_projections,
        print_json,
        render,
    )
    settings = _settings()
    try:
        engine = open_projections(settings, choose_runtime(settings, runtime))
        try:
            start, end, entries = agent_entries(engine, agent_id, since, until,
                                                Viewer.admin(pii=show_personal_data))
        finally:
            engine.dispose()
    except AuditCliError as exc:
        _fail(exc)
        return
    if as_json:
        print_json({"agent_id": agent_id, "since": start.isoformat(),
                    "until": None if end is None else end.isoformat()}, entries, sys.stdout)
    else:
        span = f"since {start:%Y-%m-%d %H:%M:%S}" + ("" if end is None
                                                     else f" until {end:%Y-%m-%d %H:%M:%S}")
        render(entries, Console(), title=f"agent {agent_id}, {span} (UTC)", with_ticket=True,
               show_personal_data=show_personal_data)


@audit_app.command("serve")
def audit_serve(
    host: str | None = typer.Option(None, help="listen here (default: "
                                               "TELECASE_AUDIT_API_HOST, 127.0.0.1)"),
    port: int | None = typer.Option(None, help="and here (default: TELECASE_AUDIT_API_PORT, "
                                               "8090)"),
    runtime: str | None = typer.Option(None, help=RUNTIME_HELP),
) -> None:
    """The read-only audit HTTP API (keys from TELECASE_AUDIT_API_KEYS_FILE)."""
    from telecase.cli.audit import AuditCliError, choose_runtime, serve
    from telecase.web.audit_api import AuditApiError
    settings = _settings()
    try:
        asyncio.run(serve(settings, choose_runtime(settings, runtime),
                          host or settings.audit_api_host,
                          settings.audit_api_port if port is None else port))
    except (AuditApiError, AuditCliError, SettingsError) as exc:
        _fail(exc)


@app.command()
def dashboard(
    host: str | None = typer.Option(None, help="listen here (default: "
                                               "TELECASE_DASHBOARD_HOST, 127.0.0.1)"),
    port: int | None = typer.Option(None, help="and here (default: TELECASE_DASHBOARD_PORT, "
                                               "8091)"),
    runtime: str | None = typer.Option(None, help=RUNTIME_HELP),
) -> None:
    """The dashboard web page: live SLA board, trends, workloads (audit API keys log in)."""
    from telecase.cli.audit import AuditCliError, choose_runtime
    from telecase.cli.dashboard import DEFAULT_PORT, serve
    from telecase.web.audit_api import AuditApiError
    settings = _settings()
    chosen_port = port if port is not None else settings.dashboard_port
    try:
        asyncio.run(serve(settings, choose_runtime(settings, runtime),
                          host or settings.dashboard_host,
                          DEFAULT_PORT if chosen_port is None else chosen_port))
    except (AuditApiError, AuditCliError, SettingsError) as exc:
        _fail(exc)


@audit_app.command("key-hash")
def audit_key_hash() -> None:
    """Print the SHA-256 of the API key read from stdin, for the keys file."""
    from telecase.cli.audit import AuditCliError, read_key
    try:
        typer.echo(read_key(sys.stdin.read()))
    except AuditCliError as exc:
        _fail(exc)


def main() -> None:
    app()

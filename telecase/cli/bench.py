"""``telecase bench``: the benchmarks (speed and memory figures), one command per bench module
(``bench/``); each prints its figures as JSON."""

from __future__ import annotations

import asyncio

import typer

from telecase import logs
from telecase.cli.common import configure, echo_json
from telecase.settings import RuntimeKind

app = typer.Typer(no_args_is_help=True, help="Benchmarks (speed and memory figures).")


@app.command("ingest")
def bench_ingest(
    updates: int = typer.Option(20_000, "--updates", "-n", help="updates to drive"),
    rate: int = typer.Option(1_000, help="paced rate (updates/s) for the latency run"),
    chats: int = typer.Option(200, help="distinct forum topics the updates spread over"),
    runtime: str = typer.Option("kafka", help="kafka (the configured cluster and database) "
                                              "or embedded (a real `telecase run`)"),
    rates: str = typer.Option("500,1000,1500,2000,2500,3000", help="embedded: offered "
                              "rates (updates/s) stepped through, comma list"),
    seconds: float = typer.Option(10.0, help="embedded: seconds each rate is offered"),
    connections: int = typer.Option(100, help="embedded: the sender's connections "
                                    "(setWebhook's max_connections)"),
    front_process: bool = typer.Option(True, "--front-process/--no-front-process",
                                       help="embedded: the webhook in its own process "
                                            "(TELECASE_WEBHOOK_FRONT_PROCESS)"),
    door_only: bool = typer.Option(False, "--door-only", help="embedded: only the webhook "
                                   "front process (its spool), without the pipeline"),
    senders: int = typer.Option(2, min=1, help="embedded: sender processes sharing the "
                                "chats, rate and connections"),
) -> None:
    """Drive simulated updates through webhook → log → worker → projection; print JSON.
    Embedded: Telegram-like delivery (per chat sequential, ``--chats`` forum chats) into a
    real ``telecase run``, stepping the offered rate up (``--rates``)."""
    if RuntimeKind.parse(runtime) is RuntimeKind.EMBEDDED:
        from bench.ingest_embedded import run_embedded_bench
        logs.configure("warning")
        result = asyncio.run(run_embedded_bench(
            rates=[int(r) for r in rates.split(",")], seconds=seconds, chats=chats,
            connections=connections,
            env={"TELECASE_WEBHOOK_FRONT_PROCESS": str(front_process).lower()},
            door_only=door_only, senders=senders))
    else:
        from bench.ingest import run_ingest_bench
        result = asyncio.run(run_ingest_bench(configure(), updates=updates, rate=rate,
                                              chats=chats))
    echo_json(result, indent=2)


@app.command("salesforce")
def bench_salesforce(
    rates: str = typer.Option("10,100,1000", help="inbound messages per second, comma list"),
    seconds: float = typer.Option(10.0, help="how long each rate runs"),
    replies: int = typer.Option(40, min=0, help="agent replies (Salesforce CaseComments, 2/s) "
                                                "timed to Telegram; 0 skips that phase"),
    poll_interval: float = typer.Option(1.0, "--poll-interval", min=0.01,
                                        help="seconds between the change poller's polls in "
                                             "the reply phase (it dominates reply latency)"),
    messages_per_day: int | None = typer.Option(
        None, "--messages-per-day", min=0, help="also print each rate's projected daily API "
        "calls (calls per message x N) next to the org's daily allocation"),
    daily_allocation: int = typer.Option(100_000, "--daily-allocation", min=1,
                                         help="the simulated org's daily API calls"),
    partitions: int = typer.Option(4, min=1, help="ticket.events partitions (a Kafka "
                                                  "deployment's default: 4)"),
) -> None:
    """Salesforce API calls per inbound message and sync latency at each rate, then agent
    reply delivery latency (Salesforce → Telegram); print JSON."""
    from bench.salesforce import run as run_bench
    logs.configure("warning")
    result = run_bench(rates=tuple(int(r) for r in rates.split(",")), seconds=seconds,
                       replies=replies, poll_interval=poll_interval,
                       messages_per_day=messages_per_day, daily_allocation=daily_allocation,
                       partitions=partitions)
    echo_json(result, indent=2)


@app.command("telegram-out")
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
    echo_json(result, indent=2)


@app.command("timers")
def bench_timers(
    tickets: int = typer.Option(1_000_000, min=1, help="open tickets, two live timers each"),
    rate: int = typer.Option(2_000, min=1, help="timers coming due per second"),
    seconds: float = typer.Option(10.0, min=0.1, help="how long timers come due at --rate"),
    live: int = typer.Option(0, min=0, help="also measure the worker's whole restart path "
                             "on this many tickets (index built from the stored states, a tick "
                             "folded: the due ones decoded and fired, events and states "
                             "encoded), and the stored states' memory"),
    processes: int = typer.Option(1, min=1, help="with --live: the restart split over this "
                                  "many worker processes, a partition each (Kafka's "
                                  "partitioner)"),
    restarts: int = typer.Option(3, min=1, help="with --live: the restart run this many times "
                                 "over the same stored states (fresh processes with "
                                 "--processes), the figures the median run's, each run's "
                                 "seconds and CPU listed"),
) -> None:
    """SLA timers on one worker: memory for --tickets open tickets, firing lateness at --rate,
    and catching up after a restart with every timer overdue; print JSON."""
    from bench.timers import run as run_bench
    result = run_bench(tickets=tickets, rate=rate, seconds=seconds)
    if live:
        from bench.timers_live import run as run_live
        result["worker_restart"] = run_live(live, processes, restarts)
    echo_json(result, indent=2)


@app.command("replay")
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
    settings = configure()
    logs.configure("warning")
    url = database_url or settings.projection_url(RuntimeKind.KAFKA)
    result = run_bench(url, events=events, batch=batch or DEFAULT_BATCH)
    echo_json(result, indent=2)


@app.command("recovery")
def bench_recovery(
    rate: int = typer.Option(200, min=1, help="customer messages per second"),
    seconds: float = typer.Option(30.0, min=1.0, help="how long the load runs"),
    kill_after: float = typer.Option(10.0, min=1.0, help="seconds into the load to SIGKILL "
                                     "the worker (restarted at once)"),
    new_identity: bool = typer.Option(False, "--new-identity", help="restart it under another "
                                      "TELECASE_INSTANCE_ID (as without static membership)"),
) -> None:
    """On Kafka: SIGKILL a worker under load; print JSON (seconds until the partitions' lag
    falls again, and until it is back to where it was)."""
    from bench.recovery import run_recovery_bench
    settings = configure()
    logs.configure("warning")
    echo_json(asyncio.run(run_recovery_bench(settings, rate=rate, seconds=seconds,
                                             kill_after=kill_after,
                                             new_identity=new_identity)), indent=2)

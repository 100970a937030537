"""The ``telecase`` command: the app assembled from one module per command group, and
:func:`main` (the ``telecase`` script and ``python -m telecase``).

Commands raise and do not catch: :mod:`telecase.cli.exits` (the app's group) turns the errors a
user should read as one line into ``telecase: <message>`` and an exit code.
"""

from __future__ import annotations

import typer

from telecase.cli import (
    audit,
    bench,
    connector,
    dashboard,
    deadletter,
    desk,
    kafka,
    metrics,
    ops,
    run,
    salesforce,
    sla,
    telegram,
    ticket,
)
from telecase.cli.exits import ErrorExits

app = typer.Typer(cls=ErrorExits, no_args_is_help=True, add_completion=False,
                  help="Telegram conversations as Salesforce Cases, kept in step.")

# The commands, in the order `telecase --help` lists them, then the command groups.
app.command("worker")(kafka.worker)
app.command("projector")(kafka.projector)
app.command("topics")(kafka.topics)
app.command("run")(run.run)
app.command("demo")(run.demo)
app.command("replay")(ops.replay)
app.command("reconcile")(ops.reconcile)
app.command("dashboard")(dashboard.dashboard)
app.add_typer(connector.app, name="connector")
app.add_typer(bench.app, name="bench")
app.add_typer(sla.app, name="sla")
app.add_typer(desk.app, name="desk")
app.add_typer(audit.app, name="audit")
app.add_typer(metrics.app, name="metrics")
app.add_typer(salesforce.app, name="salesforce")
app.add_typer(deadletter.app, name="deadletter")
app.add_typer(ticket.app, name="ticket")
app.add_typer(telegram.app, name="telegram")


def main() -> None:
    app()

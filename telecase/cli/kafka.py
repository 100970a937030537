"""``telecase worker``, ``projector`` and ``topics``: the Kafka deployment's stream processes
and its topics (the connectors are ``telecase connector``, the desk ``telecase desk``)."""

from __future__ import annotations

import asyncio

import typer

from telecase.cli.common import configure


def worker() -> None:
    """Fold telegram.updates into ticket.events (Faust worker)."""
    from telecase.roles import kafka as processes
    processes.worker(configure())


def projector() -> None:
    """Maintain the cases table in the database from ticket.events."""
    from telecase.roles.kafka import projector as run
    asyncio.run(run(configure()))


def topics() -> None:
    """Create the log's topics on the configured Kafka cluster (idempotent)."""
    from telecase.roles.kafka import ensure
    asyncio.run(ensure(configure()))
    typer.echo("topics ready")

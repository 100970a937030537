"""``telecase dashboard``: the dashboard web page as a process of its own (the server is
:mod:`telecase.web.server`)."""

from __future__ import annotations

import asyncio

import typer

from telecase.cli.common import RuntimeOption, chosen_runtime, configure


def dashboard(
    host: str | None = typer.Option(None, help="listen here (default: "
                                               "TELECASE_DASHBOARD_HOST, 127.0.0.1)"),
    port: int | None = typer.Option(None, help="and here (default: TELECASE_DASHBOARD_PORT, "
                                               "8091)"),
    runtime: RuntimeOption = None,
) -> None:
    """The dashboard web page: live SLA board, trends, workloads (audit API keys log in)."""
    from telecase.web.server import DASHBOARD_PORT, serve_dashboard
    settings = configure()
    chosen_port = port if port is not None else settings.dashboard_port
    asyncio.run(serve_dashboard(settings, chosen_runtime(settings, runtime),
                      host or settings.dashboard_host,
                      DASHBOARD_PORT if chosen_port is None else chosen_port))

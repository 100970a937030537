"""The ``/metrics`` endpoint each long-running process serves when ``TELECASE_METRICS_PORT``
is set (Prometheus' text format, on 127.0.0.1; put a proxy or a sidecar in front to scrape it
from elsewhere). The series themselves are defined next to the code that counts them; the
README lists the main ones."""

from __future__ import annotations

import structlog
from prometheus_client import start_http_server

from telecase.settings import Settings, SettingsError

METRICS_HOST = "127.0.0.1"
log = structlog.get_logger("telecase.metrics")


def serve_metrics(settings: Settings) -> int | None:
    """Start serving ``/metrics`` in a daemon thread; the port it listens on (``None``: no
    port configured). A port already taken is a configuration error, said at start."""
    if settings.metrics_port is None:
        return None
    try:
        server, _ = start_http_server(settings.metrics_port, addr=METRICS_HOST)
    except OSError as exc:
        raise SettingsError(f"TELECASE_METRICS_PORT: cannot serve metrics on "
                            f"{METRICS_HOST}:{settings.metrics_port}: "
                            f"{exc.strerror or exc}") from None
    port = int(server.server_port)
    log.info("metrics.listening", host=METRICS_HOST, port=port)
    return port

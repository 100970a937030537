"""The ``/metrics`` endpoint each long-running process serves when ``TELECASE_METRICS_PORT``
is set (Prometheus' text format, on ``TELECASE_METRICS_HOST``, 127.0.0.1 unless told: set it
to ``0.0.0.0`` for a Prometheus in another container or host). The series themselves are
defined next to the code that counts them; the README lists the main ones."""

from __future__ import annotations

import structlog
from prometheus_client import start_http_server

from telecase.settings import Settings, SettingsError

log = structlog.get_logger("telecase.metrics")


def serve_metrics(settings: Settings) -> int | None:
    """Start serving ``/metrics`` in a daemon thread; the port it listens on (``None``: no
    port configured). A port already taken is a configuration error, said at start."""
    if settings.metrics_port is None:
        return None
    try:
        server, _ = start_http_server(settings.metrics_port, addr=settings.metrics_host)
    except (OSError, UnicodeError) as exc:
        raise SettingsError(f"TELECASE_METRICS_PORT: cannot serve metrics on "
                            f"{settings.metrics_host}:{settings.metrics_port}: "
                            f"{getattr(exc, 'strerror', None) or exc}") from None
    port = int(server.server_port)
    log.info("metrics.listening", host=settings.metrics_host, port=port)
    return port

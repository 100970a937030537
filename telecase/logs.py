"""structlog set-up: one JSON object per line on stderr, no secrets and no message bodies at INFO.

Every line, in every process and whether or not stderr is a terminal (the same lines a log
collector reads; ``jq`` makes them readable), is one JSON object with ``timestamp`` (ISO 8601,
UTC), ``level``, ``logger`` and ``event``, then the context bound to it::

    {"port": 9108, "event": "metrics.listening", "level": "info", "logger": "telecase.metrics",
     "timestamp": "2025-01-01T12:00:00.000000Z"}

Standard-library loggers (aiokafka, Faust, SQLAlchemy, httpx) go through the same renderer,
at WARNING and above only: httpx's INFO request lines carry the Bot API URL, which holds the
bot token, and Faust's DEBUG lines carry record values. telecase's own events name things by
id (ticket, chat, offset), never by a token, key, password or message text.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

_TIMESTAMP = structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp")


class _StderrLogger:
    """Writes each line to whatever ``sys.stderr`` is at that moment, not the stream it was
    when logging was configured (an in-process CLI run under a test runner swaps it, and a
    logger bound to the swapped-out stream would write to a closed file ever after)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def msg(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    debug = info = warning = warn = error = critical = exception = fatal = failure = err = msg


def _stderr_logger(*args: Any) -> _StderrLogger:
    return _StderrLogger(str(args[0]) if args else "telecase")


class _StderrHandler(logging.Handler):
    """The standard library's records, as JSON lines on the current ``sys.stderr``."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            print(self.format(record), file=sys.stderr, flush=True)
        except Exception:
            self.handleError(record)


def _json_formatter() -> logging.Formatter:
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_log_level, structlog.stdlib.add_logger_name,
                           _TIMESTAMP],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    structlog.processors.JSONRenderer()])


def configure(level: str = "info") -> None:
    numeric = getattr(logging, level.upper(), logging.INFO)
    root = logging.getLogger()
    if all(isinstance(h, _StderrHandler) for h in root.handlers):
        # Like ``logging.basicConfig``: a handler someone else installed (a test runner's
        # capture) is left alone; ours is replaced, so configuring twice logs once.
        handler = _StderrHandler()
        handler.setFormatter(_json_formatter())
        root.handlers = [handler]
        root.setLevel(max(numeric, logging.WARNING))
    structlog.configure(
        processors=[structlog.processors.add_log_level,
                    structlog.stdlib.add_logger_name,
                    _TIMESTAMP,
                    structlog.processors.format_exc_info,
                    structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=True)

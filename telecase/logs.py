"""structlog set-up: JSON lines on stderr, no secrets and no message bodies at INFO."""

from __future__ import annotations

import logging
import sys

import structlog


class _StderrLogger:
    """Writes each line to whatever ``sys.stderr`` is at that moment, not the stream it was
    when logging was configured (an in-process CLI run under a test runner swaps it, and a
    logger bound to the swapped-out stream would write to a closed file ever after)."""

    def msg(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    debug = info = warning = warn = error = critical = exception = fatal = failure = err = msg


def _stderr_logger(*_: object) -> _StderrLogger:
    return _StderrLogger()


def configure(level: str = "info") -> None:
    numeric = getattr(logging, level.upper(), logging.INFO)
    logging.basicConfig(stream=sys.stderr, level=max(numeric, logging.WARNING),
                        format="%(message)s")
    structlog.configure(
        processors=[structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso", utc=True),
                    structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=True)

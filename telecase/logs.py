"""structlog set-up: one line per event, no secrets and no message bodies at INFO.

By default every line, in every process, is one JSON object on stderr with ``timestamp``
(ISO 8601, UTC), ``level``, ``logger`` and ``event``, then the context bound to it::

    {"port": 9108, "event": "metrics.listening", "level": "info", "logger": "telecase.metrics",
     "timestamp": "2025-01-01T12:00:00.000000Z"}

:func:`configure` can send the lines to a file instead (appended; ``telecase run`` does, to
``<data dir>/telecase.log``, while its live table owns the terminal) and write them for people
(``fmt="console"``: ``2025-01-01T12:00:00Z [info] metrics.listening port=9108``).
:func:`show_warnings` hands each WARNING-and-above event to a callback as well (the live
table's :class:`WarningFold` shows them under the table, repeats folded).

Standard-library loggers (aiokafka, Faust, SQLAlchemy, httpx) go through the same renderer,
at WARNING and above only: httpx's INFO request lines carry the Bot API URL, which holds the
bot token, and Faust's DEBUG lines carry record values. telecase's own events name things by
id (ticket, chat, offset), never by a token, key, password or message text.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import OrderedDict
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import IO, Any, Literal

import structlog

LogFormat = Literal["json", "console"]
Warned = Callable[[dict[str, Any]], None]

_TIMESTAMP = structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp")
_NOTABLE = {"warning", "error", "critical", "exception"}


class _Sink:
    """Where lines go: a file, opened once and appended to, or whatever ``sys.stderr`` is at
    that moment (an in-process CLI run under a test runner swaps it, and a logger bound to the
    swapped-out stream would write to a closed file ever after)."""

    def __init__(self) -> None:
        self.file: IO[str] | None = None
        self.tap: Warned | None = None

    def write(self, line: str) -> None:
        print(line, file=self.file or sys.stderr, flush=True)

    def to(self, path: Path | None) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.file = path.open("a", encoding="utf-8")


_SINK = _Sink()


class _SinkLogger:
    def __init__(self, name: str) -> None:
        self.name = name

    def msg(self, message: str) -> None:
        _SINK.write(message)

    debug = info = warning = warn = error = critical = exception = fatal = failure = err = msg


def _sink_logger(*args: Any) -> _SinkLogger:
    return _SinkLogger(str(args[0]) if args else "telecase")


class _SinkHandler(logging.Handler):
    """The standard library's records, rendered like structlog's, to the same place."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            _SINK.write(self.format(record))
        except Exception:
            self.handleError(record)


def _tap(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Hands a WARNING-and-above event to :func:`show_warnings`' callback, if any."""
    if _SINK.tap is not None and str(event.get("level", "")).lower() in _NOTABLE:
        _SINK.tap(dict(event))
    return event


def _renderer(fmt: LogFormat) -> Any:
    if fmt == "console":
        return structlog.dev.ConsoleRenderer(colors=False)
    return structlog.processors.JSONRenderer()


def _formatter(fmt: LogFormat) -> logging.Formatter:
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_log_level, structlog.stdlib.add_logger_name,
                           _TIMESTAMP, _tap],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, _renderer(fmt)])


def configure(level: str = "info", *, fmt: LogFormat = "json",
              file: Path | None = None) -> None:
    """Log at ``level`` and above, as ``fmt``, to ``file`` (appended) or to stderr."""
    numeric = getattr(logging, level.upper(), logging.INFO)
    _SINK.to(file)
    root = logging.getLogger()
    if all(isinstance(h, _SinkHandler) for h in root.handlers):
        # Like ``logging.basicConfig``: a handler someone else installed (a test runner's
        # capture) is left alone; ours is replaced, so configuring twice logs once.
        handler = _SinkHandler()
        handler.setFormatter(_formatter(fmt))
        root.handlers = [handler]
        root.setLevel(max(numeric, logging.WARNING))
    # The processors go into structlog's existing list, in place: a logger cached under an
    # earlier configuration shares that list, so it follows a reconfiguration (and
    # ``structlog.testing.capture_logs``, which swaps the list's contents) like a new one.
    processors = structlog.get_config()["processors"]
    processors[:] = [structlog.processors.add_log_level,
                     structlog.stdlib.add_logger_name,
                     _TIMESTAMP,
                     _tap,
                     structlog.processors.format_exc_info,
                     _renderer(fmt)]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=_sink_logger,
        cache_logger_on_first_use=True)


def show_warnings(callback: Warned | None) -> None:
    """Also hand every WARNING-and-above event to ``callback`` (``None``: stop)."""
    _SINK.tap = callback


class WarningFold:
    """The warnings a screen shows, repeats folded: an event (logger and event name) is shown
    once a minute at most; the repeats within the minute are counted instead
    ("… 40 more in the last minute"). Keeps the ``keep`` most recently shown events."""

    WINDOW = 60.0

    def __init__(self, keep: int = 5, clock: Callable[[], float] = time.monotonic) -> None:
        self.keep, self.clock = keep, clock
        self._shown: OrderedDict[tuple[str, str], tuple[float, str, list[float]]] = \
            OrderedDict()

    def add(self, event: dict[str, Any]) -> None:
        key = (str(event.get("logger", "")), str(event.get("event", "")))
        now = self.clock()
        shown = self._shown.get(key)
        if shown is not None and now - shown[0] < self.WINDOW:
            shown[2].append(now)
            return
        details = " ".join(f"{k}={v}" for k, v in event.items()
                           if k not in ("event", "level", "logger", "timestamp", "traceback"))
        line = (f"{str(event.get('timestamp', ''))[11:19]} {event.get('level', '')} "
                f"{key[1]} {details}").strip()
        self._shown[key] = (now, line[:200], [])
        self._shown.move_to_end(key)
        while len(self._shown) > self.keep:
            self._shown.popitem(last=False)

    def lines(self) -> list[str]:
        now = self.clock()
        out = []
        for _, line, repeats in self._shown.values():
            out.append(line)
            recent = sum(1 for at in repeats if now - at < self.WINDOW)
            if recent:
                out.append(f"  … {recent} more in the last minute")
        return out

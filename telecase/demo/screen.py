"""What ``telecase run --demo`` shows while it runs.

On a terminal the live table owns the screen (rich ``Live``): the tickets as the projection sees
them and, under them, the warnings of the last minutes, repeats folded
(:class:`telecase.logs.WarningFold`); the log itself goes to a file (``telecase run`` sends it to
``<data dir>/telecase.log``). Off a terminal (``| tee``, CI) there is no table while it runs but
one progress line every :data:`PROGRESS_EVERY` seconds, and the whole table, full width, at
the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from telecase import logs
from telecase.demo.traffic import DemoSummary, cases_table

PROGRESS_EVERY = 5.0
FINAL_WIDTH = 200
"""Columns of the final table off a terminal (a terminal's own width otherwise)."""

Rows = Callable[[], Sequence[Any]]


async def show(console: Console, read_rows: Rows, stop: asyncio.Event, duration: float,
               summary: DemoSummary, where: str = "SQLite") -> None:
    """Until ``stop`` or ``duration`` seconds (0: no limit)."""
    started = time.monotonic()

    def running() -> bool:
        return not stop.is_set() and (duration <= 0 or time.monotonic() - started < duration)

    if console.is_terminal:
        await _live(console, read_rows, stop, running, where)
    else:
        await _progress(console, read_rows, stop, running, summary, where)


async def _live(console: Console, read_rows: Rows, stop: asyncio.Event,
                running: Callable[[], bool], where: str) -> None:
    fold = logs.WarningFold()
    logs.show_warnings(fold.add)
    try:
        with Live(console=console, refresh_per_second=2, transient=False) as live:
            while running():
                rows = await asyncio.to_thread(read_rows)
                live.update(Group(cases_table(rows, where), _warnings(fold)))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
    finally:
        logs.show_warnings(None)
    console.print()


def _warnings(fold: logs.WarningFold) -> Text:
    lines = fold.lines()
    if not lines:
        return Text("no warnings (the log has everything)", style="dim")
    return Text("\n".join(["warnings (the log has everything):", *lines]), style="yellow")


async def _progress(console: Console, read_rows: Rows, stop: asyncio.Event,
                    running: Callable[[], bool], summary: DemoSummary, where: str) -> None:
    last = 0.0
    while running():
        if time.monotonic() - last >= PROGRESS_EVERY:
            last = time.monotonic()
            console.print(progress_line(await asyncio.to_thread(read_rows), summary),
                          soft_wrap=True, highlight=False)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
    table = cases_table(await asyncio.to_thread(read_rows), where)
    table.expand = False
    Console(file=console.file, width=max(console.width, FINAL_WIDTH)).print(table)


def progress_line(rows: Sequence[Any], summary: DemoSummary) -> str:
    """``12:00:05 tickets 8 (5 open, 2 waiting), messages 26, updates sent 36, errors 0``."""
    open_ = [r for r in rows if r.status == "open"]
    waiting = sum(1 for r in open_ if not r.agent_id and r.queue)
    return (f"{time.strftime('%H:%M:%S')} tickets {len(rows)} ({len(open_)} open, "
            f"{waiting} waiting), messages {sum(r.message_count for r in rows)}, "
            f"updates sent {summary.updates_sent}, errors {len(summary.errors)}")

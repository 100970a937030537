"""``telecase metrics compare``: a pilot's figures against the time before it
(:mod:`projections.metrics_compare`), read from the ``cases`` projection.

``--before DATE --after DATE``: the baseline is ``[before, after)`` and the compared period
the same number of days from ``after`` on (dates are UTC days; ``--until`` ends it earlier or
later). ``--pilot CHAT`` keeps one Telegram chat's tickets.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime, time, timedelta

import typer

from telecase.cli.common import RuntimeOption, chosen_runtime, configure

app = typer.Typer(no_args_is_help=True, help="Service figures from the log's projections.")

ROWS = (("tickets", "tickets opened"), ("responded", "answered"),
        ("first_response_avg", "first response, average (s)"),
        ("first_response_median", "first response, median (s)"),
        ("resolved", "closed"), ("resolution_avg", "resolution, average (s)"),
        ("resolution_median", "resolution, median (s)"),
        ("escalated", "escalated (level 1+)"), ("breached", "SLA breached"))


def _day(text: str) -> datetime:
    try:
        return datetime.combine(date.fromisoformat(text), time(), UTC)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date (YYYY-MM-DD)") from None


@app.command("compare")
def metrics_compare(
    before: str = typer.Option(..., "--before", help="first day of the baseline (YYYY-MM-DD)"),
    after: str = typer.Option(..., "--after", help="first day compared with it (the rollout)"),
    until: str | None = typer.Option(None, "--until", help="end of the compared period, "
                                     "excluded (default: as long as the baseline)"),
    pilot: int | None = typer.Option(None, "--pilot", help="only this Telegram chat's tickets"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
    runtime: RuntimeOption = None,
) -> None:
    """Volume, first response, resolution and escalations: baseline against the period from
    --after."""
    from projections.metrics_compare import Period, compare
    from telecase.cli.audit_trail import projections

    start, rollout = _day(before), _day(after)
    if start >= rollout:
        raise typer.BadParameter("--before must be earlier than --after")
    end = _day(until) if until else rollout + (rollout - start)
    settings = configure()
    periods = Period(start, rollout), Period(rollout, end)
    with projections(settings, chosen_runtime(settings, runtime)) as engine, \
            engine.connect() as conn:
        old, new = compare(conn, *periods, pilot=pilot)
    if as_json:
        json.dump({"before": {"start": start.isoformat(), "end": rollout.isoformat(),
                              **old.as_dict()},
                   "after": {"start": rollout.isoformat(), "end": end.isoformat(),
                             **new.as_dict()}, "pilot": pilot}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    width = max(len(label) for _, label in ROWS)
    print(f"{'':{width}}  {start.date()}..{(rollout - timedelta(days=1)).date()}"
          f"  {rollout.date()}..{(end - timedelta(days=1)).date()}")
    for key, label in ROWS:
        print(f"{label:{width}}  {_cell(old.as_dict()[key]):>22}  "
              f"{_cell(new.as_dict()[key]):>22}")


def _cell(value: object) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if isinstance(value, float) else str(value)

"""``telecase metrics compare``: a pilot's figures against the time before it
(:mod:`projections.metrics_compare`), read from the ``cases`` projection.

``--before DATE --after DATE``: the baseline is ``[before, after)`` and the compared period
the same number of days from ``after`` on (dates are UTC days; ``--until`` ends it earlier or
later). ``--pilot CHAT`` keeps one Telegram chat's tickets.
"""

from __future__ import annotations

import json
import sys
from datetime import date, timedelta

import typer

from telecase.cli.common import RuntimeOption, chosen_runtime, configure

app = typer.Typer(no_args_is_help=True, help="Service figures from the log's projections.")

ROWS = (("tickets", "tickets opened"), ("responded", "answered"),
        ("first_response_avg", "first response, average (s)"),
        ("first_response_median", "first response, median (s)"),
        ("resolved", "closed"), ("resolution_avg", "resolution, average (s)"),
        ("resolution_median", "resolution, median (s)"),
        ("escalated", "escalated (level 1+)"), ("breached", "SLA breached"))


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
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
    from projections.metrics_compare import compare, comparison_json, periods
    from telecase.cli.audit_trail import projections

    try:
        before_period, after_period = periods(_day(before), _day(after),
                                              _day(until) if until else None)
    except ValueError as exc:
        raise typer.BadParameter(" ".join(f"--{w}" if w in ("before", "after", "until")
                                          else w for w in str(exc).split())) from None
    settings = configure()
    with projections(settings, chosen_runtime(settings, runtime)) as engine, \
            engine.connect() as conn:
        old, new = compare(conn, before_period, after_period, pilot=pilot)
    if as_json:
        json.dump(comparison_json(before_period, after_period, old, new, pilot), sys.stdout,
                  indent=2)
        sys.stdout.write("\n")
        return
    start, rollout, end = before_period.start, after_period.start, after_period.end
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

"""The one place where errors become exit codes, for every ``telecase`` command.

A command raises; it does not catch. :class:`ErrorExits` (the ``telecase`` app's click group)
looks the error up in :func:`exit_code`: an error the user should read as one line prints
``telecase: <message>`` on stderr and exits with its code; any other error is a crash and
keeps its traceback. Ctrl-C is a command's own business (``demo`` and ``replay`` say what it
means for them).
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

from telecase.errors import TelecaseError

USAGE = 2
"""The exit code of a refusal: bad settings, arguments, input or policy (as click's usage
errors)."""


def exit_code(exc: BaseException) -> int | None:
    """The exit code of an error the user should read as one line, or ``None`` (a crash).

    telecase's own errors derive from :class:`TelecaseError`; the other packages keep their
    roots and are listed here (they must not import telecase). Connector errors are not:
    one that reaches a command is a crash to debug, with its traceback.
    """
    from projections.db import ProjectionError  # the replay's refusals; imported when needed

    codes: tuple[tuple[type[BaseException], int], ...] = (
        (TelecaseError, USAGE),
        (ProjectionError, USAGE),
    )
    for kind, code in codes:
        if isinstance(exc, kind):
            return code
    return None


class ErrorExits(TyperGroup):
    """The ``telecase`` group: runs the chosen command (and its sub-app) and maps what it
    raises through :func:`exit_code`."""

    def invoke(self, ctx: Any) -> Any:  # a typer Context (its click is vendored, private)
        try:
            return super().invoke(ctx)
        except (TyperException, typer.Exit, typer.Abort):
            raise  # typer's own: usage errors, exits, aborts
        except Exception as exc:
            code = exit_code(exc)
            if code is None:
                raise
            typer.echo(f"telecase: {exc}", err=True)
            raise typer.Exit(code) from None

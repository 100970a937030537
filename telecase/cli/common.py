"""What the commands share: the settings they load, the ``--runtime`` option parsed into a
:class:`~telecase.settings.RuntimeKind`, and JSON on stdout.

Errors are raised, not caught: :mod:`telecase.cli.exits` shows them.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from telecase import logs
from telecase.settings import RuntimeKind, Settings, load_settings

RUNTIME_HELP = ("embedded (the data directory's log) or kafka (the configured cluster); "
                "default: kafka when KAFKA_BOOTSTRAP_SERVERS is set")
RuntimeOption = Annotated[str | None, typer.Option(help=RUNTIME_HELP)]
"""``--runtime`` (read with :func:`chosen_runtime`)."""


def configure() -> Settings:
    """The settings, validated (a :class:`~telecase.settings.SettingsError` lists every
    problem), with logging configured from them."""
    settings = load_settings()
    logs.configure(settings.log_level)
    return settings


def chosen_runtime(settings: Settings, option: str | None) -> RuntimeKind:
    """The runtime a ``--runtime`` option names; without one, the settings' default."""
    return RuntimeKind.parse(option) if option else settings.default_runtime


def echo_json(value: Any, *, indent: int | None = None) -> None:
    """``value`` as JSON on stdout, one document ending with a newline."""
    json.dump(value, sys.stdout, indent=indent)
    sys.stdout.write("\n")


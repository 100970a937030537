"""telecase's root exception: what a command cannot do, said in one line to the user.

Every error class of the ``telecase`` package derives from :class:`TelecaseError`::

    TelecaseError                  a command cannot do what it was asked; the message says why
    ├── SettingsError              telecase.settings: the configuration is invalid
    │   ├── PolicyFileError        telecase.bootstrap.policy
    │   └── TemplatesFileError     telecase.bootstrap.agent_tools
    ├── RunError                   telecase.roles.embedded: ``telecase run`` cannot start
    ├── DeskError                  telecase.ops.desk
    ├── DeadLetterError            telecase.ops.deadletter
    ├── SimulateError              telecase.ops.sla_simulate
    ├── AuditApiError              telecase.web.audit_api
    │   └── KeysFileError
    └── CommandError               a command's arguments or input are refused

The other packages keep their own roots (they do not import telecase). The one place that turns
errors into exit codes is :mod:`telecase.cli.exits`: a :class:`TelecaseError`, or a package root
listed there, prints ``telecase: <message>`` on stderr and exits with its code; anything else is
a crash and prints its traceback.

This module imports nothing, so every module of telecase may import it.
"""

from __future__ import annotations


class TelecaseError(Exception):
    """Root of telecase's errors: the message is what the user reads."""


class CommandError(TelecaseError):
    """A command's arguments or input are refused; the message says which and why."""

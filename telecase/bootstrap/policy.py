"""Reading the policy (``TELECASE_POLICY_FILE``): the SLA part and the assignment part.

``TELECASE_POLICY_FILE`` names one TOML file, or several separated by commas (for example
``examples/policy.toml,examples/routing.toml``), whose top-level tables are put together: the
SLA policy is ``[sla]``, the assignment policy ``[routing]``, ``[queues]`` and ``[agents]``.
Either part may be left out. A table in two files, a file with neither part, and every problem
inside a part are errors, reported one line each.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streams.assignment.errors import PolicyError as AssignmentPolicyError
from streams.assignment.policy import SECTIONS, AssignmentPolicy
from streams.sla.errors import PolicyError as SlaPolicyError
from streams.sla.policy import SlaPolicy
from telecase.settings import SettingsError


class PolicyFileError(SettingsError):
    """The policy cannot be used; the message says why, one line per problem (a kind of
    settings error: every command reports it the same way)."""


@dataclass(frozen=True)
class Policies:
    sla: SlaPolicy | None = None
    assignment: AssignmentPolicy | None = None


def load_policies(setting: str | None) -> Policies:
    paths = [p.strip() for p in (setting or "").split(",") if p.strip()]
    if not paths:
        return Policies()
    document: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for path in paths:
        try:
            data = tomllib.loads(Path(path).read_text())
        except OSError as exc:
            raise PolicyFileError(f"policy file {path}: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise PolicyFileError(f"policy file {path}: not valid TOML: {exc}") from None
        for table, value in data.items():
            if table in document:
                raise PolicyFileError(f"policy file {path}: [{table}] is also in "
                                      f"{origin[table]}; give each table once")
            document[table], origin[table] = value, path
    where = ", ".join(paths)
    sla: SlaPolicy | None = None
    assignment: AssignmentPolicy | None = None
    problems: list[str] = []
    if "sla" in document:
        try:
            sla = SlaPolicy.from_mapping(document)
        except SlaPolicyError as exc:
            problems.append(str(exc))
    if any(name in document for name in SECTIONS):
        missing = [f"missing section [{name}]" for name in SECTIONS if name not in document]
        try:
            if missing:
                raise AssignmentPolicyError(missing)
            assignment = AssignmentPolicy.parse({name: document[name] for name in SECTIONS})
        except AssignmentPolicyError as exc:
            problems.append(str(exc))
    if problems:
        raise PolicyFileError(f"policy {where}:\n" + "\n".join(problems))
    if sla is None and assignment is None:
        raise PolicyFileError(f"policy {where}: it has neither an [sla] table nor "
                              "[routing]/[queues]/[agents] tables")
    return Policies(sla, assignment)

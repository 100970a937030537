"""Reading the policy file (``TELECASE_POLICY_FILE``): the SLA part and the assignment part.

One TOML file may hold both (``[sla]`` for the SLA policy; ``[routing]``, ``[queues]``,
``[agents]`` for assignment), or either alone. A file with neither is an error, as is every
problem inside a part, reported one line each.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from streams.assignment.errors import PolicyError as AssignmentPolicyError
from streams.assignment.policy import AssignmentPolicy
from streams.sla.errors import PolicyError as SlaPolicyError
from streams.sla.policy import SlaPolicy
from telecase.settings import SettingsError


class PolicyFileError(SettingsError):
    """The policy file cannot be used; the message says why, one line per problem (a kind of
    settings error: every command reports it the same way)."""


@dataclass(frozen=True)
class Policies:
    sla: SlaPolicy | None = None
    assignment: AssignmentPolicy | None = None


def load_policies(path: str | None) -> Policies:
    if path is None:
        return Policies()
    try:
        text = Path(path).read_text()
        data = tomllib.loads(text)
    except OSError as exc:
        raise PolicyFileError(f"policy file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise PolicyFileError(f"policy file {path}: not valid TOML: {exc}") from None
    sla: SlaPolicy | None = None
    assignment: AssignmentPolicy | None = None
    problems: list[str] = []
    if "sla" in data:
        try:
            sla = SlaPolicy.from_toml(text)
        except SlaPolicyError as exc:
            problems.append(str(exc))
    if any(k in data for k in ("routing", "queues", "agents")):
        try:
            assignment = AssignmentPolicy.from_toml(text)
        except AssignmentPolicyError as exc:
            problems.append(str(exc))
    if problems:
        raise PolicyFileError(f"policy file {path}:\n" + "\n".join(problems))
    if sla is None and assignment is None:
        raise PolicyFileError(f"policy file {path}: it has neither an [sla] table nor "
                              "[routing]/[queues]/[agents] tables")
    return Policies(sla, assignment)

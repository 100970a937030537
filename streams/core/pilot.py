"""The pilot rollout gate: which chats open tickets (pure).

``groups``: the forum groups enabled (``TELECASE_PILOT_CHATS``; ``None``: every group).
``private_chats``: whether private chats with the bot take anything in
(``TELECASE_INTAKE_ENABLED``: intake forms and tickets alike).

A message the gate refuses is folded into nothing: it stays in ``telegram.updates`` as
received, and the worker counts it (``telecase_pilot_skipped_total{scope}``) and logs it at
DEBUG. The gate is part of the fold's configuration, not of the log: a group enabled later
opens tickets from its next message on, and what it said before is not taken in by the live
worker (its position is past those records); a fold from the start of ``telegram.updates``
with the new allowlist (a fresh worker, a re-derivation) takes them in as if the group had
always been enabled. The team's group for intake topics is a workspace, never gated here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from streams.core.routing import Routed

Scope = Literal["group", "private_chat"]


@dataclass(frozen=True)
class PilotGate:
    groups: frozenset[int] | None = None
    private_chats: bool = True

    def refuses(self, routed: Routed) -> Scope | None:
        """Why ``routed`` opens nothing in this rollout (``None``: it is enabled)."""
        if routed.channel == "private_chat":
            return None if self.private_chats else "private_chat"
        if self.groups is None or routed.chat_id in self.groups:
            return None
        return "group"


EVERYTHING = PilotGate()

"""What goes to ``telecase.deadletter``: a record a consumer could not process, and why."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict


class DeadLetter(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["deadletter"] = "deadletter"
    version: Literal[1] = 1
    reason: str
    """A short machine-readable cause, e.g. ``invalid_envelope`` or ``decision_error``."""
    detail: str
    """The error message (no payload contents)."""
    consumer: str
    """The stage that could not process it (the worker, a projector, the desk, a connector)."""
    topic: str
    partition: int
    offset: int
    key: str | None
    payload_b64: str
    failed_at: datetime
    traceback: str | None = None
    """Where a stage failed on the record (the stack, innermost last), when it raised; no
    payload contents."""

    @staticmethod
    def encode_payload(payload: bytes) -> str:
        return base64.b64encode(payload).decode()

    def payload(self) -> bytes:
        return base64.b64decode(self.payload_b64)

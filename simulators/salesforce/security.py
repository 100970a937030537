"""What the calling user may see and do, for the length of one API request.

Field-level security: in an org with the standard schema, a custom field is invisible to a
user unless a permission set assigned to that user grants it (``FieldPermissions`` with
``PermissionsRead``; ``PermissionsEdit`` to write it). Object Reference, FieldPermissions:
"To grant a user access to a field, associate a FieldPermissions record with a PermissionSet
that's assigned to a user."
(https://developer.salesforce.com/docs/platform/object-reference/references/standard-objects/object-fieldpermissions.html).
An invisible field is answered as if it did not exist (``INVALID_FIELD`` "No such column"),
a read-only one with ``INVALID_FIELD_FOR_INSERT_UPDATE``.

The Assignment Rule header (``Sforce-Auto-Assign``) of the request is carried here too, so
every write the request makes (composite subrequests included) sees it.

Requests run synchronously (see ``routing``), so a context variable set around one request's
dispatch is that request's. Outside a request (the driver, seeding) nothing is hidden.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Access:
    """The calling user's view of the schema: fields as ``(object, field)`` in lower case."""

    hidden: frozenset[tuple[str, str]] = field(default_factory=frozenset)
    read_only: frozenset[tuple[str, str]] = field(default_factory=frozenset)
    auto_assign: bool = True
    """``False`` when the request carried ``Sforce-Auto-Assign: FALSE``."""


_OPEN = Access()
_current: ContextVar[Access] = ContextVar("salesforce_simulator_access", default=_OPEN)


def current() -> Access:
    return _current.get()


def hidden(sobject: str, name: str) -> bool:
    return (sobject.lower(), name.lower()) in _current.get().hidden


def read_only(sobject: str, name: str) -> bool:
    return (sobject.lower(), name.lower()) in _current.get().read_only


@contextmanager
def scope(access: Access) -> Iterator[None]:
    """Apply ``access`` to everything run inside the block."""
    token = _current.set(access)
    try:
        yield
    finally:
        _current.reset(token)

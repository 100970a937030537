"""A File an agent added to a ticket's Case, as the ticket records it (pure).

The change poller reads it as a ``case_file`` change
(:class:`~streams.schema.salesforce.SalesforceChange`); :func:`file_shared` says what
``agent.file_shared`` event it becomes, once per (ContentVersion, ticket): the poller re-reads
with overlap, so the same File arrives more than once and ``shared`` (the version ids the
ticket already took in) makes the repeat a no-op.
"""

from __future__ import annotations

from streams.schema.events import Agent
from streams.schema.salesforce import SalesforceChange


def file_shared(change: SalesforceChange, shared: frozenset[str], chat_id: int | None,
                thread_id: int | None) -> dict[str, object] | None:
    """The fields of the ``agent.file_shared`` event ``change`` makes (``None``: taken in
    before, or no file named: the caller refuses a ``case_file`` without one)."""
    if change.file_version_id is None or change.file_version_id in shared:
        return None
    return {"agent": Agent(salesforce_user_id=change.actor_id, display_name=change.actor_name),
            "chat_id": chat_id, "thread_id": thread_id, "case_id": change.case_id,
            "version_id": change.file_version_id,
            "title": change.file_title or change.file_version_id,
            "file_extension": change.file_extension, "file_type": change.file_type,
            "file_size": change.file_size}

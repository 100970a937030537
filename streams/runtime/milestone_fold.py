"""The worker's side of Salesforce as the clock of record: a ``salesforce.milestone`` record
(``streams.schema.milestones``) is decided by ``streams.core.service_level.adopt_target``
against the thread of the ticket it names. Called with one line from
:class:`~streams.runtime.fold.UpdateFolder`; a record that does not parse, or names a ticket
or clock telecase does not know, is dead-lettered there with the reason.

The worker folds every milestone record the log holds, whatever
``TELECASE_SLA_CLOCK_OF_RECORD`` says now: the setting decides whether the reader writes them
(``connectors.salesforce.milestone_reader``), and re-deriving the log must give the events it
gave the first time.
"""

from __future__ import annotations

from collections.abc import Callable

from streams.core.service_level import AdoptMilestoneTarget, adopt_target
from streams.core.ticket import ThreadState, initial_state, thread_key_of
from streams.schema.events import TicketEvent
from streams.schema.milestones import SalesforceMilestone
from streams.sla.policy import SlaPolicy

Store = Callable[[str], ThreadState | None]


def parse_milestone(payload: bytes) -> tuple[SalesforceMilestone, str]:
    """The record and its thread's key; raises ``ValueError`` (a pydantic ``ValidationError``
    among them) for a record that is not one."""
    record = SalesforceMilestone.model_validate_json(payload)
    return record, thread_key_of(record.ticket_id)


def fold_milestone(record: SalesforceMilestone, key: str, get: Store,
                   policy: SlaPolicy) -> tuple[list[TicketEvent], ThreadState | None]:
    """The events and the thread's new state (``None``: unchanged). Raises
    :class:`~streams.core.ticket.DecisionError` for an unknown ticket or clock."""
    state = get(key) or initial_state(key)
    events, new_state = adopt_target(AdoptMilestoneTarget(record, record.observed_at), state,
                                     policy)
    return events, new_state if events else None

"""Ticket events: the facts in ``ticket.events``, the system of record.

Every event is past tense, frozen, and carries an explicit ``version``. Old payloads must decode
forever: when a schema changes, bump its version and add an upcaster to ``UPCASTERS``
(:mod:`.codec`), so :func:`decode_event` lifts an old record to the current model before anyone
reads it.

Common envelope fields:

- ``event_id``: ``<ticket_id>#<seq>``; deterministic, so a re-emitted event is recognisable.
- ``seq``: position in the ticket's own history, starting at 1 with ``TicketOpened``.
  Consumers apply an event only when ``seq`` is past what they have; that makes a redelivered or
  re-derived event a no-op.
- ``occurred_at``: when it happened in the outside world (Telegram's ``date``); ``recorded_at``:
  when telecase received the input that produced it (the raw envelope's ``received_at``).
- ``source``: the input it was derived from; ``actor``: who or what caused it.

The models live by family, each module with its family's union: :mod:`.conversation`,
:mod:`.agents`, :mod:`.case`, :mod:`.sla`, :mod:`.desk`, :mod:`.intake` (on :mod:`.base`, the
common fields). :mod:`.codec` joins the families into :data:`TicketEvent`, derives
:data:`EVENT_TYPES` from it, and decodes. Import from this package: every name is here.
"""

from __future__ import annotations

from streams.schema.events.agents import (
    Agent,
    AgentCommand,
    AgentCommandRefused,
    AgentEvent,
    AgentFileShared,
    AgentReplied,
    ArticleRef,
    KnowledgeRequested,
    TemplateRef,
)
from streams.schema.events.base import (
    Actor,
    Channel,
    Customer,
    EventBase,
    SourceRef,
    TicketStatus,
)
from streams.schema.events.case import (
    CaseEvent,
    CaseOwnerChanged,
    CaseStatusChanged,
    SalesforceCaseLinked,
)
from streams.schema.events.codec import (
    EVENT_TYPES,
    UPCASTERS,
    TicketEvent,
    UnknownEventError,
    Upcaster,
    decode_event,
    encode_event,
    upcast,
)
from streams.schema.events.conversation import (
    Attachment,
    ConversationEvent,
    CustomerMessageEdited,
    CustomerMessageReceived,
    TicketClosed,
    TicketCustomerLinked,
    TicketOpened,
    TicketRequested,
    TopicClosed,
    TopicReconciled,
    TopicRecreated,
    TopicRenamed,
    TopicReopened,
)
from streams.schema.events.desk import (
    AssignmentSource,
    DeskEvent,
    TicketAssigned,
    TicketRouted,
)
from streams.schema.events.intake import (
    INTAKE_FORM_EVENTS,
    IntakeAbandoned,
    IntakeAnswered,
    IntakeAnswers,
    IntakeButton,
    IntakeCompleted,
    IntakeEvent,
    IntakeFormEvent,
    IntakeQuestionAsked,
    IntakeStarted,
    IntakeTopicOpened,
    IntakeWentBack,
)
from streams.schema.events.sla import (
    EscalationAction,
    SlaBreached,
    SlaClock,
    SlaEscalated,
    SlaEvent,
    SlaMet,
    SlaStarted,
    SlaTargetAdopted,
    SlaWarning,
)

__all__ = [
    "EVENT_TYPES",
    "INTAKE_FORM_EVENTS",
    "UPCASTERS",
    "Actor",
    "Agent",
    "AgentCommand",
    "AgentCommandRefused",
    "AgentEvent",
    "AgentFileShared",
    "AgentReplied",
    "ArticleRef",
    "AssignmentSource",
    "Attachment",
    "CaseEvent",
    "CaseOwnerChanged",
    "CaseStatusChanged",
    "Channel",
    "ConversationEvent",
    "Customer",
    "CustomerMessageEdited",
    "CustomerMessageReceived",
    "DeskEvent",
    "EscalationAction",
    "EventBase",
    "IntakeAbandoned",
    "IntakeAnswered",
    "IntakeAnswers",
    "IntakeButton",
    "IntakeCompleted",
    "IntakeEvent",
    "IntakeFormEvent",
    "IntakeQuestionAsked",
    "IntakeStarted",
    "IntakeTopicOpened",
    "IntakeWentBack",
    "KnowledgeRequested",
    "SalesforceCaseLinked",
    "SlaBreached",
    "SlaClock",
    "SlaEscalated",
    "SlaEvent",
    "SlaMet",
    "SlaStarted",
    "SlaTargetAdopted",
    "SlaWarning",
    "SourceRef",
    "TemplateRef",
    "TicketAssigned",
    "TicketClosed",
    "TicketCustomerLinked",
    "TicketEvent",
    "TicketOpened",
    "TicketRequested",
    "TicketRouted",
    "TicketStatus",
    "TopicClosed",
    "TopicReconciled",
    "TopicRecreated",
    "TopicRenamed",
    "TopicReopened",
    "UnknownEventError",
    "Upcaster",
    "decode_event",
    "encode_event",
    "upcast",
]

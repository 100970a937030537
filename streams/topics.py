"""Names of the log's topics, shared by every process (connectors, workers, projectors)."""

from __future__ import annotations

TELEGRAM_UPDATES = "telegram.updates"
"""Raw Telegram updates, exactly as received, keyed by chat id (see ``routing_key``)."""

SALESFORCE_CHANGES = "salesforce.changes"
"""Raw Salesforce change records, as read."""

TICKET_EVENTS = "ticket.events"
"""The system of record: ticket events keyed by ticket id (per-ticket order)."""

DEAD_LETTERS = "telecase.deadletter"
"""Records a consumer could not process, each with the reason and where it came from."""

ALL = (TELEGRAM_UPDATES, SALESFORCE_CHANGES, TICKET_EVENTS, DEAD_LETTERS)

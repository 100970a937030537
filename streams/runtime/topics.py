"""Names of the log's topics, shared by every process (connectors, workers, projectors)."""

from __future__ import annotations

TELEGRAM_UPDATES = "telegram.updates"
"""Raw Telegram updates, exactly as received, keyed by chat id (see ``routing_key``)."""

SALESFORCE_CHANGES = "salesforce.changes"
"""Raw Salesforce change records, as read."""

TICKET_EVENTS = "ticket.events"
"""The system of record: ticket events keyed by ticket id (per-ticket order)."""

TICKET_COMMANDS = "ticket.commands"
"""What telecase itself tells the ticket worker: clock ticks (``streams.schema.commands.Tick``)
and the desk's assignments (``Assignment``). Keyed by chat like the raw topics, with the same
partitioner and partition count, so partition p of all three holds the same chats."""

DESK_REQUESTS = "desk.requests"
"""What people ask of the desk by hand (claim, reassign, availability), one partition."""

DEAD_LETTERS = "telecase.deadletter"
"""Records a consumer could not process, each with the reason and where it came from."""

ALL = (TELEGRAM_UPDATES, SALESFORCE_CHANGES, TICKET_COMMANDS, TICKET_EVENTS, DESK_REQUESTS,
       DEAD_LETTERS)


class TopicNames:
    """The topic names one deployment uses: the names above behind an optional prefix, so
    several deployments (or test runs) can share a cluster without seeing each other."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.telegram_updates = prefix + TELEGRAM_UPDATES
        self.salesforce_changes = prefix + SALESFORCE_CHANGES
        self.ticket_events = prefix + TICKET_EVENTS
        self.ticket_commands = prefix + TICKET_COMMANDS
        self.desk_requests = prefix + DESK_REQUESTS
        self.dead_letters = prefix + DEAD_LETTERS

    def all(self) -> tuple[str, ...]:
        return (self.telegram_updates, self.salesforce_changes, self.ticket_commands,
                self.ticket_events, self.desk_requests, self.dead_letters)

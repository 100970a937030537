"""Telling an agent in Telegram that their command sent nothing (issue 7), for the reply mirror.

An ``agent_command.refused`` with ``via="telegram"`` (an unknown template, a variable the
ticket lacks, no Knowledge article matching...) becomes a message to the agent:

- **privately first**: to the agent's private chat with the bot (a chat id is the user id).
  Telegram lets a bot write to a user only after the user started a chat with it; until then it
  refuses (``Forbidden: bot can't initiate conversation with a user``, or ``chat not found``);
- **else in the ticket's topic**, addressed to the agent ("Note for @alex (not sent to the
  customer): ..."). The customer can read it there; it says only what the agent's command was
  missing, never anything about other tickets.

Either way it is one delivery in the mirror's ledger (``<event id>/agent``), sent through the
same scheduler, limits and retries as a reply, so it is delivered once. The fallback send is
made right after the private one is refused and is not separately paced for the group (it only
happens for agents who never started the bot).

The agent's command message itself (``/t pricing`` written in the topic) is deleted by the
mirror, best effort, when it sends the command's reply or notice (``deleteMessage``: the bot
must be an admin allowed to delete messages; if it is not, the command stays visible in the
topic and nothing else changes).
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import Counter

from streams.runtime.bus import Record
from streams.schema.events import AgentCommandRefused, AgentReplied

AGENT_NOTICES = Counter("telecase_telegram_mirror_agent_notices_total", "Notices telling an "
                        "agent their command sent nothing", ["where"])  # private | topic
COMMANDS_DELETED = Counter("telecase_telegram_mirror_commands_deleted_total", "Agents' command "
                           "messages removed from topics", ["outcome"])  # deleted | kept


@dataclass(frozen=True)
class AgentNotice:
    event: AgentCommandRefused
    origin: Record
    text: str
    part: int = 0

    @property
    def delivery_id(self) -> str:
        base = f"{self.event.event_id}/agent"
        return base if self.part == 0 else f"{base}/{self.part + 1}"

    @property
    def ticket_id(self) -> str:
        return self.event.ticket_id

    @property
    def destination(self) -> tuple[int, None] | None:
        """The agent's private chat with the bot."""
        user = self.event.agent.telegram_user_id
        return None if user is None else (user, None)

    @property
    def fallback(self) -> tuple[int, int | None] | None:
        """The ticket's thread, when the private chat is refused."""
        chat = self.event.chat_id
        return None if chat is None else (chat, self.event.thread_id)

    @property
    def thread_text(self) -> str:
        who = self.event.agent.display_name or "agent"
        return f"Note for {who} (not sent to the customer): {self.text}"

    @property
    def letter_key(self) -> str:
        return self.event.event_id


def agent_notice_text(event: AgentCommandRefused) -> str:
    command = "/t" if event.command == "template" else "/kb"
    return f"Your {command} {event.argument} sent nothing. {event.detail}"


def command_message(event: AgentReplied | AgentCommandRefused) -> tuple[int, int] | None:
    """The agent's command message in Telegram that the mirror removes, if any."""
    if event.via != "telegram" or event.chat_id is None or event.message_id is None:
        return None
    if isinstance(event, AgentReplied) and not (event.template or event.article):
        return None
    return event.chat_id, event.message_id

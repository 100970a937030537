"""Agent events: replies, the agents' commands (``/t``, ``/kb``) and what they refer to."""

from __future__ import annotations

from typing import Literal, TypeAlias

from pydantic import BaseModel, ConfigDict

from streams.schema.events.base import EventBase


class Agent(BaseModel):
    """An agent as the log knows them: a rostered Telegram user, a Salesforce user, or both."""

    model_config = ConfigDict(frozen=True)

    telegram_user_id: int | None = None
    salesforce_user_id: str | None = None
    display_name: str | None = None


class TemplateRef(BaseModel):
    """The response template an agent's reply was expanded from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    source: Literal["file", "quick_text"]
    id: str | None = None
    """The Quick Text's record id (``source="quick_text"``)."""


class ArticleRef(BaseModel):
    """The Salesforce Knowledge article an agent's reply links (found by ``/kb <query>``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_event_id: str
    """The ``knowledge.requested`` event this answers."""
    query: str
    id: str
    """The article version (``Knowledge__kav`` Id)."""
    knowledge_article_id: str
    """The article (``KnowledgeArticleId``): what a ``CaseArticle`` links."""
    title: str
    url: str
    version_number: int | None = None
    language: str | None = None


class AgentReplied(EventBase):
    """An agent answered the customer.

    ``via="telegram"``: written in the group by a rostered agent, so the customer has already
    seen it (``message_id`` is the Telegram message); it is mirrored to Salesforce as a
    CaseComment. ``via="salesforce"``: a CaseComment an agent wrote (``comment_id``); the reply
    mirror delivers it into the ticket's thread. ``chat_id``/``thread_id`` say where the ticket
    lives in Telegram (``thread_id`` is ``None`` in a private chat or the General topic).

    Version 2 adds what an agent's command produced (``streams.core.agent_tools``): ``template``
    (``/t <name>``: ``text`` is the expansion) or ``article`` (``/kb <query>``: ``text`` is the
    article's summary and link). Either way the agent's command never reached the customer, so
    the reply mirror sends ``text`` whatever ``via`` says; ``comment_id``/``message_id`` then
    name the agent's command (the CaseComment, or the Telegram message the mirror removes).
    """

    type: Literal["agent.replied"] = "agent.replied"
    version: Literal[2] = 2
    via: Literal["telegram", "salesforce", "outreach"]
    """``outreach``: the first message of a ticket a person opened (``ticket.requested``),
    which the reply mirror sends."""
    message_id: int | None = None
    comment_id: str | None = None
    chat_id: int | None = None
    thread_id: int | None = None
    agent: Agent
    text: str
    template: TemplateRef | None = None
    article: ArticleRef | None = None

    @property
    def sent_by_telecase(self) -> bool:
        """Whether the customer sees ``text`` only when telecase sends it (a reply written
        in Salesforce, an outreach's first message, or anything a command produced)."""
        return (self.via in ("salesforce", "outreach") or self.template is not None
                or self.article is not None)


AgentCommand = Literal["template", "knowledge"]


class KnowledgeRequested(EventBase):
    """An agent asked for a Knowledge article (``/kb <query>``, from a CaseComment or in the
    Telegram topic). The search is I/O: the Salesforce connector runs it and appends what it
    found to ``salesforce.changes``; the worker then records an ``agent.replied`` with the
    ``article`` (delivered to the customer) or an ``agent_command.refused`` (no match)."""

    type: Literal["knowledge.requested"] = "knowledge.requested"
    version: Literal[1] = 1
    query: str
    via: Literal["telegram", "salesforce"]
    agent: Agent
    comment_id: str | None = None
    message_id: int | None = None
    chat_id: int | None = None
    thread_id: int | None = None


class AgentCommandRefused(EventBase):
    """An agent's command could not be carried out and nothing reached the customer: an
    unknown template, a variable the ticket lacks, a malformed command, or no Knowledge
    article matching. ``detail`` is the sentence the agent is told (Salesforce: an internal
    CaseComment on the Case; Telegram: a private message, else a note in the topic)."""

    type: Literal["agent_command.refused"] = "agent_command.refused"
    version: Literal[1] = 1
    command: AgentCommand
    argument: str
    reason: Literal["usage", "unknown_template", "invalid_template", "missing_variable",
                    "no_article"]
    detail: str
    via: Literal["telegram", "salesforce"]
    agent: Agent
    comment_id: str | None = None
    message_id: int | None = None
    chat_id: int | None = None
    thread_id: int | None = None
    request_event_id: str | None = None
    """The ``knowledge.requested`` event a ``no_article`` answers."""


class AgentFileShared(EventBase):
    """An agent added a File to the ticket's Case in Salesforce (a ContentVersion; never one
    telecase attached itself): the reply mirror sends it into the ticket's thread
    (``sendDocument``, ``sendPhoto`` for an image), or, over the size limit, a message naming
    it. ``chat_id``/``thread_id`` as in ``agent.replied``. The bytes stay in Salesforce
    (``/sobjects/ContentVersion/<version_id>/VersionData``)."""

    type: Literal["agent.file_shared"] = "agent.file_shared"
    version: Literal[1] = 1
    via: Literal["salesforce"] = "salesforce"
    agent: Agent
    chat_id: int | None = None
    thread_id: int | None = None
    case_id: str
    version_id: str
    """The ContentVersion."""
    title: str
    file_extension: str | None = None
    file_type: str | None = None
    """Salesforce's ``FileType`` (``PDF``, ``PNG``, ``JPG``...; ``LINK``: a link, no bytes)."""
    file_size: int | None = None

    @property
    def file_name(self) -> str:
        """The name the customer sees: the title, with its extension."""
        ext = f".{self.file_extension}" if self.file_extension else ""
        return self.title if not ext or self.title.lower().endswith(ext.lower()) \
            else f"{self.title}{ext}"


AgentEvent: TypeAlias = (AgentReplied | KnowledgeRequested | AgentCommandRefused
                         | AgentFileShared)
"""This family's events: one of the members of :data:`~streams.schema.events.TicketEvent`."""

"""The routing-and-assignment policy: which queue a ticket goes to, and who may take it.

Read from TOML by :meth:`AssignmentPolicy.from_toml`, which looks only at its own top-level
sections and ignores the rest of the file (``[sla]``, ``[escalation]``, ``[teams]`` belong to
the SLA policy), so one file can hold both::

    [routing]
    default_queue = "general"

    [[routing.rules]]              # ordered: the first rule that matches wins
    name = "enterprise"
    queue = "enterprise"
    deal_size_min = 50000

    [queues.enterprise]
    strategy = "skills"            # round_robin | skills | least_loaded
    required_skills = ["enterprise"]
    manager = "dana"

    [agents.dana]
    name = "Dana Reyes"
    salesforce_user_id = "005000000000001AAA"
    queues = ["enterprise"]
    skills = ["enterprise"]
    capacity = 8

How a rule matches (every condition it names must hold; a list holds when any item does; text
is compared case-insensitively):

- ``products``, ``regions``: equal to the ticket's product interest / region.
- ``languages``: Telegram ``language_code`` (IETF): ``"en"`` matches ``en``, ``en-US``, ``en-GB``;
  ``"pt-br"`` matches only ``pt-BR``.
- ``keywords``: a whole word or phrase in the subject or the first message (``"api"`` does not
  match ``"rapid"``).
- ``channels``: ``forum_topic``, ``general_topic``, ``private_chat``; ``chat_ids``: the chat.
- ``deal_size_min`` (inclusive) and ``deal_size_max`` (exclusive), so ranges chain without
  overlap; a ticket with no deal size never matches a rule that bounds it.

A rule must name at least one condition (a catch-all is ``default_queue``).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from streams.assignment.errors import PolicyError
from streams.schema.events import Channel

Availability = Literal["available", "away", "offline"]
Strategy = Literal["round_robin", "skills", "least_loaded"]

SECTIONS = ("routing", "queues", "agents")
"""The top-level TOML sections this policy owns; any other section is someone else's."""



def _id(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.:@-]+", value):
        raise ValueError(f"{value!r} is not an id (letters, digits and _ . : @ -)")
    return value


def _salesforce_user(value: str) -> str:
    if not re.fullmatch(r"005[A-Za-z0-9]{12}([A-Za-z0-9]{3})?", value):
        raise ValueError(f"{value!r} is not a Salesforce User id (005..., 15 or 18 characters)")
    return value


Id = Annotated[str, AfterValidator(_id)]
Word = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1)]
SalesforceUserId = Annotated[str, AfterValidator(_salesforce_user)]


def salesforce_key(user_id: str) -> str:
    """The case-sensitive 15-character form of a Salesforce id (18-character ids add a checksum)."""
    return user_id[:15]


@dataclass(frozen=True)
class TicketFacts:
    """What routing looks at. Any fact may be unknown (``None`` / empty)."""

    channel: Channel
    subject: str = ""
    first_message: str = ""
    language: str | None = None
    """Telegram ``language_code`` of the customer (``en``, ``pt-br``)."""
    region: str | None = None
    product: str | None = None
    deal_size: Decimal | None = None
    chat_id: int | None = None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RoutingRule(_Strict):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
    queue: Id
    products: tuple[Word, ...] = ()
    regions: tuple[Word, ...] = ()
    languages: tuple[Word, ...] = ()
    keywords: tuple[Word, ...] = ()
    channels: tuple[Channel, ...] = ()
    chat_ids: tuple[int, ...] = ()
    deal_size_min: Decimal | None = Field(default=None, ge=0)
    deal_size_max: Decimal | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _coherent(self) -> RoutingRule:
        if not (self.products or self.regions or self.languages or self.keywords or self.channels
                or self.chat_ids or self.deal_size_min is not None
                or self.deal_size_max is not None):
            raise ValueError(f"rule {self.name!r} has no condition (use routing.default_queue "
                             "for a catch-all)")
        if (self.deal_size_min is not None and self.deal_size_max is not None
                and self.deal_size_min >= self.deal_size_max):
            raise ValueError(f"rule {self.name!r}: deal_size_min must be below deal_size_max")
        return self

    def explain(self, facts: TicketFacts) -> str | None:
        """Why this rule matches the facts, or ``None`` when it does not."""
        why: list[str] = []
        for part in (self._product(facts), self._region(facts), self._language(facts),
                     self._keyword(facts), self._channel(facts), self._chat(facts),
                     self._deal_size(facts)):
            if part is None:
                return None
            if part:
                why.append(part)
        return ", ".join(why)

    # Each check: None = fails, "" = not asked, else why it holds.
    def _product(self, facts: TicketFacts) -> str | None:
        return _one_of("product", self.products, facts.product)

    def _region(self, facts: TicketFacts) -> str | None:
        return _one_of("region", self.regions, facts.region)

    def _language(self, facts: TicketFacts) -> str | None:
        if not self.languages:
            return ""
        if facts.language is None:
            return None
        code = facts.language.strip().casefold().replace("_", "-")
        hit = next((lang for lang in self.languages
                    if code == lang or code.startswith(lang + "-")), None)
        return None if hit is None else f"language {facts.language!r} is {hit!r}"

    def _keyword(self, facts: TicketFacts) -> str | None:
        if not self.keywords:
            return ""
        for where, text in (("subject", facts.subject), ("first message", facts.first_message)):
            folded = text.casefold()
            for word in self.keywords:
                if re.search(rf"(?<!\w){re.escape(word)}(?!\w)", folded):
                    return f"keyword {word!r} in the {where}"
        return None

    def _channel(self, facts: TicketFacts) -> str | None:
        if not self.channels:
            return ""
        return f"channel {facts.channel}" if facts.channel in self.channels else None

    def _chat(self, facts: TicketFacts) -> str | None:
        if not self.chat_ids:
            return ""
        return f"chat {facts.chat_id}" if facts.chat_id in self.chat_ids else None

    def _deal_size(self, facts: TicketFacts) -> str | None:
        low, high = self.deal_size_min, self.deal_size_max
        if low is None and high is None:
            return ""
        size = facts.deal_size
        if size is None or (low is not None and size < low) or (high is not None and size >= high):
            return None
        bounds = " and ".join(b for b in (f">= {low}" if low is not None else "",
                                          f"< {high}" if high is not None else "") if b)
        return f"deal size {size} {bounds}"


def _one_of(what: str, allowed: tuple[str, ...], value: str | None) -> str | None:
    if not allowed:
        return ""
    if value is None or value.strip().casefold() not in allowed:
        return None
    return f"{what} {value!r}"


class RoutingConfig(_Strict):
    default_queue: Id
    rules: tuple[RoutingRule, ...] = ()


class QueueConfig(_Strict):
    strategy: Strategy = "round_robin"
    required_skills: frozenset[Word] = frozenset()
    """With ``strategy = "skills"`` only: an agent must have all of them."""
    manager: Id | None = None
    """The agent responsible when an escalation reassigns a ticket of this queue."""
    team_lead: Id | None = None
    """The agent notified when a ticket of this queue is escalated further."""

    @model_validator(mode="after")
    def _skills_fit_strategy(self) -> QueueConfig:
        if self.strategy == "skills" and not self.required_skills:
            raise ValueError("strategy 'skills' needs required_skills")
        if self.strategy != "skills" and self.required_skills:
            raise ValueError(f"required_skills apply only to strategy 'skills', "
                             f"not {self.strategy!r}")
        return self


class AgentConfig(_Strict):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
    salesforce_user_id: SalesforceUserId
    telegram_user_id: int | None = Field(default=None, gt=0)
    queues: tuple[Id, ...] = ()
    skills: frozenset[Word] = frozenset()
    capacity: int = Field(ge=0)
    """Most open tickets the policy assigns to this agent (0: manual claims only)."""
    availability: Availability = "available"
    """Until an event says otherwise."""


class AssignmentPolicy(_Strict):
    routing: RoutingConfig
    queues: dict[Id, QueueConfig]
    agents: dict[Id, AgentConfig]
    """In file order, which is the round-robin order."""

    @classmethod
    def from_toml(cls, text: str) -> AssignmentPolicy:
        """Parse the policy's own sections of a TOML document (others are ignored)."""
        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise PolicyError([f"not valid TOML: {exc}"]) from exc
        missing = [f"missing section [{name}]" for name in SECTIONS if name not in document]
        if missing:
            raise PolicyError(missing)
        return cls.parse({name: document[name] for name in SECTIONS})

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> AssignmentPolicy:
        """Validate a mapping, raising :class:`PolicyError` with one line per problem."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = [line for error in exc.errors() for line in _describe(error)]
            raise PolicyError(problems) from exc

    @model_validator(mode="after")
    def _references(self) -> AssignmentPolicy:
        problems: list[str] = []
        if not self.queues:
            problems.append("queues: at least one queue is needed")
        if not self.agents:
            problems.append("agents: at least one agent is needed")
        if self.routing.default_queue not in self.queues:
            problems.append(f"routing.default_queue: unknown queue {self.routing.default_queue!r}")
        names: set[str] = set()
        for i, rule in enumerate(self.routing.rules):
            if rule.queue not in self.queues:
                problems.append(f"routing.rules.{i}.queue: unknown queue {rule.queue!r}")
            if rule.name in names:
                problems.append(f"routing.rules.{i}.name: {rule.name!r} is used twice")
            names.add(rule.name)
        for qid, queue in self.queues.items():
            for role in ("manager", "team_lead"):
                who = getattr(queue, role)
                if who is not None and who not in self.agents:
                    problems.append(f"queues.{qid}.{role}: unknown agent {who!r}")
            serving = [a for a in self.agents.values() if qid in a.queues]
            if not serving:
                problems.append(f"queues.{qid}: no agent serves it")
            elif not any(queue.required_skills <= a.skills for a in serving):
                problems.append(f"queues.{qid}: no agent serving it has all of "
                                f"{sorted(queue.required_skills)}")
        salesforce: dict[str, str] = {}
        telegram: dict[int, str] = {}
        for aid, agent in self.agents.items():
            problems += [f"agents.{aid}.queues: unknown queue {q!r}"
                         for q in agent.queues if q not in self.queues]
            key = salesforce_key(agent.salesforce_user_id)
            if key in salesforce:
                problems.append(f"agents.{aid}.salesforce_user_id: the same user as agent "
                                f"{salesforce[key]!r}")
            salesforce.setdefault(key, aid)
            tg = agent.telegram_user_id
            if tg is not None:
                if tg in telegram:
                    problems.append(f"agents.{aid}.telegram_user_id: the same user as agent "
                                    f"{telegram[tg]!r}")
                telegram.setdefault(tg, aid)
        if problems:
            raise ValueError("\n".join(problems))
        return self

    # ------------------------------------------------------------------------- queries

    def route(self, facts: TicketFacts) -> tuple[str, str | None, str]:
        """``(queue, rule name or None for the default, why)`` for a ticket's facts."""
        for rule in self.routing.rules:
            why = rule.explain(facts)
            if why is not None:
                return rule.queue, rule.name, f"rule {rule.name!r} matched: {why}"
        queue = self.routing.default_queue
        return queue, None, f"no rule matched; default queue {queue!r}"

    def agents_serving(self, queue: str) -> tuple[str, ...]:
        """The agents who serve a queue, in policy order (the round-robin order)."""
        return tuple(aid for aid, agent in self.agents.items() if queue in agent.queues)

    def agent_for_salesforce_user(self, user_id: str) -> str | None:
        key = salesforce_key(user_id)
        return next((aid for aid, agent in self.agents.items()
                     if salesforce_key(agent.salesforce_user_id) == key), None)


def _describe(error: Any) -> list[str]:
    """One line per problem, each prefixed with where it is (``agents.ann.capacity: ...``)."""
    where = ".".join(str(part) for part in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    return [f"{where}: {line}" if where else line for line in message.splitlines() or [""]]

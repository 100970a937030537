"""The SLA part of the policy, as validated configuration.

A policy file is TOML; this module reads the ``[sla]`` table of it and ignores every other
top-level table (``[routing]``, ``[queues]``, ``[agents]`` belong to the assignment policy).
Inside ``[sla]`` it is strict: an unknown key, a dangling name or a malformed duration is an
error, and :class:`PolicyError` lists every problem, one line each, with its path. Reading the
file is the caller's business (this package does no I/O): ``SlaPolicy.from_toml(path.read_text())``.

::

    [sla]                 default_tier, warn_at
    [sla.teams.<name>]    timezone, hours ("24/7" or mon..sun opening intervals), holidays
    [sla.tiers.<name>]    team, first_response, resolution (business time), warn_at
    [[sla.rules]]         ordered, first match wins: channel, segment, region, product,
                          deal size, keywords, chat ids -> tier (and optionally another
                          team); region, product and deal size come from the bot's intake
                          form (``streams.core.intake``)
    [sla.pause]           waiting_on_customer, statuses
    [sla.escalation.level1|level2|level3]   trigger, escalate_to, actions

``examples/policy.toml`` is the documented example. What a policy decides for one ticket is an
:class:`SlaTerms` (tier, team calendar, targets, thresholds, pause and escalation rules), chosen
by :meth:`SlaPolicy.select`; a ticket's SLA state keeps its terms, so the clock needs nothing else.
"""

from __future__ import annotations

import re
import sys
import tomllib
from dataclasses import dataclass
from datetime import date, timedelta
from string import Formatter
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from streams.sla.calendar import DAY, BusinessCalendar, Opening
from streams.sla.durations import format_duration, parse_duration, parse_fraction
from streams.sla.errors import PolicyError

Channel = Literal["forum_topic", "general_topic", "private_chat", "manual"]
"""Where a ticket came from (the same names as ``streams.schema.events.Channel``)."""


# ----------------------------------------------------------------------------- field types


def _duration(value: Any) -> Any:
    return parse_duration(value) if isinstance(value, str) else value


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than zero")
    return value


def _fraction(value: Any) -> Any:
    return parse_fraction(value) if isinstance(value, str) else value


def _opening(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", value)
    if match is None:
        raise ValueError(f"{value!r} is not an opening interval like '09:00-18:00'")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    start, end = timedelta(hours=h1, minutes=m1), timedelta(hours=h2, minutes=m2)
    if m1 > 59 or m2 > 59 or not timedelta(0) <= start < end <= DAY:
        raise ValueError(f"{value!r}: start must be before end, within 00:00-24:00")
    return (start, end)


def _listify(value: Any) -> Any:
    return [value] if isinstance(value, str | int) and not isinstance(value, bool) else value


Duration = Annotated[timedelta, BeforeValidator(_duration)]
Fraction = Annotated[float, BeforeValidator(_fraction)]
OpeningText = Annotated[tuple[timedelta, timedelta], BeforeValidator(_opening)]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _private(model: BaseModel) -> dict[str, Any]:
    """A model's private attributes as a plain dict (``model._name`` goes through pydantic's
    ``__getattr__``, which costs microseconds on the per-ticket path)."""
    private = model.__pydantic_private__
    if private is None:  # pragma: no cover - every model here declares private attributes
        raise AttributeError(f"{type(model).__name__} has no private attributes")
    return private


# ----------------------------------------------------------------------------- teams


class WeeklyHours(_Strict):
    """Opening intervals per weekday in the team's wall-clock time; a missing day is closed."""

    mon: list[OpeningText] = []
    tue: list[OpeningText] = []
    wed: list[OpeningText] = []
    thu: list[OpeningText] = []
    fri: list[OpeningText] = []
    sat: list[OpeningText] = []
    sun: list[OpeningText] = []

    def by_weekday(self) -> dict[int, list[Opening]]:
        days = (self.mon, self.tue, self.wed, self.thu, self.fri, self.sat, self.sun)
        return {weekday: list(openings) for weekday, openings in enumerate(days)}

    @model_validator(mode="after")
    def _some_opening(self) -> WeeklyHours:
        if not any(self.by_weekday().values()):
            raise ValueError("no opening hours on any day (use hours = \"24/7\" for always open)")
        return self


def _hours(value: Any) -> Any:
    if value == "24/7":
        return {day: ["00:00-24:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    if isinstance(value, str):
        raise ValueError(f"{value!r}: write \"24/7\" or a table of weekdays, e.g. "
                         "{ mon = [\"09:00-18:00\"] }")
    return value


class Team(_Strict):
    """Who works a tier's tickets, and when their SLA clock runs."""

    timezone: str = "UTC"
    hours: Annotated[WeeklyHours, BeforeValidator(_hours)]
    """``"24/7"``, or opening intervals per weekday."""
    holidays: list[date] = []
    """Local dates on which the team is closed all day."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as "
                             "'Europe/Berlin')") from None
        return value

    def calendar(self) -> BusinessCalendar:
        return BusinessCalendar(self.timezone, self.hours.by_weekday(), self.holidays)


# ----------------------------------------------------------------------------- tiers, rules


class Tier(_Strict):
    """SLA targets, in business time on the team's calendar."""

    team: str
    first_response: Duration
    resolution: Duration
    warn_at: list[Fraction] | None = None
    """Warning thresholds as fractions of each target; default: ``sla.warn_at``."""
    description: str = ""
    entitlement: str | None = None
    """The Salesforce Entitlement (its Name or Id) a Case of this tier gets, whose entitlement
    process creates its milestones (``connectors.salesforce.milestones``)."""

    @field_validator("first_response", "resolution")
    @classmethod
    def _positive_target(cls, value: timedelta) -> timedelta:
        return _positive(value)


class TierRule(_Strict):
    """A tier selection rule: every criterion given must match (a list matches any of its
    items); criteria left out match anything. Deal size is ``min <= size < max``; a ticket
    without a known deal size matches no rule that names one."""

    name: str
    tier: str
    team: str | None = None
    """Another team than the tier's (for instance the same targets, worked from Singapore)."""
    channel: Annotated[list[Channel] | None, BeforeValidator(_listify)] = None
    segment: Annotated[list[str] | None, BeforeValidator(_listify)] = None
    region: Annotated[list[str] | None, BeforeValidator(_listify)] = None
    """The intake form's region (case-insensitive); a ticket without one never matches."""
    product: Annotated[list[str] | None, BeforeValidator(_listify)] = None
    """The intake form's product interest (case-insensitive), like ``region``."""
    min_deal_size: float | None = None
    max_deal_size: float | None = None
    keywords: Annotated[list[str] | None, BeforeValidator(_listify)] = None
    """Whole words or phrases, case-insensitive, in the subject or the first message."""
    chat_ids: Annotated[list[int] | None, BeforeValidator(_listify)] = None

    _patterns: tuple[tuple[str, re.Pattern[str]], ...] = PrivateAttr(default=())
    _segments: frozenset[str] | None = PrivateAttr(default=None)
    _regions: frozenset[str] | None = PrivateAttr(default=None)
    _products: frozenset[str] | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _sane(self) -> TierRule:
        if (self.min_deal_size is not None and self.max_deal_size is not None
                and self.min_deal_size >= self.max_deal_size):
            raise ValueError("min_deal_size must be below max_deal_size")
        if self.keywords is not None and not all(k.strip() for k in self.keywords):
            raise ValueError("keywords must not be empty strings")
        return self

    def model_post_init(self, context: Any, /) -> None:
        self._patterns = tuple(
            (k, re.compile(r"(?<!\w)" + re.escape(k.strip().casefold()) + r"(?!\w)"))
            for k in self.keywords or ())
        self._segments = (None if self.segment is None
                          else frozenset(s.casefold() for s in self.segment))
        self._regions = (None if self.region is None
                         else frozenset(r.casefold() for r in self.region))
        self._products = (None if self.product is None
                          else frozenset(p.casefold() for p in self.product))

    def explain_match(self, facts: TicketFacts) -> list[str] | None:
        """What matched, criterion by criterion, or ``None`` when the rule does not match."""
        private = _private(self)  # plain dict reads: pydantic's private-attribute access is slow
        why: list[str] = []
        if self.channel is not None:
            if facts.channel not in self.channel:
                return None
            why.append(f"channel {facts.channel}")
        wanted: frozenset[str] | None = private["_segments"]
        if wanted is not None:
            if facts.segment is None or facts.segment.casefold() not in wanted:
                return None
            why.append(f"segment {facts.segment}")
        for name, allowed, value in (("region", private["_regions"], facts.region),
                                     ("product", private["_products"], facts.product)):
            if allowed is None:
                continue
            if value is None or value.casefold() not in allowed:
                return None
            why.append(f"{name} {value}")
        if self.min_deal_size is not None or self.max_deal_size is not None:
            size = facts.deal_size
            if size is None:
                return None
            if self.min_deal_size is not None:
                if size < self.min_deal_size:
                    return None
                why.append(f"deal size {size:g} >= {self.min_deal_size:g}")
            if self.max_deal_size is not None:
                if size >= self.max_deal_size:
                    return None
                why.append(f"deal size {size:g} < {self.max_deal_size:g}")
        patterns: tuple[tuple[str, re.Pattern[str]], ...] = private["_patterns"]
        if patterns:
            text = f"{facts.subject}\n{facts.first_message}".casefold()
            hit = next((k for k, pattern in patterns if pattern.search(text)), None)
            if hit is None:
                return None
            why.append(f"keyword {hit!r}")
        if self.chat_ids is not None:
            if facts.chat_id not in self.chat_ids:
                return None
            why.append(f"chat {facts.chat_id}")
        return why


# ----------------------------------------------------------------------------- pause, escalation

_PLACEHOLDERS = frozenset({"level", "reason", "ticket_id", "tier", "team", "escalate_to"})


def _template(text: str) -> str:
    try:
        names = {name for _, name, _, _ in Formatter().parse(text) if name is not None}
    except ValueError as exc:
        raise ValueError(f"bad template {text!r}: {exc}") from None
    unknown = names - _PLACEHOLDERS
    if unknown:
        raise ValueError(f"unknown placeholder(s) {sorted(unknown)}; use any of "
                         f"{sorted(_PLACEHOLDERS)}")
    return text


Template = Annotated[str, BeforeValidator(lambda v: _template(v) if isinstance(v, str) else v)]
DEFAULT_TEXT = "SLA escalation level {level} for {ticket_id} ({escalate_to}): {reason}"


class NotifyTelegram(_Strict):
    """Post a notification to a Telegram chat (a team's or manager's group)."""

    do: Literal["notify_telegram"]
    chat_id: int
    text: Template = DEFAULT_TEXT


class SetCaseField(_Strict):
    """Set a field on the Salesforce Case (``IsEscalated``, ``Priority``, a review flag)."""

    do: Literal["set_case_field"]
    field: str
    value: bool | int | float | str


class ReassignCase(_Strict):
    """Give the Case to someone else: ``next_available_agent`` (the assignment policy picks),
    or a Salesforce User or Queue id."""

    do: Literal["reassign"]
    to: str = "next_available_agent"


class PostCaseComment(_Strict):
    """Add a CaseComment to the Case."""

    do: Literal["post_case_comment"]
    text: Template = DEFAULT_TEXT
    public: bool = False


Action = Annotated[NotifyTelegram | SetCaseField | ReassignCase | PostCaseComment,
                   Field(discriminator="do")]


class _Level(_Strict):
    escalate_to: str
    """Who is responsible from this level on (a role name used in texts and reasons)."""
    actions: list[Action] = []


class FirstResponseEscalation(_Level):
    """Level 1: no first response although the target is exceeded by ``first_response_over``."""

    first_response_over: Annotated[float, BeforeValidator(_fraction), Field(ge=0)]
    escalate_to: str = "queue_manager"


class ResolutionEscalation(_Level):
    """Level 2: unresolved although the resolution target is exceeded by ``resolution_over``."""

    resolution_over: Annotated[float, BeforeValidator(_fraction), Field(ge=0)]
    escalate_to: str = "team_lead"


class IdleEscalation(_Level):
    """Level 3: nothing happened on an open ticket for ``idle_for`` business time."""

    idle_for: Duration
    escalate_to: str = "sales_manager"
    while_waiting_on_customer: bool = False
    """Whether silence counts while the ticket waits on the customer (resolution clock paused)."""

    @field_validator("idle_for")
    @classmethod
    def _positive_idle(cls, value: timedelta) -> timedelta:
        return _positive(value)


class EscalationPolicy(_Strict):
    level1: FirstResponseEscalation | None = None
    level2: ResolutionEscalation | None = None
    level3: IdleEscalation | None = None


class PauseRules(_Strict):
    """When the resolution clock stops (the first-response clock never pauses while open)."""

    waiting_on_customer: bool = True
    """Paused from an agent's reply until the customer writes again."""
    statuses: list[str] = []
    """Salesforce Case statuses (compared case-insensitively) during which it is paused."""


# ----------------------------------------------------------------------------- the policy


@dataclass(frozen=True)
class TicketFacts:
    """What tier selection looks at, known when a ticket opens."""

    ticket_id: str
    channel: Channel
    chat_id: int
    subject: str = ""
    first_message: str = ""
    segment: str | None = None
    deal_size: float | None = None
    """From the bot's intake form (``None`` when the customer did not fill it in)."""
    region: str | None = None
    """From the bot's intake form, like ``product``."""
    product: str | None = None


@dataclass(frozen=True, eq=False)
class SlaTerms:
    """Everything the clock needs for one ticket: shared by all tickets of a tier and team."""

    tier: str
    team: str
    calendar: BusinessCalendar
    first_response: timedelta
    resolution: timedelta
    warn_at: tuple[float, ...]
    pause_when_waiting_on_customer: bool
    pause_statuses: frozenset[str]
    """Casefolded."""
    level1: FirstResponseEscalation | None
    level2: ResolutionEscalation | None
    level3: IdleEscalation | None


@dataclass(frozen=True)
class TierChoice:
    terms: SlaTerms
    rule: str | None
    """The matching rule's name; ``None`` when the default tier applied."""
    reason: str


class SlaPolicy(_Strict):
    """The ``[sla]`` table of a policy file."""

    default_tier: str
    warn_at: list[Fraction] = [0.8]
    teams: dict[str, Team]
    tiers: dict[str, Tier]
    rules: list[TierRule] = []
    pause: PauseRules = PauseRules()
    escalation: EscalationPolicy = EscalationPolicy()

    _terms: dict[tuple[str, str], SlaTerms] = PrivateAttr(default_factory=dict)
    _choices: tuple[tuple[int, TierRule, SlaTerms], ...] = PrivateAttr(default=())
    """Each rule (numbered from 1) with the terms it chooses, in order."""
    _default: TierChoice | None = PrivateAttr(default=None)

    @field_validator("warn_at")
    @classmethod
    def _thresholds(cls, value: list[float]) -> list[float]:
        return _check_thresholds(value)

    @model_validator(mode="after")
    def _names_resolve(self) -> SlaPolicy:
        problems: list[str] = []
        if self.default_tier not in self.tiers:
            problems.append(f"default_tier: tier {self.default_tier!r} is not defined "
                            f"(tiers: {sorted(self.tiers)})")
        for name, tier in self.tiers.items():
            if tier.team not in self.teams:
                problems.append(f"tiers.{name}.team: team {tier.team!r} is not defined "
                                f"(teams: {sorted(self.teams)})")
            if tier.warn_at is not None:
                try:
                    _check_thresholds(tier.warn_at)
                except ValueError as exc:
                    problems.append(f"tiers.{name}.warn_at: {exc}")
        seen: set[str] = set()
        for i, rule in enumerate(self.rules):
            if rule.name in seen:
                problems.append(f"rules.{i}.name: {rule.name!r} is used by an earlier rule")
            seen.add(rule.name)
            if rule.tier not in self.tiers:
                problems.append(f"rules.{i}.tier: tier {rule.tier!r} is not defined "
                                f"(tiers: {sorted(self.tiers)})")
            if rule.team is not None and rule.team not in self.teams:
                problems.append(f"rules.{i}.team: team {rule.team!r} is not defined "
                                f"(teams: {sorted(self.teams)})")
        if problems:
            raise ValueError("\n".join(problems))
        self._build_terms()
        return self

    def _build_terms(self) -> None:
        """One :class:`SlaTerms` per (tier, team) the policy can choose, built once, so every
        ticket of a tier shares its terms and its calendar's memo."""
        calendars = {name: team.calendar() for name, team in self.teams.items()}
        wanted = {(self.default_tier, self.tiers[self.default_tier].team)}
        wanted |= {(r.tier, r.team or self.tiers[r.tier].team) for r in self.rules}
        for tier_name, team_name in sorted(wanted):
            tier = self.tiers[tier_name]
            self._terms[(tier_name, team_name)] = SlaTerms(
                tier=tier_name, team=team_name, calendar=calendars[team_name],
                first_response=tier.first_response, resolution=tier.resolution,
                warn_at=tuple(sorted(set(tier.warn_at if tier.warn_at is not None
                                         else self.warn_at))),
                pause_when_waiting_on_customer=self.pause.waiting_on_customer,
                pause_statuses=frozenset(s.casefold() for s in self.pause.statuses),
                level1=self.escalation.level1, level2=self.escalation.level2,
                level3=self.escalation.level3)
        self._choices = tuple((i, rule, self._terms[(rule.tier, rule.team or
                                                      self.tiers[rule.tier].team)])
                              for i, rule in enumerate(self.rules, start=1))
        terms = self._terms[(self.default_tier, self.tiers[self.default_tier].team)]
        self._default = TierChoice(terms, None, f"tier {terms.tier!r} (team {terms.team!r}) is "
                                                f"the default: no rule matched")

    def entitlements(self) -> dict[str, str]:
        """Tier -> the Entitlement its Cases get (tiers that name one)."""
        return {name: t.entitlement for name, t in self.tiers.items() if t.entitlement}

    # ------------------------------------------------------------------------- reading

    @classmethod
    def from_toml(cls, text: str) -> SlaPolicy:
        """Parse a policy file's text; only its ``[sla]`` table is read."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise PolicyError([f"not valid TOML: {exc}"]) from None
        return cls.from_mapping(data)

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> SlaPolicy:
        """Validate a parsed policy document (the whole file: other top-level tables are
        ignored). Raises :class:`PolicyError` listing every problem."""
        section = data.get("sla")
        if not isinstance(section, dict):
            raise PolicyError(["sla: the policy has no [sla] table"])
        try:
            return cls.model_validate(section)
        except ValidationError as exc:
            raise PolicyError(_problems(exc)) from None

    # ------------------------------------------------------------------------- deciding

    def terms(self, tier: str, team: str | None = None) -> SlaTerms:
        """The terms of a tier (worked by its own team unless another is named)."""
        key = (tier, team or self.tiers[tier].team)
        terms: SlaTerms = _private(self)["_terms"][key]
        return terms

    def select(self, facts: TicketFacts) -> TierChoice:
        """The first rule that matches chooses the tier; else the default tier."""
        private = _private(self)
        choices: tuple[tuple[int, TierRule, SlaTerms], ...] = private["_choices"]
        for i, rule, terms in choices:
            why = rule.explain_match(facts)
            if why is None:
                continue
            matched = ", ".join(why) if why else "no criteria (matches every ticket)"
            # interned: every ticket a rule matches the same way shares one reason string
            return TierChoice(terms, rule.name, sys.intern(
                f"tier {terms.tier!r} (team {terms.team!r}) chosen by rule #{i} {rule.name!r}: "
                f"{matched}"))
        default: TierChoice = private["_default"]
        return default

    def describe(self, tier: str) -> str:
        t = self.tiers[tier]
        return (f"{tier}: first response {format_duration(t.first_response)}, resolution "
                f"{format_duration(t.resolution)} (team {t.team})")


def _check_thresholds(value: list[float]) -> list[float]:
    bad = [v for v in value if not 0 < v < 1]
    if bad:
        raise ValueError(f"warning thresholds are fractions of a target between 0 and 1 "
                         f"exclusive (e.g. 0.8 or '80%'), got {bad}")
    return value


def _problems(exc: ValidationError) -> list[str]:
    problems: list[str] = []
    for error in exc.errors(include_url=False):
        loc = ".".join(["sla", *(str(part) for part in error["loc"])])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key (not part of the SLA policy; check the spelling)"
        lines = message.split("\n")
        if error["loc"] == ():  # cross-reference problems carry their own paths
            problems += [f"sla.{line}" for line in lines]
        else:
            problems += [f"{loc}: {line}" for line in lines]
    return problems

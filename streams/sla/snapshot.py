"""A ticket's SLA clocks as stored with the ticket's state (Faust table, embedded store).

An :class:`~streams.sla.clock.SlaState` holds its :class:`~streams.sla.policy.SlaTerms` (a
calendar, the escalation rules), which are the policy's and not the ticket's. A snapshot keeps
the tier and team instead and gets the terms back from the policy when it is thawed, and keeps
the fired deadlines by key rather than as bits, so a policy that changed between a freeze and a
thaw (a threshold added, a level removed) still reads it right: a key the new terms do not have
is dropped, and a deadline the new terms add is pending from then on. A tier that no longer
exists falls back to the policy's default tier (a team no longer paired with it, to the tier's
own team).

Targets adopted from Salesforce's milestones (:func:`~streams.sla.clock.adopt`) are kept as
the budgets they set and the targets themselves; a snapshot stored before they existed has
neither, and thaws as it always did.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from streams.sla.clock import (
    AdoptedTerms,
    SalesforceTarget,
    SlaState,
    Stopwatch,
    Timer,
    adopted_terms,
    mask_of,
    policy_keys,
    stopwatch,
)
from streams.sla.policy import SlaPolicy, SlaTerms

_tuple = tuple.__new__


@dataclass(frozen=True)
class SlaSnapshot:
    tier: str
    team: str
    tier_reason: str
    rule: str | None
    started_at: datetime
    as_of: datetime
    last_activity_at: datetime
    first_response: Stopwatch
    resolution: Stopwatch
    first_response_at: datetime | None
    waiting_on_customer: bool
    status: str | None
    closed: bool
    closures: int
    held: tuple[Timer, ...]
    fired: tuple[str, ...]
    next_at: datetime | None
    first_response_target: timedelta | None = None
    """The first-response budget Salesforce's milestone set (``None``: the tier's)."""
    resolution_target: timedelta | None = None
    salesforce_targets: tuple[SalesforceTarget, ...] = ()
    """The milestones' targets adopted (``streams.sla.clock.adopt``)."""

    @classmethod
    def freeze(cls, state: SlaState) -> SlaSnapshot:
        terms = state.terms
        first, resolution, targets = _adoptions(terms)
        # ``cls(...)`` without its ``__init__``'s one ``object.__setattr__`` per field (a
        # plain frozen dataclass: no ``__post_init__``, no slots; a test holds it to that):
        # a snapshot is frozen at every firing and fact, and the call was some 5% of a
        # restart's firing (issue 19).
        snapshot = object.__new__(cls)
        snapshot.__dict__.update({
            "tier": terms.tier, "team": terms.team, "tier_reason": state.tier_reason,
            "rule": state.rule, "started_at": state.started_at, "as_of": state.as_of,
            "last_activity_at": state.last_activity_at, "first_response": state.first_response,
            "resolution": state.resolution, "first_response_at": state.first_response_at,
            "waiting_on_customer": state.waiting_on_customer, "status": state.status,
            "closed": state.closed, "closures": state.closures, "held": state.held,
            "fired": policy_keys(state), "next_at": state.next_at,
            "first_response_target": first, "resolution_target": resolution,
            "salesforce_targets": targets})
        return snapshot

    def thaw(self, ticket_id: str, policy: SlaPolicy) -> SlaState:
        terms = _terms(policy, self.tier, self.team, self.first_response_target,
                       self.resolution_target, self.salesforce_targets)
        # ``SlaState(...)`` without its ``__new__``'s Python-level call (every field given, in
        # order): a stored snapshot is thawed at every tick and fact that reaches it.
        return _tuple(SlaState, (ticket_id, terms, self.tier_reason, self.rule, self.started_at,
                                 self.as_of, self.last_activity_at, self.first_response,
                                 self.resolution, self.first_response_at,
                                 self.waiting_on_customer, self.status, self.closed,
                                 self.closures, self.held, mask_of(terms, self.fired),
                                 self.next_at))

    def row(self) -> Row:
        """The snapshot as a :data:`Row`."""
        first, resolution = self.first_response, self.resolution
        return (self.tier, self.team, self.tier_reason, self.rule, self.started_at, self.as_of,
                self.last_activity_at, (first.used, first.since),
                (resolution.used, resolution.since), self.first_response_at,
                self.waiting_on_customer, self.status, self.closed, self.closures, self.held,
                self.fired, self.next_at, self.first_response_target, self.resolution_target,
                self.salesforce_targets)

    @classmethod
    def from_row(cls, row: Row) -> SlaSnapshot:
        """The snapshot a :data:`Row` holds."""
        (tier, team, tier_reason, rule, started_at, as_of, last_activity_at, first, resolution,
         first_response_at, waiting, status, closed, closures, held, fired, next_at,
         first_target, resolution_target, targets) = row
        return cls(tier, team, tier_reason, rule, started_at, as_of, last_activity_at,
                   stopwatch(*first), stopwatch(*resolution), first_response_at, waiting,
                   status, closed, closures, held, fired, next_at, first_target,
                   resolution_target, targets)


Row = tuple[str, str, str, str | None, datetime, datetime, datetime,
            tuple[timedelta, datetime | None], tuple[timedelta, datetime | None],
            datetime | None, bool, str | None, bool, int, tuple[Timer, ...], tuple[str, ...],
            datetime | None, timedelta | None, timedelta | None, tuple[SalesforceTarget, ...]]
"""A snapshot's fields in their order, each stopwatch as ``(used, since)``: how a stored
state's clocks hold it (:mod:`streams.runtime.state_codec`, v4), an array without field
names. A worker's tick fires a stored ticket from its row (:func:`thaw_row`,
:func:`freeze_row`) without building the snapshot: in JSON, a row is about half a snapshot's
bytes and decodes about three times and encodes four times faster (issue 19)."""
NEXT_AT: Final = 16
"""The index of ``next_at`` in a :data:`Row`."""


def thaw_row(row: Row, ticket_id: str, policy: SlaPolicy) -> SlaState:
    """``SlaSnapshot.from_row(row).thaw(ticket_id, policy)``, without the snapshot."""
    (tier, team, tier_reason, rule, started_at, as_of, last_activity_at, first, resolution,
     first_response_at, waiting, status, closed, closures, held, fired, next_at, first_target,
     resolution_target, targets) = row
    terms = _terms(policy, tier, team, first_target, resolution_target, targets)
    return _tuple(SlaState, (ticket_id, terms, tier_reason, rule, started_at, as_of,
                             last_activity_at, stopwatch(*first), stopwatch(*resolution),
                             first_response_at, waiting, status, closed, closures, held,
                             mask_of(terms, fired), next_at))


def freeze_row(state: SlaState) -> Row:
    """``SlaSnapshot.freeze(state).row()``, without the snapshot."""
    (_, terms, tier_reason, rule, started_at, as_of, last_activity_at, first, resolution,
     first_response_at, waiting, status, closed, closures, held, _, next_at) = state
    first_target, resolution_target, targets = _adoptions(terms)
    return (terms.tier, terms.team, tier_reason, rule, started_at, as_of, last_activity_at,
            (first.used, first.since), (resolution.used, resolution.since), first_response_at,
            waiting, status, closed, closures, held, policy_keys(state), next_at, first_target,
            resolution_target, targets)


def _terms(policy: SlaPolicy, tier: str, team: str, first_target: timedelta | None,
           resolution_target: timedelta | None,
           targets: tuple[SalesforceTarget, ...]) -> SlaTerms:
    """The terms a snapshot's tier and team have under ``policy`` (see the module), with the
    targets it adopted."""
    last = _LAST_TERMS
    if last[0] is policy and last[1] == tier and last[2] == team:
        terms: SlaTerms = last[3]
    else:
        try:
            terms = policy.terms(tier, team)
        except KeyError:
            terms = policy.terms(tier if tier in policy.tiers else policy.default_tier)
        last[:] = (policy, tier, team, terms)
    if targets:
        terms = adopted_terms(terms, first_target, resolution_target, targets)
    return terms


_LAST_TERMS: list[Any] = [None, None, None, None]
"""The policy, tier and team last looked up and their terms: a worker's tickets mostly share
one tier, and looking them up in the policy was some 1.5% of a restart's firing (issue 19)."""


def _adoptions(terms: SlaTerms) -> tuple[timedelta | None, timedelta | None,
                                         tuple[SalesforceTarget, ...]]:
    """The budgets and targets ``terms`` adopted from Salesforce (``None``, ``()``: none)."""
    if not isinstance(terms, AdoptedTerms):
        return None, None, ()
    targets = terms.targets
    adopted = {t.clock for t in targets}
    return (terms.first_response if "first_response" in adopted else None,
            terms.resolution if "resolution" in adopted else None, targets)

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

from streams.sla.clock import (
    AdoptedTerms,
    SalesforceTarget,
    SlaState,
    Stopwatch,
    Timer,
    adopted_terms,
    mask_of,
    policy_keys,
)
from streams.sla.policy import SlaPolicy

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
        first = resolution = None
        targets: tuple[SalesforceTarget, ...] = ()
        if isinstance(terms, AdoptedTerms):
            targets = terms.targets
            adopted = {t.clock for t in targets}
            first = terms.first_response if "first_response" in adopted else None
            resolution = terms.resolution if "resolution" in adopted else None
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
        try:
            terms = policy.terms(self.tier, self.team)
        except KeyError:
            terms = policy.terms(self.tier if self.tier in policy.tiers else policy.default_tier)
        if self.salesforce_targets:
            terms = adopted_terms(terms, self.first_response_target, self.resolution_target,
                                  self.salesforce_targets)
        # ``SlaState(...)`` without its ``__new__``'s Python-level call (every field given, in
        # order): a stored snapshot is thawed at every tick and fact that reaches it.
        return _tuple(SlaState, (ticket_id, terms, self.tier_reason, self.rule, self.started_at,
                                 self.as_of, self.last_activity_at, self.first_response,
                                 self.resolution, self.first_response_at,
                                 self.waiting_on_customer, self.status, self.closed,
                                 self.closures, self.held, mask_of(terms, self.fired),
                                 self.next_at))

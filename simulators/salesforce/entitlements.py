"""Entitlement management (issue 17): Entitlement, SlaProcess (an entitlement process),
MilestoneType and CaseMilestone, and what the org does when a Case gets an ``EntitlementId``.

As the documentation describes them:

- **CaseMilestone** (Object Reference, "CaseMilestone",
  https://developer.salesforce.com/docs/platform/object-reference/references/standard-objects/object-casemilestone.html):
  "a milestone (required step in a customer support process) on a Case"; supported calls
  ``query()``, ``retrieve()``, ``update()``: there is no ``create()``, the org's entitlement
  process creates them. Fields: ``CaseId``, ``MilestoneTypeId``, ``StartDate``, ``TargetDate``
  ("the date and time the milestone must be completed"), ``CompletionDate`` (Update),
  ``IsCompleted`` and ``IsViolated`` (defaulted on create), ``TargetResponseInMins``,
  ``ElapsedTimeInMins``. An integration completes a milestone by updating ``CompletionDate``.
- **Entitlement** (``Name``, ``AccountId``, ``SlaProcessId``: the entitlement process that
  applies to Cases naming it in ``Case.EntitlementId``), **SlaProcess** (``Name``,
  ``IsActive``, ``SobjectType``) and **MilestoneType** (``Name``, ``RecurrenceType``).

What the simulator does: when a Case's ``EntitlementId`` is set or changes to an Entitlement
whose process is active, one CaseMilestone per milestone of the process, started at the
Case's ``CreatedDate`` (an entitlement process starts from the Case's created date unless
told otherwise), ``TargetDate`` = start + the milestone's minutes. The process's milestones
and their minutes are metadata in Salesforce (EntitlementProcess ``milestones``:
``milestoneName``, ``minutesToComplete``), set up here with ``POST /sim/entitlement_process``
(:meth:`~simulators.salesforce.driver.SalesforceDriver.define_entitlement_process`).
Business hours are not modelled: targets are calendar minutes.
``IsCompleted`` follows ``CompletionDate``; ``IsViolated`` is true once the target passed
without completion, or when the completion came after the target. An open milestone's
``IsViolated`` is worked out again whenever CaseMilestones are queried (:func:`as_of`), as the
org's own flag turns true when the target passes, with no write to the record (the Object
Reference lists ``IsViolated`` as "Defaulted on create, Filter" only: no client sets it).
"""

from __future__ import annotations

from typing import Any

from simulators.salesforce.timefmt import format_datetime, parse_datetime

# The objects' fields are declared with the others in ``schema`` (``_entitlement_objects``);
# ``store`` calls :func:`on_case_write` and :func:`derive`. ``store`` and ``record`` are the
# Store and the Case's Record (typed loosely: ``store`` imports this module).


def define_process(store: Any, process_id: str, milestones: dict[str, int]) -> None:
    """The process's milestones: MilestoneType Id -> minutes to complete."""
    store.process_milestones[process_id] = dict(milestones)


def on_case_write(store: Any, case: Any, before: dict[str, Any] | None,
                  user_id: str) -> None:
    """The entitlement process's CaseMilestones for a Case whose ``EntitlementId`` changed."""
    entitlement_id = case.fields.get("EntitlementId")
    if not entitlement_id or (before or {}).get("EntitlementId") == entitlement_id:
        return
    entitlement = store.by_id(str(entitlement_id))
    process = store.by_id(str(entitlement.fields.get("SlaProcessId") or "")) \
        if entitlement else None
    if process is None or not process.fields.get("IsActive"):
        return
    start = str(case.fields["CreatedDate"])
    started = parse_datetime(start) or 0.0
    for type_id, minutes in store.process_milestones.get(process.id, {}).items():
        store.create("CaseMilestone", {
            "CaseId": case.id, "MilestoneTypeId": type_id, "StartDate": start,
            "TargetDate": format_datetime(started + minutes * 60),
            "TargetResponseInMins": minutes}, user_id, gated=False)


def as_of(milestones: list[dict[str, Any]], now: float) -> None:
    """Open milestones' ``IsViolated`` at ``now`` (a query reads them as they are then)."""
    for fields in milestones:
        if fields.get("CompletionDate") is None:
            derive(fields, now)


def derive(fields: dict[str, Any], now: float) -> None:
    """A CaseMilestone's ``IsCompleted``, ``IsViolated`` and ``ElapsedTimeInMins``."""
    target = parse_datetime(str(fields.get("TargetDate") or "")) or 0.0
    done = fields.get("CompletionDate")
    fields["IsCompleted"] = done is not None
    if done is None:
        fields["IsViolated"] = now > target
        fields["ElapsedTimeInMins"] = None
        return
    finished = parse_datetime(str(done)) or 0.0
    started = parse_datetime(str(fields.get("StartDate") or "")) or finished
    fields["IsViolated"] = finished > target
    fields["ElapsedTimeInMins"] = int((finished - started) // 60)

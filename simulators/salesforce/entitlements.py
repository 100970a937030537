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
``milestoneName``, ``minutesToComplete``), set up here through
:meth:`~simulators.salesforce.driver.SalesforceDriver`-side helper :func:`define_process`.
Business hours are not modelled: targets are calendar minutes.
``IsCompleted`` follows ``CompletionDate``; ``IsViolated`` is true once the target passed
without completion, or when the completion came after the target.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from simulators.salesforce.schema import Field
from simulators.salesforce.timefmt import format_datetime, parse_datetime

if TYPE_CHECKING:
    from simulators.salesforce.store import Record, Store

KEY_PREFIXES = {"Entitlement": "550", "SlaProcess": "552", "MilestoneType": "557",
                "CaseMilestone": "5oT"}
"""The simulator's key prefixes for these objects."""


def specs() -> dict[str, tuple[str, list[Field], str]]:
    """The four objects, in :func:`simulators.salesforce.schema.build_types`' form."""

    def ref(name: str, target: str, relationship: str, **kw: Any) -> Field:
        return Field(name, "reference", reference_to=(target,), relationship=relationship,
                     **kw)

    def fixed(name: str, kind: str, **kw: Any) -> Field:
        """Set by the entitlement process (clients may not create a CaseMilestone)."""
        return Field(name, kind, updateable=False, **kw)

    return {
        "SlaProcess": (KEY_PREFIXES["SlaProcess"], [
            Field("Name", "string", required=True, length=80),
            Field("Description", "textarea"), Field("IsActive", "boolean", default=True),
            Field("SobjectType", "picklist", default="Case")], "Name"),
        "MilestoneType": (KEY_PREFIXES["MilestoneType"], [
            Field("Name", "string", required=True, length=80),
            Field("Description", "textarea"),
            Field("RecurrenceType", "picklist", default="none")], "Name"),
        "Entitlement": (KEY_PREFIXES["Entitlement"], [
            Field("Name", "string", required=True, length=255),
            ref("AccountId", "Account", "Account"),
            ref("SlaProcessId", "SlaProcess", "SlaProcess"),
            Field("StartDate", "date"), Field("EndDate", "date"),
            Field("Status", "picklist", createable=False, updateable=False,
                  default="Active")], "Name"),
        "CaseMilestone": (KEY_PREFIXES["CaseMilestone"], [
            ref("CaseId", "Case", "Case", updateable=False),
            ref("MilestoneTypeId", "MilestoneType", "MilestoneType", updateable=False),
            Field("StartDate", "datetime"), fixed("TargetDate", "datetime"),
            Field("CompletionDate", "datetime"),
            fixed("IsCompleted", "boolean", default=False),
            fixed("IsViolated", "boolean", default=False),
            fixed("TargetResponseInMins", "int"), fixed("ElapsedTimeInMins", "int")], "Id"),
    }


def case_field() -> Field:
    """``Case.EntitlementId`` (Object Reference, Case: "ID of the entitlement")."""
    return Field("EntitlementId", "reference", reference_to=("Entitlement",),
                 relationship="Entitlement")


def define_process(store: Store, process_id: str, milestones: dict[str, int]) -> None:
    """The process's milestones: MilestoneType Id -> minutes to complete."""
    store.process_milestones[process_id] = dict(milestones)


def on_case_write(store: Store, case: Record, before: dict[str, Any] | None,
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

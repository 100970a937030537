"""Case field history: the ``CaseHistory`` rows Salesforce keeps when field history tracking
is on for the Case's Status and Owner.

Object Reference, CaseHistory
(https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_casehistory.htm):
read-only; ``CaseId``, ``Field`` ("Name of the case field that was modified, or a special
value": ``ownerAssignment`` "The owner of the case was changed", ``ownerAccepted``,
``ownerEscalated``, ``external``), ``OldValue``, ``NewValue``, ``CreatedById``,
``CreatedDate``; "Case history entries are indirectly created each time a case is modified";
"When a foreign key field is modified, two rows are added to this record: one row specifies
the foreign key object name ... and the other specifies the actual foreign key ID, which is
only returned and viewable from the API".

So here, with tracking on (:attr:`Store.case_field_history <simulators.salesforce.store.Store>`,
the org option ``case_field_history``):

- creating a Case writes one row, ``Field`` ``created`` (the "Created." line of the history
  related list), no values;
- a Status change writes one row, ``Field`` ``Status``, old and new value;
- an Owner change writes two rows, the names then the ids, ``Field`` ``Owner``, or
  ``ownerAssignment`` when the org's assignment rule set it (also at creation: the owner was
  the creator, the rule changed it);

each made by the user whose write caused it (``CreatedById``: an assignment rule or a flow
runs in that user's transaction), at the write's time. Tracking off: no rows at all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from simulators.salesforce.errors import ApiError


def read_only(sobject: str, verb: str) -> ApiError:
    """What an API write to a history object answers ("This object is always read-only";
    the error code and text are a best guess)."""
    return ApiError(400, "INVALID_TYPE_FOR_OPERATION",
                    f"entity type cannot be {verb}: {sobject}", [])


def case_history_rows(case_id: str, before: Mapping[str, Any] | None, after: Mapping[str, Any],
                      *, assigned: bool, name_of: Callable[[str], str]) -> list[dict[str, Any]]:
    """The rows a Case write adds: ``before`` is ``None`` for a create (the owner it had
    before the assignment rule is then its creator, ``after["CreatedById"]``)."""
    rows: list[dict[str, Any]] = []
    if before is None:
        rows.append(_row(case_id, "created", None, None))
        before = {"Status": after.get("Status"), "OwnerId": after.get("CreatedById")}
    old_status, new_status = before.get("Status"), after.get("Status")
    if old_status != new_status:
        rows.append(_row(case_id, "Status", old_status, new_status))
    old_owner, new_owner = before.get("OwnerId"), after.get("OwnerId")
    if old_owner != new_owner and new_owner is not None:
        field = "ownerAssignment" if assigned else "Owner"
        rows.append(_row(case_id, field, name_of(old_owner) if old_owner else None,
                         name_of(new_owner)))
        rows.append(_row(case_id, field, old_owner, new_owner))
    return rows


def _row(case_id: str, field: str, old: Any, new: Any) -> dict[str, Any]:
    return {"CaseId": case_id, "Field": field, "OldValue": old, "NewValue": new}

"""What an org admin does through the API, for the tests of the standard-schema org: custom
fields through the Tooling API, a Case Origin value, a permission set granting field access."""

from __future__ import annotations

from typing import Any

from simple_salesforce import Salesforce

from tests.simulators.salesforce.conftest import call


async def create_field(sf: Salesforce, full_name: str, metadata: dict[str, Any]) -> Any:
    """``POST tooling/sobjects/CustomField``."""
    return await call(sf.toolingexecute, "sobjects/CustomField", method="POST",
                      data={"FullName": full_name, "Metadata": metadata})


async def grant(sf: Salesforce, user_id: str, fields: list[str], *, edit: bool = True,
                name: str = "Telecase_Integration") -> None:
    """A permission set granting ``fields`` (``Object.Field``), assigned to ``user_id``."""
    permission_set = await call(sf.PermissionSet.create, {"Name": name, "Label": name})
    for field_name in fields:
        await call(sf.FieldPermissions.create, {
            "ParentId": permission_set["id"], "SobjectType": field_name.split(".")[0],
            "Field": field_name, "PermissionsRead": True, "PermissionsEdit": edit})
    await call(sf.PermissionSetAssignment.create, {"AssigneeId": user_id,
                                                   "PermissionSetId": permission_set["id"]})


async def add_case_origin(sf: Salesforce, value: str) -> None:
    """Add ``value`` to the CaseOrigin standard value set (Tooling API)."""
    found = await call(sf.toolingexecute, "query", params={
        "q": "SELECT Id, Metadata FROM StandardValueSet WHERE MasterLabel = 'CaseOrigin'"})
    value_set = found["records"][0]
    values = value_set["Metadata"]["standardValue"]
    values.append({"valueName": value, "label": value, "default": False})
    await call(sf.toolingexecute, f"sobjects/StandardValueSet/{value_set['Id']}",
               method="PATCH", data={"Metadata": {"sorted": False, "standardValue": values}})

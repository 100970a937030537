"""Sales objects (issue 17 item 4): Account, Opportunity, LeadStatus, the Lead's conversion
fields (declared in ``schema``), and the SOAP API's ``convertLead()``.

As the documentation describes them:

- **Opportunity** (Object Reference, "Opportunity",
  https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_opportunity.htm):
  ``Name`` (120), ``StageName`` ("Required. Current stage of this record"), ``CloseDate``
  ("Required. Date when the opportunity is expected to close"), ``AccountId``, ``ContactId``
  (the primary contact: set on create only, an update of it is refused), ``Amount``,
  ``LeadSource``, ``Description``; ``IsClosed`` and ``IsWon`` follow the stage
  (read-only, from the stage's OpportunityStage row). An insert without a required field is
  refused with ``REQUIRED_FIELD_MISSING`` (the store's check). The stage's values are the
  org's OpportunityStage rows (Object Reference, "OpportunityStage"); a new org's are
  :data:`~simulators.salesforce.schema.OPPORTUNITY_STAGES`, and a value outside them is refused with
  ``INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST`` ("StageName: bad value for restricted picklist
  field: X").
- **Account**: ``Name`` required (255).
- **LeadStatus** (``MasterLabel``, ``ApiName``, ``IsConverted``, ``IsDefault``, ``SortOrder``):
  the values of the Lead's ``Status``; the ones with ``IsConverted`` are what
  ``convertLead()`` takes as ``convertedStatus``. A new org's: :data:`LEAD_STATUSES`.
- **convertLead()** (SOAP API, "convertLead()",
  https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_convertlead.htm;
  the REST API has no such resource): a ``LeadConvert`` per Lead (``leadId``,
  ``convertedStatus`` required; ``accountId`` to merge into an existing Account, else one is
  created named after the Lead's ``Company``; ``contactId``; ``doNotCreateOpportunity``;
  ``opportunityName``); the answer's ``LeadConvertResult`` carries ``accountId``,
  ``contactId``, ``opportunityId``, ``leadId``, ``success`` and ``errors``. The Lead becomes
  ``IsConverted`` with ``ConvertedAccountId``, ``ConvertedContactId``,
  ``ConvertedOpportunityId`` and ``ConvertedDate``; converting it again, updating it, or
  writing its id into any lookup (a Task's ``WhoId``, a custom lookup) is refused
  (``CANNOT_UPDATE_CONVERTED_LEAD`` "cannot reference converted lead", :func:`refuse_converted`:
  Salesforce Help article 000384333); a status that is not a converted one is refused
  (``INVALID_STATUS``). The new Contact copies the Lead's name, phone, email and
  ``Telegram_User_Id__c`` (the lead field mapping an admin sets up for it).
"""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from simulators.salesforce.errors import ApiError
from simulators.salesforce.schema import OPPORTUNITY_STAGES as STAGES

CLOSED_STAGES = {"Closed Won": True, "Closed Lost": False}
"""Closed stages: whether each is won."""
LEAD_STATUSES = (("Open - Not Contacted", False), ("Working - Contacted", False),
                 ("Closed - Converted", True), ("Closed - Not Converted", False))
"""A new org's lead statuses: (value, IsConverted)."""
_COPIED = ("FirstName", "LastName", "Phone", "MobilePhone", "Email", "Telegram_User_Id__c")


def seed(store: Any, user_id: str) -> None:
    """A new org's lead statuses."""
    for order, (value, converted) in enumerate(LEAD_STATUSES, start=1):
        store.create("LeadStatus", {"MasterLabel": value, "ApiName": value,
                                    "IsConverted": converted, "IsDefault": order == 1,
                                    "SortOrder": order}, user_id, gated=False)


def derive(fields: dict[str, Any]) -> None:
    """An Opportunity's ``IsClosed`` and ``IsWon`` from its stage."""
    stage = fields.get("StageName")
    fields["IsClosed"] = stage in CLOSED_STAGES
    fields["IsWon"] = CLOSED_STAGES.get(str(stage), False)


def refuse_converted(store: Any, kind: Any, record: Any, values: dict[str, Any]) -> None:
    """A converted Lead is read-only, and no record may reference it: updating it, or writing
    its id into a lookup (a Task's or Event's ``WhoId``, a ``LinkedEntityId``), is
    ``CANNOT_UPDATE_CONVERTED_LEAD`` "cannot reference converted lead". Salesforce Help,
    "CANNOT_UPDATE_CONVERTED_LEAD" (article 000384333,
    https://help.salesforce.com/s/articleView?id=000384333&type=1): the error "indicates that
    you are trying to modify or update a lead that has been converted, or you are trying to
    reference the lead ID after it has been converted"; after conversion only
    ``ConvertedAccountId`` and ``ConvertedContactId`` may be referenced. A text field holding
    the id (as ``Case.Telecase_Lead__c`` does: Salesforce offers no custom lookup to Lead)
    references nothing. ``record``: the record being updated (``None``: created)."""
    if record is not None and kind.name == "Lead" and record.fields.get("IsConverted"):
        raise ApiError(400, "CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")
    for name, value in values.items():
        field = kind.fields.get(name)
        if field is None or field.type != "reference" or not value:
            continue
        lead = store.by_id(str(value))
        if lead is not None and lead.sobject == "Lead" and lead.fields.get("IsConverted"):
            raise ApiError(400, "CANNOT_UPDATE_CONVERTED_LEAD",
                           "cannot reference converted lead")


def convert_lead(store: Any, payload: bytes, user_id: str) -> tuple[int, str]:
    """``(HTTP status, XML)`` answering a SOAP ``convertLead`` request."""
    try:
        root = ElementTree.fromstring(payload)
    except ElementTree.ParseError:
        return 500, fault("INVALID_REQUEST", "the request is no XML")
    converts = [e for e in root.iter() if _local(e.tag) == "leadConverts"]
    if not any(_local(e.tag) == "convertLead" for e in root.iter()) or not converts:
        return 500, fault("INVALID_OPERATION", "only convertLead() is simulated here")
    results = "".join(_result(store, {_local(c.tag): c.text or "" for c in one}, user_id)
                      for one in converts)
    return 200, _ENVELOPE.format(body=f"<convertLeadResponse>{results}</convertLeadResponse>")


def _result(store: Any, given: dict[str, str], user_id: str) -> str:
    lead_id = given.get("leadId", "")
    depth = store.begin()
    try:
        ids = _convert(store, given, user_id)
    except ApiError as exc:
        store.rollback(depth)
        return (f"<result><errors><message>{escape(exc.message)}</message>"
                f"<statusCode>{exc.error_code}</statusCode></errors>"
                f"<leadId>{escape(lead_id)}</leadId><success>false</success></result>")
    store.release(depth)
    parts = "".join(f"<{k}>{v}</{k}>" if v else f'<{k} xsi:nil="true"/>'
                    for k, v in ids.items())
    return f"<result>{parts}<success>true</success></result>"


def _convert(store: Any, given: dict[str, str], user_id: str) -> dict[str, str | None]:
    lead = store.by_id(given.get("leadId", ""))
    if lead is None or lead.sobject != "Lead" or lead.deleted:
        raise ApiError(400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
    if lead.fields.get("IsConverted"):
        raise ApiError(400, "CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")
    status = given.get("convertedStatus", "")
    if not any(s.fields.get("IsConverted") and s.fields.get("MasterLabel") == status
               for s in store.all("LeadStatus")):
        raise ApiError(400, "INVALID_STATUS", f"invalid convertedStatus: {status}")
    fields = lead.fields
    account_id = given.get("accountId") or store.create("Account", {
        "Name": fields.get("Company") or fields.get("LastName")}, user_id).id
    contact_id = given.get("contactId") or store.create("Contact", {
        **{k: fields.get(k) for k in _COPIED if fields.get(k) is not None},
        "AccountId": account_id}, user_id).id
    opportunity_id = None
    if given.get("doNotCreateOpportunity", "false").lower() != "true":
        opportunity_id = store.create("Opportunity", {
            "Name": given.get("opportunityName") or fields.get("Company") or "Opportunity",
            "StageName": STAGES[0], "CloseDate": store.clock.stamp()[:10],
            "AccountId": account_id, "ContactId": contact_id}, user_id).id
    lead.fields.update({"IsConverted": True, "Status": status,
                        "ConvertedAccountId": account_id, "ConvertedContactId": contact_id,
                        "ConvertedOpportunityId": opportunity_id,
                        "ConvertedDate": store.clock.stamp()[:10]})
    return {"accountId": account_id, "contactId": contact_id, "leadId": lead.id,
            "opportunityId": opportunity_id}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


_ENVELOPE = ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
             'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
             'xmlns="urn:partner.soap.sforce.com" '
             'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
             '<soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>')


def session_of(payload: bytes) -> str:
    """The ``SessionHeader``'s ``sessionId`` of a SOAP request (empty: none)."""
    try:
        root = ElementTree.fromstring(payload)
    except ElementTree.ParseError:
        return ""
    return next((e.text or "" for e in root.iter() if _local(e.tag) == "sessionId"), "")


def fault(code: str, message: str) -> str:
    """A SOAP fault envelope (``sf:exceptionCode`` as the login's faults carry it)."""
    return _ENVELOPE.format(body=(
        f"<soapenv:Fault><faultcode>sf:{code}</faultcode>"
        f"<faultstring>{code}: {escape(message)}</faultstring><detail>"
        f'<sf:UnexpectedErrorFault xmlns:sf="urn:fault.partner.soap.sforce.com">'
        f"<sf:exceptionCode>{code}</sf:exceptionCode>"
        f"<sf:exceptionMessage>{escape(message)}</sf:exceptionMessage>"
        f"</sf:UnexpectedErrorFault></detail></soapenv:Fault>"))

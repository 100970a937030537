"""Custom notifications: the CustomNotificationType an admin creates and the standard invocable
action ``customNotificationAction`` that sends one to users' bells.

=======  ==================================================  ==================================
method   path under /services/data/vXX.X/                    answer
=======  ==================================================  ==================================
POST     tooling/sobjects/CustomNotificationType             201 {id, success, errors}
GET      actions/standard/customNotificationAction           the action's inputs
POST     actions/standard/customNotificationAction           one result per input (below)
=======  ==================================================  ==================================

**CustomNotificationType** (Tooling API, "CustomNotificationType", API 46.0+, supported calls
``create()``, ``query()``...: ``CustomNotifTypeName`` "unique within your organization.
Maximum number of characters: 80", ``DeveloperName`` the API name, ``MasterLabel``,
``Description`` (255), ``Desktop``/``Mobile`` "the delivery channel is enabled", default
false; https://developer.salesforce.com/docs/atlas.en-us.api_tooling.meta/api_tooling/tooling_api_objects_customnotificationtype.htm;
the same object is queryable with ordinary SOQL from API 47.0, Object Reference). The
simulator keeps it with the org's other records, so ``SELECT Id FROM CustomNotificationType
WHERE DeveloperName = '...'`` finds it through ``/query``; its fields are declared in
``schema`` (``_notification_objects``).

**customNotificationAction** (Actions Developer Guide, "Custom Notification Actions", API 46.0+,
https://developer.salesforce.com/docs/atlas.en-us.api_action.meta/api_action/actions_obj_custom_notification.htm):
the body is ``{"inputs": [{...}, ...]}``; each input has

- ``customNotifTypeId``: required, the Id of the notification type;
- ``recipientIds``: required, a list of UserId, AccountId (account teams), OpportunityId
  (team selling), GroupId or QueueId, "combined in a list up to the maximum of 500 values";
  a user receives it "if this user is active";
- ``title``: required, "Maximum characters: 250"; ``body``: required, "Maximum characters:
  750";
- ``targetId`` or ``targetPageRef``: "You must specify either a targetID or a targetPageRef";
- ``senderId`` optional.

The answer is one result per input, ``{"actionName": "customNotificationAction", "errors":
null | [{statusCode, message, fields}], "isSuccess", "outputValues": {"SuccessMessage": "Your
custom notification is processed successfully."} | null}`` (the documented success answer);
HTTP 200 when every input succeeded, else 400 with the same list. The error codes and texts
of refused inputs are a best guess (the guide documents none). Account teams and team selling
are not enabled in the simulated org, so Account and Opportunity ids are refused like any id
that is not a User, a Group or a Queue. What was sent is kept in :attr:`Notifications.sent`
(``GET /sim/notifications``).

**The "Send Custom Notifications" user permission** (the same guide,
https://developer.salesforce.com/docs/atlas.en-us.api_action.meta/api_action/actions_obj_custom_notification.htm:
"In orgs created in
Winter '21 or later, the Send Custom Notifications user permission is required to trigger the
Send Custom Notification action in flows that run in user context, REST API calls, and Apex
callouts"): a ``standard``-schema org is a new org, so the calling user needs a permission set
assigned with ``PermissionsSendCustomNotifications`` (PermissionSet's user permission fields
are named ``Permissions<Name>``; this one's name is a best guess from that pattern). Without
it the whole request is refused: HTTP 403, the REST API's status for "the logged-in user does
not have appropriate permissions", with the REST error envelope ``[{"errorCode":
"INSUFFICIENT_ACCESS", "message": ...}]`` (code and text a best guess: the guide documents no
answer). A ``telecase``-schema org is one set up for telecase (``telecase salesforce setup``
grants it), where every user has it, as every custom field is visible there.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from simulators.salesforce import ids
from simulators.salesforce.routing import ApiRequest, ApiResponse, resource
from simulators.salesforce.store import Store

if TYPE_CHECKING:
    from simulators.salesforce.org import Org

ACTION = "customNotificationAction"
RECIPIENTS_MAX = 500
TITLE_MAX = 250
BODY_MAX = 750
SUCCESS = "Your custom notification is processed successfully."
DUMMY_TARGET = "000000000000000AAA"
"""The placeholder target Salesforce accepts when a notification has no record (Apex
Reference, CustomNotification: "set the targetID to a dummy value, such as
000000000000000AAA")."""
_RECIPIENT_OBJECTS = frozenset({"User", "Group"})  # a Queue is a Group of Type "Queue"
_INPUTS = ("customNotifTypeId", "recipientIds", "title", "body")


@dataclass(frozen=True)
class SentNotification:
    """One notification the org accepted."""

    type_id: str
    recipient_ids: tuple[str, ...]
    delivered_to: tuple[str, ...]
    """The active users among the recipients (groups and queues as given)."""
    title: str
    body: str
    target_id: str | None
    target_page_ref: Any
    sender_id: str
    sent_at: str


class InputRefused(Exception):
    """One input of the action refused: ``status_code`` and ``message`` as answered."""

    def __init__(self, status_code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(message)
        self.status_code, self.message, self.fields = status_code, message, fields or []


class Notifications:
    """The action's effect on one org."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.sent: list[SentNotification] = []

    def send(self, given: Any, user_id: str) -> SentNotification:
        """Check one input as Salesforce does and keep what it sends (:class:`InputRefused`)."""
        if not isinstance(given, dict):
            raise InputRefused("INVALID_INPUT", "Each input must be a JSON object")
        missing = [name for name in _INPUTS if given.get(name) in (None, "", [])]
        if missing:
            raise InputRefused("REQUIRED_FIELD_MISSING",
                               f"Missing required input parameter: {missing[0]}", missing)
        if not given.get("targetId") and not given.get("targetPageRef"):
            raise InputRefused("REQUIRED_FIELD_MISSING",
                               "You must specify either a targetId or a targetPageRef",
                               ["targetId", "targetPageRef"])
        type_id = str(given["customNotifTypeId"])
        kind = self.store.by_id(type_id)
        if kind is None or kind.deleted or kind.sobject != "CustomNotificationType":
            raise InputRefused("INVALID_ARGUMENT",
                               f"Invalid custom notification type ID: {type_id}",
                               ["customNotifTypeId"])
        recipients = given["recipientIds"]
        recipients = [recipients] if isinstance(recipients, str) else list(recipients)
        if len(recipients) > RECIPIENTS_MAX:
            raise InputRefused("LIMIT_EXCEEDED", f"You can't send a custom notification to "
                               f"more than {RECIPIENTS_MAX} recipients", ["recipientIds"])
        delivered = tuple(self._recipient(str(r)) for r in recipients)
        title, body = str(given["title"]), str(given["body"])
        for name, text, most in (("title", title, TITLE_MAX), ("body", body, BODY_MAX)):
            if len(text) > most:
                raise InputRefused("STRING_TOO_LONG", f"{name}: data value too large (max "
                                   f"length={most})", [name])
        target = given.get("targetId")
        if target and self.store.by_id(str(target)) is None and str(target) != DUMMY_TARGET:
            raise InputRefused("INVALID_ID_FIELD", f"Invalid targetId: {target}", ["targetId"])
        sent = SentNotification(
            type_id=kind.id, recipient_ids=tuple(str(r) for r in recipients),
            delivered_to=tuple(d for d in delivered if d), title=title, body=body,
            target_id=str(target) if target else None,
            target_page_ref=given.get("targetPageRef"),
            sender_id=str(given.get("senderId") or user_id), sent_at=self.store.clock.stamp())
        self.sent.append(sent)
        return sent

    def _recipient(self, recipient_id: str) -> str:
        """The id delivered to ('' for an inactive user); refuses other kinds of id."""
        record = self.store.by_id(recipient_id) if ids.normalize(recipient_id) else None
        if record is None or record.deleted or record.sobject not in _RECIPIENT_OBJECTS:
            raise InputRefused("INVALID_ARGUMENT",
                               f"Invalid recipient ID: {recipient_id}. A recipient must be a "
                               "user, group, queue, account or opportunity ID",
                               ["recipientIds"])
        if record.sobject == "User" and not record.fields.get("IsActive", True):
            return ""
        return record.id


def _result(sent: SentNotification | None, refused: InputRefused | None) -> dict[str, Any]:
    if refused is not None:
        return {"actionName": ACTION, "isSuccess": False, "outputValues": None,
                "errors": [{"statusCode": refused.status_code, "message": refused.message,
                            "fields": refused.fields}]}
    return {"actionName": ACTION, "isSuccess": True, "errors": None,
            "outputValues": {"SuccessMessage": SUCCESS}}


def sent_json(sent: SentNotification) -> dict[str, Any]:
    return asdict(sent)


# -- REST resources -------------------------------------------------------------------------

@resource("POST", "tooling/sobjects/CustomNotificationType")
def create_notification_type(org: Org, req: ApiRequest, _: dict[str, str]) -> ApiResponse:
    record = org.store.create("CustomNotificationType", req.json_object(), req.user_id)
    return ApiResponse(201, {"id": record.id, "success": True, "errors": [], "warnings": [],
                             "infos": []})


@resource("GET", "actions/standard/customNotificationAction")
def describe_action(org: Org, req: ApiRequest, _: dict[str, str]) -> ApiResponse:
    def one(name: str, kind: str, required: bool) -> dict[str, Any]:
        return {"name": name, "type": kind, "required": required}

    return ApiResponse(200, {"name": ACTION, "type": "CUSTOM_NOTIFICATION_ACTION",
                             "label": "Send Custom Notification", "inputs": [
                                 one("customNotifTypeId", "REFERENCE", True),
                                 one("recipientIds", "REFERENCE", True),
                                 one("senderId", "REFERENCE", False),
                                 one("title", "STRING", True), one("body", "STRING", True),
                                 one("targetId", "REFERENCE", False),
                                 one("targetPageRef", "STRING", False)]})


PERMISSION = "PermissionsSendCustomNotifications"
NO_PERMISSION = ("You don't have permission to send custom notifications. Ask your "
                 "administrator for the Send Custom Notifications permission.")  # best guess


def may_send(org: Org, user_id: str) -> bool:
    """Whether ``user_id`` has the Send Custom Notifications permission (see the module)."""
    if not org.strict:
        return True
    store = org.store
    sets = {a.fields.get("PermissionSetId") for a in store.all("PermissionSetAssignment")
            if a.fields.get("AssigneeId") == user_id}
    return any(p.id in sets and p.fields.get(PERMISSION) for p in store.all("PermissionSet"))


@resource("POST", "actions/standard/customNotificationAction")
def send_notifications(org: Org, req: ApiRequest, _: dict[str, str]) -> ApiResponse:
    if not may_send(org, req.user_id):
        return ApiResponse(403, [{"errorCode": "INSUFFICIENT_ACCESS",
                                  "message": NO_PERMISSION}])
    inputs = req.json_object().get("inputs")
    if not isinstance(inputs, list) or not inputs:
        return ApiResponse(400, [{"errorCode": "JSON_PARSER_ERROR",  # text: best guess
                                  "message": "The request must have a list of inputs"}])
    results = []
    for given in inputs:
        try:
            results.append(_result(org.notifications.send(given, req.user_id), None))
        except InputRefused as refused:
            results.append(_result(None, refused))
    ok = all(r["isSuccess"] for r in results)
    return ApiResponse(200 if ok else 400, results)

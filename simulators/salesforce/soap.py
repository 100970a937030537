"""The SOAP ``login()`` call of the Partner API: ``POST /services/Soap/u/<version>``.

This is what simple-salesforce's username + password + security token login posts: an
envelope whose body holds ``<login><username/><password/></login>`` (the password followed by
the security token). A good login answers 200 with a ``loginResponse`` carrying
``serverUrl`` (``{instance}/services/Soap/u/<version>/<orgId>``; simple-salesforce keeps
only its host), ``sessionId``, ``userId`` and ``userInfo``. A bad one answers 500 with a SOAP
fault whose ``sf:exceptionCode`` is ``INVALID_LOGIN``, which simple-salesforce turns into
``SalesforceAuthenticationFailed``.
"""

from __future__ import annotations

from xml.etree import ElementTree
from xml.sax.saxutils import escape

from simulators.salesforce.auth import Auth

_ENVELOPE = ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
             'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
             'xmlns="urn:partner.soap.sforce.com" '
             'xmlns:sf="urn:fault.partner.soap.sforce.com" '
             'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
             '<soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>')


def login(auth: Auth, payload: bytes, *, version: str, instance_url: str,
          user_name: str, user_email: str) -> tuple[int, str]:
    """``(HTTP status, XML)`` answering a SOAP login request."""
    username, password = _credentials(payload)
    user = None
    if username is not None and password is not None:
        user = auth.check_password(username, password)
    if user is None:
        return 500, _fault("INVALID_LOGIN", "Invalid username, password, security token; "
                           "or user locked out.")
    session_id = auth.open_session(user.user_id)
    server = f"{instance_url}/services/Soap/u/{version}/{auth.org_id}"
    body = (
        "<loginResponse><result>"
        f"<metadataServerUrl>{instance_url}/services/Soap/m/{version}/{auth.org_id}"
        "</metadataServerUrl><passwordExpired>false</passwordExpired><sandbox>false</sandbox>"
        f"<serverUrl>{escape(server)}</serverUrl><sessionId>{escape(session_id)}</sessionId>"
        f"<userId>{user.user_id}</userId><userInfo>"
        f"<organizationId>{auth.org_id}</organizationId>"
        "<organizationName>telecase simulated org</organizationName>"
        f"<userEmail>{escape(user_email)}</userEmail>"
        f"<userFullName>{escape(user_name)}</userFullName><userId>{user.user_id}</userId>"
        f"<userName>{escape(user.username)}</userName><userTimeZone>UTC</userTimeZone>"
        "<userType>Standard</userType></userInfo></result></loginResponse>")
    return 200, _ENVELOPE.format(body=body)


# SOAP API Developer Guide, login(): "It is disabled by default for orgs created in Winter '26
# and later. To enable it, go to User Interface in Setup and select Enable SOAP API login()"
# (https://developer.salesforce.com/docs/platform/api/guide/sforce-api-calls-login.html).
# The fault's code and text as clients report them (OpenFn/adaptors#1715).
DISABLED = ("INVALID_OPERATION", "SOAP API login() is disabled by default in this org. Contact "
            "the org administrator to enable SOAP API login().")
# "SOAP API login() is not available in API versions 65.0 and later" (Platform SOAP API login()
# Retirement, https://help.salesforce.com/s/articleView?id=005132110&type=1); the fault as
# reported in forcedotcom/wsc#363.
LAST_SOAP_LOGIN_VERSION = 64.0


def refusal(version: str, *, enabled: bool, strict: bool) -> tuple[int, str] | None:
    """The 500 fault answering a login() the org refuses before reading credentials:
    disabled for the org, or (in an org with the standard schema, where everything follows
    the current release) an API version from 65.0 on."""
    if not enabled:
        return 500, _fault(*DISABLED, fault_type="UnexpectedErrorFault")
    try:
        too_new = float(version) > LAST_SOAP_LOGIN_VERSION
    except ValueError:
        too_new = False
    if strict and too_new:
        return 500, _fault("INVALID_OPERATION", "The SOAP Login operation is not available in "
                           f"the API version specified ({version}). Refer to the "
                           "documentation for supported versions.",
                           fault_type="UnexpectedErrorFault")
    return None


def fault_of(xml: str) -> tuple[str | None, str | None]:
    """``(exceptionCode, exceptionMessage)`` of a fault envelope."""
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError:
        return None, None
    found = {e.tag.rsplit("}", 1)[-1]: e.text for e in root.iter()}
    return found.get("exceptionCode"), found.get("exceptionMessage")


def _credentials(payload: bytes) -> tuple[str | None, str | None]:
    try:
        root = ElementTree.fromstring(payload)
    except ElementTree.ParseError:
        return None, None
    username = password = None
    for element in root.iter():
        local = element.tag.rsplit("}", 1)[-1]
        if local == "username":
            username = element.text or ""
        elif local == "password":
            password = element.text or ""
    return username, password


def _fault(code: str, message: str, *, fault_type: str = "LoginFault") -> str:
    body = (f"<soapenv:Fault><faultcode>sf:{code}</faultcode>"
            f"<faultstring>{code}: {escape(message)}</faultstring><detail>"
            f'<sf:{fault_type} xsi:type="sf:{fault_type}">'
            f"<sf:exceptionCode>{code}</sf:exceptionCode>"
            f"<sf:exceptionMessage>{escape(message)}</sf:exceptionMessage>"
            f"</sf:{fault_type}></detail></soapenv:Fault>")
    return _ENVELOPE.format(body=body)

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


def _fault(code: str, message: str) -> str:
    body = (f"<soapenv:Fault><faultcode>sf:{code}</faultcode>"
            f"<faultstring>{code}: {escape(message)}</faultstring><detail>"
            '<sf:LoginFault xsi:type="sf:LoginFault">'
            f"<sf:exceptionCode>{code}</sf:exceptionCode>"
            f"<sf:exceptionMessage>{escape(message)}</sf:exceptionMessage>"
            "</sf:LoginFault></detail></soapenv:Fault>")
    return _ENVELOPE.format(body=body)

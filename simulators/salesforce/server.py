"""The simulator as a real HTTPS server (aiohttp): Salesforce's REST API, logins and ``/sim``.

=============================================  ==============================================
path                                           what
=============================================  ==============================================
POST /services/oauth2/token                    OAuth password, JWT bearer, client credentials
POST /services/Soap/u/<version>                SOAP ``login()`` (simple-salesforce's default)
GET  /services/data                            the API versions (no session needed)
*    /services/data/vXX.X/...                  the REST API (``rest_api``, ``composite``)
GET  /id/<orgId>/<userId>                      the identity URL of a token answer
*    /sim/...                                  the driver (``sim_api``)
=============================================  ==============================================

A REST call goes through, in order: injected latency, an injected outage (503 before
anything else), the version check (404), the session check (401 ``INVALID_SESSION_ID``),
the daily allocation (403 ``REQUEST_LIMIT_EXCEEDED``; else counted), then its resource.
Every answer that got past the session check carries ``Sforce-Limit-Info``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from simulators.salesforce import (
    composite,
    replication,
    rest_api,
    sales,
    security,
    sim_api,
    soap,
    sosl,
    tooling,
)
from simulators.salesforce.errors import (
    ApiError,
    OAuthError,
    json_parser_error,
    not_found,
)
from simulators.salesforce.org import IntegrationLogin, Org
from simulators.salesforce.request_log import LoggedCall, error_of
from simulators.salesforce.routing import ApiRequest, ApiResponse, dispatch
from simulators.salesforce.tls import CertificatePaths, ensure_certificates

log = logging.getLogger("telecase.bootstrap.salesforce.simulator")
_JSON = "application/json"
_REGISTERED = (composite, replication, rest_api, sosl, tooling)  # importing registers resources


class SalesforceSimulator:
    """A faithful, in-process Salesforce org reachable over HTTPS."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, api_version: str = "68.0",
                 daily_api_limit: int = 15000, tls: bool = True,
                 clock: Callable[[], float] = time.time, cert_dir: str | Path | None = None,
                 session_ttl: float = 7200.0, require_security_token: bool = True,
                 login: IntegrationLogin | None = None, schema: str = "telecase",
                 soap_login: bool = True, my_domain: str | None = None,
                 jwt_certificate: str | None = None, client_credentials: bool = False,
                 case_assignment_queue: str | None = None,
                 case_field_history: bool = True) -> None:
        """``cert_dir`` keeps the generated CA and server certificate (reused while valid);
        without it they go to a temporary directory removed by :meth:`stop`.
        ``session_ttl`` is the idle time after which a session expires.

        The org's configuration, as an admin would have set it up:

        - ``schema``: ``"telecase"`` (default: telecase's fields pre-created, any ``__c``
          accepted, no field-level security) or ``"standard"`` (only Salesforce's standard
          schema; custom fields created through the Tooling API and visible only when a
          permission set grants them; field lengths; Case Origin restricted; SOAP
          ``login()`` refused from API version 65.0).
        - ``soap_login``: whether SOAP ``login()`` is enabled (orgs created from Winter '26
          have it disabled).
        - ``my_domain``: e.g. ``"acme.my"``; its URL is a valid JWT audience and the host the
          client credentials flow must use.
        - ``jwt_certificate``: PEM certificate (or public key) uploaded to the integration
          app for the JWT bearer flow.
        - ``client_credentials``: enable the client credentials flow, run as the integration
          user.
        - ``case_assignment_queue``: an active Case assignment rule sending every Case to a
          new queue of that name (see :attr:`assignment_owner_id`).
        - ``case_field_history``: field history tracking on for the Case's Status and Owner
          (``CaseHistory`` rows, see ``history``); ``False``: off."""
        self.org = Org(api_version=api_version, daily_api_limit=daily_api_limit, clock=clock,
                       session_ttl=session_ttl, require_security_token=require_security_token,
                       login=login, schema=schema, soap_login=soap_login,
                       my_domain=my_domain, jwt_certificate=jwt_certificate,
                       client_credentials=client_credentials,
                       case_assignment_queue=case_assignment_queue,
                       case_field_history=case_field_history)
        self.host = host
        self.port = port
        self.tls = tls
        self._cert_dir = Path(cert_dir) if cert_dir is not None else None
        self._temp: tempfile.TemporaryDirectory[str] | None = None
        self._certs: CertificatePaths | None = None
        self._runner: web.AppRunner | None = None
        self.on_write: Callable[[], None] | None = None
        """Called after every request that may have changed the org (any method but GET and
        HEAD that was answered), before the answer goes out: an embedding program that keeps
        the org on disk does so before the client hears of the change, as a real org stores
        a record before it answers (no answered write is lost with the process)."""

    # -- where and who -------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``https://host:port``: the instance URL and the login host."""
        if self._runner is None:
            raise RuntimeError("the simulator is not started")
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def ca_file(self) -> str:
        """Path of the PEM CA certificate clients must trust."""
        if self._certs is None:
            raise RuntimeError("no certificates: the simulator is not started (or tls=False)")
        return str(self._certs.ca_file)

    @property
    def api_version(self) -> str:
        return self.org.api_version

    @property
    def username(self) -> str:
        return self.org.login.username

    @property
    def password(self) -> str:
        return self.org.login.password

    @property
    def security_token(self) -> str:
        return self.org.login.security_token

    @property
    def consumer_key(self) -> str:
        return self.org.login.consumer_key

    @property
    def consumer_secret(self) -> str:
        return self.org.login.consumer_secret

    @property
    def integration_user_id(self) -> str:
        return self.org.integration_user_id

    @property
    def agent_user_id(self) -> str:
        return self.org.agent_user_id

    @property
    def assignment_owner_id(self) -> str | None:
        """The owner the active Case assignment rule gives (``None``: no active rule)."""
        return self.org.store.case_assignment_owner

    def refused_calls(self) -> list[dict[str, Any]]:
        """Every call the org refused so far (see ``request_log``)."""
        return [c.as_dict() for c in self.org.log.refused()]

    # -- lifecycle -----------------------------------------------------------------------

    def app(self) -> web.Application:
        """The aiohttp application (for embedding in another server or an aiohttp test)."""
        app = web.Application(client_max_size=16 * 1024 * 1024,
                              middlewares=[self._after_write])
        sim_api.add_routes(app, self.org)
        app.router.add_route("POST", "/services/oauth2/token", self._token)
        app.router.add_route("POST", "/services/Soap/u/{version}", self._soap_login)
        app.router.add_route("POST", "/services/Soap/u/{version}/{org_id}", self._soap_call)
        app.router.add_route("*", "/services/data", self._versions)
        app.router.add_route("*", "/services/data/", self._versions)
        app.router.add_route("*", "/services/data/{tail:.+}", self._rest)
        app.router.add_route("GET", "/id/{org_id}/{user_id}", self._identity)
        app.router.add_route("*", "/services/oauth2/userinfo", self._userinfo)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        return app

    @web.middleware
    async def _after_write(self, request: web.Request, handler: Any) -> web.StreamResponse:
        response: web.StreamResponse = await handler(request)
        if self.on_write is not None and request.method not in ("GET", "HEAD"):
            self.on_write()
        return response

    async def start(self) -> None:
        """Bind and serve; ``port=0`` picks a free port (see :attr:`base_url`)."""
        if self._runner is not None:
            raise RuntimeError("the simulator is already started")
        context = None
        if self.tls:
            folder = self._cert_dir
            if folder is None:
                self._temp = tempfile.TemporaryDirectory(prefix="sf-simulator-")
                folder = Path(self._temp.name)
            self._certs = await asyncio.to_thread(ensure_certificates, folder, self.host)
            context = self._certs.server_context()
        runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, ssl_context=context)
        await site.start()
        sockets = [s for s in runner.addresses if isinstance(s, tuple)]
        self.port = int(sockets[0][1]) if sockets else self.port
        self._runner = runner
        self.org.instance_url = self.base_url
        log.info("salesforce_simulator.started", extra={"base_url": self.base_url})

    async def stop(self) -> None:
        """Close the server. Connections a client keeps alive are cut (a TLS close would
        otherwise wait for the client's answer), so nothing outlives the simulator."""
        if self._runner is not None:
            server = self._runner.server
            transports = [h.transport for h in (server.connections if server else [])
                          if h.transport is not None]
            await self._runner.cleanup()
            self._runner = None
            for transport in transports:
                transport.abort()
            await asyncio.sleep(0)
        if self._temp is not None:
            self._temp.cleanup()
            self._temp = None
            self._certs = None

    async def __aenter__(self) -> SalesforceSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- logins --------------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.StreamResponse:
        blocked = await self._faults("auth")
        if blocked is not None:
            return blocked
        form = {**_basic_credentials(request.headers.get("Authorization")), **request.query,
                **{k: str(v) for k, v in (await request.post()).items()}}
        audiences = {self.base_url} | ({self.org.my_domain_url} if self.org.my_domain_url
                                       else set())
        try:
            answer = self.org.auth.token(form, self.base_url, host=request.host,
                                         audiences=audiences)
        except OAuthError as exc:
            self._log(request, exc.status, None, exc.error, exc.description)
            return _json(exc.status, exc.body())
        self._log(request, 200, None)
        return _json(200, answer)

    async def _soap_login(self, request: web.Request) -> web.StreamResponse:
        if sales.session_of(await request.read()):  # a call in a session, not a login
            return await self._soap_call(request)
        blocked = await self._faults("auth")
        if blocked is not None:
            return blocked
        version = request.match_info["version"]
        user_name, user_email = self.org.display_name(self.org.integration_user_id)
        refusal = soap.refusal(version, enabled=self.org.soap_login, strict=self.org.strict)
        if refusal is not None:
            status, xml = refusal
        else:
            status, xml = soap.login(self.org.auth, await request.read(), version=version,
                                     instance_url=self.base_url, user_name=user_name,
                                     user_email=user_email)
        code, message = soap.fault_of(xml) if status != 200 else (None, None)
        self._log(request, status, None, code, message)
        return web.Response(status=status, text=xml, content_type="text/xml", charset="utf-8")

    async def _soap_call(self, request: web.Request) -> web.StreamResponse:
        """A SOAP call on the login's ``serverUrl`` with the session in its ``SessionHeader``:
        ``convertLead()`` (``sales``); an unknown session answers ``INVALID_SESSION_ID``."""
        blocked = await self._faults("api")
        if blocked is not None:
            return blocked
        payload = await request.read()
        try:
            user_id = self.org.auth.authenticate(f"Bearer {sales.session_of(payload)}")
        except ApiError as exc:
            status, xml = 500, sales.fault(exc.error_code, exc.message)
        else:
            status, xml = sales.convert_lead(self.org.store, payload, user_id)
        code, message = soap.fault_of(xml) if status != 200 else (None, None)
        self._log(request, status, None, code, message)
        return web.Response(status=status, text=xml, content_type="text/xml", charset="utf-8")

    async def _userinfo(self, request: web.Request) -> web.StreamResponse:
        """The OpenID Connect UserInfo endpoint (GET or POST with the access token): who the
        token belongs to ("Query for User Information",
        https://help.salesforce.com/HTViewHelpDoc?id=remoteaccess_using_userinfo_endpoint.htm).
        An invalid token answers 403 (the error shape is the REST API's)."""
        try:
            user_id = self.org.auth.authenticate(request.headers.get("Authorization"))
        except ApiError as exc:
            return _json(403, exc.body())
        user = self.org.store.by_id(user_id)
        fields = user.fields if user is not None else {}
        return _json(200, {"sub": self.org.auth.identity_url(self.base_url, user_id),
                           "user_id": user_id, "organization_id": self.org.org_id,
                           "preferred_username": fields.get("Username"),
                           "name": fields.get("Name"), "email": fields.get("Email"),
                           "user_type": "STANDARD", "active": True})

    async def _identity(self, request: web.Request) -> web.StreamResponse:
        try:
            user_id = self.org.auth.authenticate(request.headers.get("Authorization"))
        except ApiError as exc:
            return _json(exc.status, exc.body())
        user = self.org.store.by_id(request.match_info["user_id"])
        if user is None or user.id != user_id or request.match_info["org_id"] != self.org.org_id:
            return _json(403, [{"errorCode": "Bad_Id", "message": "Bad_Id"}])
        fields = user.fields
        return _json(200, {"id": self.org.auth.identity_url(self.base_url, user.id),
                           "user_id": user.id, "organization_id": self.org.org_id,
                           "username": fields.get("Username"), "display_name": fields.get("Name"),
                           "email": fields.get("Email"), "active": True,
                           "user_type": "STANDARD", "urls": {
                               "rest": f"{self.base_url}/services/data/v{{version}}/"}})

    # -- the REST API --------------------------------------------------------------------

    async def _versions(self, request: web.Request) -> web.StreamResponse:
        return _json(200, self.org.versions())

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        blocked = await self._faults("api")
        if blocked is not None:
            return blocked
        raw = request.rel_url.raw_path.split("/")[3:]
        segments = [unquote(s) for s in raw]
        version_segment = segments[0] if segments else ""
        version = version_segment[1:]
        if version_segment.startswith("v") and self.org.retired(version):
            # 410 GONE for a retired version (org.MIN_VERSION cites the page); the body's
            # errorCode and text are a best guess: the page names only the status
            return _json(410, [{"errorCode": "GONE",
                                "message": f"API version {version} is retired"}])
        if not version_segment.startswith("v") or not self.org.supports(version):
            return _json(404, not_found().body())
        try:
            user_id = self.org.auth.authenticate(request.headers.get("Authorization"))
        except ApiError as exc:
            self._log(request, exc.status, None, exc.error_code, exc.message)
            return _json(exc.status, exc.body())
        limits = self.org.limits
        if not limits.consume():
            error = ApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            self._log(request, error.status, user_id, error.error_code, error.message)
            return _json(error.status, error.body(), limit=limits.header())
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            api_request = ApiRequest(request.method, segments[1:], version, user_id,
                                     dict(request.query), await _read_json(request), headers)
            with security.scope(self.org.access(user_id, headers)):
                response = dispatch(self.org, api_request)
        except ApiError as exc:
            response = ApiResponse(exc.status, exc.body())
        self._log(request, response.status, user_id, *error_of(response.body))
        return _answer(response, limits.header())

    def _log(self, request: web.Request, status: int, user_id: str | None,
             code: str | None = None, message: str | None = None) -> None:
        refused = status >= 400
        self.org.log.add(LoggedCall(self.org.clock.stamp(), request.method,
                                    request.rel_url.raw_path, status, user_id,
                                    code if refused else None, message if refused else None))

    async def _faults(self, kind: str) -> web.Response | None:
        faults = self.org.faults
        if faults.latency > 0:
            await asyncio.sleep(faults.latency)
        outage = faults.outage_for(kind)
        return None if outage is None else _json(outage.status, outage.body())

    async def _not_found(self, request: web.Request) -> web.StreamResponse:
        return _json(404, not_found().body())


def _basic_credentials(authorization: str | None) -> dict[str, str]:
    """``client_id``/``client_secret`` from ``Authorization: Basic`` (RFC 6749 2.3.1
    client_secret_basic; simple-salesforce sends the client credentials flow's this way)."""
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return {}
    try:
        client_id, _, secret = base64.b64decode(encoded.strip()).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return {}
    return {"client_id": unquote(client_id), "client_secret": unquote(secret)}


async def _read_json(request: web.Request) -> Any:
    if not request.can_read_body:
        return None
    text = (await request.read()).decode("utf-8", errors="replace")
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise json_parser_error(f"Unexpected character ('{text[exc.pos:exc.pos + 1]}' (code "
                                f"{ord(text[exc.pos]) if exc.pos < len(text) else -1})): "
                                f"expected a valid value at [line:{exc.lineno}, column:"
                                f"{exc.colno}]") from exc


def _answer(response: ApiResponse, limit: str) -> web.Response:
    blob = response.body if isinstance(response.body, bytes) else None  # sObject Blob Get
    if response.status == 204 or response.body is None or blob is not None:
        answer = web.Response(status=response.status, body=blob)
        answer.headers.update(response.headers)
        answer.headers["Sforce-Limit-Info"] = limit
        return answer
    return _json(response.status, response.body, limit=limit, headers=response.headers)


def _json(status: int, body: Any, *, limit: str | None = None,
          headers: dict[str, str] | None = None) -> web.Response:
    answer = web.Response(status=status, text=json.dumps(body, ensure_ascii=False),
                          content_type=_JSON, charset="UTF-8")
    answer.headers.update(headers or {})
    if limit is not None:
        answer.headers["Sforce-Limit-Info"] = limit
    return answer

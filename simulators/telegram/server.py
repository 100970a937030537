"""The simulator as a real HTTP server (aiohttp): the Bot API plus the driver's ``/sim``.

``POST|GET {base_url}/bot{token}/{method}`` answers like ``api.telegram.org``: a wrong token is
401 ``Unauthorized``, an unknown method or path 404 ``Not Found``, errors carry HTTP status ==
``error_code``. Armed faults and latency (see ``faults``) apply to Bot API calls only, before
the token is even looked at, as an outage in front of the real API would.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from simulators.telegram import bot_api, files, sim_api
from simulators.telegram.errors import BotApiError, not_found, unauthorized
from simulators.telegram.params import read_params
from simulators.telegram.ratelimit import RateLimits
from simulators.telegram.state import Simulation
from simulators.telegram.webhook import RetryPolicy

log = logging.getLogger("telecase.telegram.simulator")


class BotApiSimulator:
    """A faithful, in-process Telegram Bot API for one bot, reachable over HTTP."""

    def __init__(self, token: str, *, host: str = "127.0.0.1", port: int = 0,
                 limits: RateLimits | None = None, webhook_retry: RetryPolicy | None = None,
                 first_update_id: int = 1, bot_name: str = "Telecase Desk",
                 bot_username: str = "telecase_desk_bot",
                 wall_clock: Callable[[], float] = time.time, id_offset: int = 0) -> None:
        """``wall_clock`` gives the unix time put in ``date``/``edit_date`` fields; the flood
        limits have their own clock in ``RateLimits.clock``."""
        self.sim = Simulation(token, limits=limits, webhook_retry=webhook_retry,
                              first_update_id=first_update_id, bot_name=bot_name,
                              bot_username=bot_username, wall_clock=wall_clock,
                              id_offset=id_offset)
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    @property
    def bot(self) -> dict[str, Any]:
        """The bot's ``User`` object (``getMe``)."""
        return self.sim.bot

    @property
    def token(self) -> str:
        return self.sim.token

    @property
    def base_url(self) -> str:
        """``http://host:port``; the Bot API is at ``{base_url}/bot{token}/{method}``."""
        if self._runner is None:
            raise RuntimeError("the simulator is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """``{base_url}/bot{token}``, the prefix of every Bot API method."""
        return f"{self.base_url}/bot{self.token}"

    def app(self) -> web.Application:
        """The aiohttp application (for embedding in another server or an aiohttp test)."""
        app = web.Application()
        sim_api.add_routes(app, self.sim)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_bot_api)
        app.router.add_route("GET", "/file/bot{token}/{path:.+}", files.download_route(self.sim))
        app.router.add_route("*", "/{tail:.*}", _not_found)
        return app

    async def start(self) -> None:
        """Bind and serve; ``port=0`` picks a free port (see :attr:`base_url`)."""
        if self._runner is not None:
            raise RuntimeError("the simulator is already started")
        self.sim.queue.open()
        runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        sockets = [s for s in runner.addresses if isinstance(s, tuple)]
        self.port = int(sockets[0][1]) if sockets else self.port
        self._runner = runner
        log.info("simulator.started", extra={"base_url": self.base_url})

    async def stop(self) -> None:
        """Stop webhook delivery, release long polls, close the server."""
        await self.sim.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> BotApiSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _handle_bot_api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        faults = self.sim.faults
        if faults.latency > 0:
            await asyncio.sleep(faults.latency)
        injected = faults.failure_for(method)
        if injected is not None:
            return injected
        params: dict[str, Any] = {}
        try:
            if request.match_info["token"] != self.sim.token:
                raise unauthorized()
            handler = bot_api.METHODS.get(method.lower())
            if handler is None:
                raise not_found()
            read = await read_params(request)
            params = read.raw
            if method.lower() not in _OWN_LIMITS:
                self.sim.limiter.acquire_call(method, read.raw.get("chat_id"))
            result = await handler(self.sim, read)
        except BotApiError as exc:
            self._record(method, params, exc.envelope())
            return _error(exc)
        body: dict[str, Any] = {"ok": True}
        if isinstance(result, bot_api.Described):
            body |= {"result": result.result, "description": result.description}
        else:
            body["result"] = result
        self._record(method, params, body)
        return web.json_response(body, dumps=_dumps)

    def _record(self, method: str, params: dict[str, Any], answer: dict[str, Any]) -> None:
        self.sim.calls.append({"method": method, "params": params,
                               "answer": json.loads(_dumps(answer))})


_OWN_LIMITS = frozenset({"sendmessage", "getupdates", "getme", "getwebhookinfo"})
"""Methods outside ``RateLimiter.acquire_call``: sendMessage has the documented message
limits (checked where it sends); a long poll and the two reads (getMe, getWebhookInfo, which
tests poll in loops) are not flood-limited here."""


async def _not_found(request: web.Request) -> web.StreamResponse:
    return _error(not_found())


def _error(exc: BotApiError) -> web.Response:
    return web.json_response(exc.envelope(), status=exc.error_code, dumps=_dumps)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

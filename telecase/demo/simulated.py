"""The demo's simulated world for ``telecase run --demo``: a Telegram whose customers write to
telecase's real webhook, and a Salesforce org where a demo agent answers now and then.

This is the one place ``telecase run`` reaches into ``simulators/`` (the import rule in
``pyproject.toml`` allows ``telecase.demo`` and nothing else in production). The world of
earlier runs on the same data directory (:mod:`telecase.demo.world`) is put back first, so a
restarted demo continues the same chats, topics, Cases and agents.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from simulators.salesforce import SalesforceDriver, SalesforceSimulator
from simulators.telegram import BotApiSimulator, SimulatorDriver
from streams.assignment.policy import AssignmentPolicy
from telecase.demo import policy as demo_policy
from telecase.demo import world as demo_world
from telecase.demo.traffic import DemoSummary, customers
from telecase.settings import Settings

DEMO_TOKEN = "7000000001:demo-token"
DEMO_BOT_ID = int(DEMO_TOKEN.split(":")[0])

Closer = Callable[[], Awaitable[Any]]


async def start_telegram(world: demo_world.DemoWorld, *, webhook_url: str, secret: str,
                         closers: list[Closer]) -> str:
    """Start the simulated Telegram (the chats of earlier runs in ``world``), pointed at
    telecase's webhook; returns its Bot API base URL. Its stop joins ``closers``."""
    # ids no earlier demo run on this data used, so a restarted demo never collides
    offset = int(time.time() * 10) % 100_000_000
    sim = BotApiSimulator(DEMO_TOKEN, first_update_id=offset, id_offset=offset)
    if world.telegram is not None:  # the chats, topics and customers of earlier runs
        sim.sim.world = world.telegram
    world.telegram = sim.sim.world
    await sim.start()
    closers.append(sim.stop)
    async with httpx.AsyncClient() as http:
        await http.post(f"{sim.base_url}/bot{DEMO_TOKEN}/setWebhook",
                        json={"url": webhook_url, "secret_token": secret})
    return str(sim.base_url)


@dataclass
class Customers:
    """The simulated customers writing in, until :meth:`stop`."""

    stop_event: asyncio.Event
    task: asyncio.Task[None]
    driver: SimulatorDriver

    async def stop(self) -> None:
        self.stop_event.set()
        await self.task

    async def close(self) -> None:
        await self.stop()
        await self.driver.aclose()


def start_customers(base_url: str, world: demo_world.DemoWorld, summary: DemoSummary,
                    closers: list[Closer]) -> Customers:
    """Customers who open topics, write, edit and close them (continuing earlier runs')."""
    assert world.telegram is not None, "start_telegram first"
    forum, topics = demo_world.open_topics(world.telegram)
    driver = SimulatorDriver(base_url)
    stop = asyncio.Event()
    task = asyncio.create_task(customers(driver, summary, stop, random.Random(), forum=forum,
                                         topics=topics, known=len(world.telegram.users)))
    running = Customers(stop, task, driver)
    closers.append(running.close)
    return running


async def start_org(settings: Settings, closers: list[Closer],
                    world: demo_world.DemoWorld | None = None) -> Settings:
    """A simulated Salesforce org for the demo (the one of earlier runs kept in ``world``),
    where a demo agent answers now and then, and settings that log in to it (polling for
    agents' changes every 2 s, to be seen quickly)."""
    sim = SalesforceSimulator(cert_dir=Path(settings.data_dir) / "salesforce-simulator")
    if world is not None:
        # the org is on disk before an answer tells telecase of a change, as a real org's
        # data is: a demo killed right after a Case was made finds that Case after a restart
        kept = world
        sim.on_write = lambda: demo_world.save(settings.data_dir, kept)
    world = world or demo_world.DemoWorld()
    if world.salesforce is not None:
        sim.org = world.salesforce
    world.salesforce = sim.org
    await sim.start()
    agent_stop = asyncio.Event()
    agent = asyncio.create_task(demo_agent(sim.base_url, sim.ca_file, agent_stop,
                                           settings.demo_agent_interval, world.agents))

    async def stop_agent() -> None:
        agent_stop.set()
        await agent

    closers.extend([stop_agent, sim.stop])  # run in order: the agent stops before the org
    return settings.model_copy(update={
        "salesforce_username": sim.username,
        "salesforce_password": SecretStr(sim.password),
        "salesforce_security_token": SecretStr(sim.security_token),
        "salesforce_login_url": sim.base_url, "salesforce_ca_file": sim.ca_file,
        "salesforce_poll_interval": 2.0})


async def demo_agents(sf_settings: Settings,
                      world: demo_world.DemoWorld | None = None) -> AssignmentPolicy:
    """The demo's agents, as Users of the simulated org (the same ones as earlier runs'), and
    the policy that names them."""
    known = world.agents if world is not None else {}
    async with SalesforceDriver(str(sf_settings.salesforce_login_url),
                                sf_settings.salesforce_ca_file) as driver:
        ids = {key: await _user(driver, name, known) for key, name in demo_policy.AGENTS}
    return demo_policy.assignment_policy(ids)


async def _user(driver: SalesforceDriver, name: str, known: dict[str, str]) -> str:
    """The Id of the org's user ``name``: the one ``known`` names, else a new one (noted)."""
    if name not in known:
        known[name] = (await driver.create_user(name))["Id"]
    return known[name]


DEMO_ANSWERS = ("Thanks for reaching out! I'm looking into it now.",
                "Good question: our annual plan includes that at no extra cost.",
                "I've sent the price list to this thread; tell me if anything is unclear.")


async def demo_agent(base_url: str, ca_file: Any, stop: asyncio.Event,
                     every: float = 5.0, known: dict[str, str] | None = None) -> None:
    """An agent in the simulated org who answers an open Case every few seconds (as a
    CaseComment), so the demo shows replies travelling back into Telegram."""
    if every <= 0:
        return
    rnd = random.Random()
    async with SalesforceDriver(base_url, ca_file) as driver:
        user = {"Id": await _user(driver, "Dana Demo-Agent", {} if known is None else known)}
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
            if stop.is_set():
                return
            with contextlib.suppress(Exception):  # the demo goes on if one answer fails
                open_cases = [c for c in await driver.records("Case")
                              if not c.get("IsClosed") and c.get("Telecase_Ticket_Id__c")]
                if open_cases:
                    case = rnd.choice(open_cases)
                    await driver.post_case_comment(case["Id"], rnd.choice(DEMO_ANSWERS),
                                                   user_id=user["Id"])

"""A faithful simulator of the Telegram Bot API, served over real HTTP.

Nobody can reach the real Telegram from tests, the demo or benchmarks, so telecase talks to
this instead: :class:`BotApiSimulator` serves the Bot API methods telecase uses (``getMe``,
``getUpdates`` with long polling, webhooks with real delivery and retries, ``sendMessage``,
forum topics) with the real envelopes, errors and flood limits; :class:`SimulatorDriver`
plays the people on the Telegram side and shows what the bot did.

Modules::

    server     BotApiSimulator: the aiohttp app, start/stop, Bot API dispatch
    bot_api    the Bot API methods, registered as data
    sim_api    the driver's /sim endpoints
    driver     SimulatorDriver, the httpx client of /sim
    state      Simulation: everything one bot sees
    world      users, chats, topics, messages (the Bot API's shapes)
    updates    the pending-update queue (offsets, long polling, allowed_updates)
    webhook    webhook delivery (per-chat order, retries, RetryPolicy)
    ratelimit  flood limits (RateLimits)
    faults     injected outages and latency
    text       UTF-16 lengths, auto-detected entities, parse_mode=HTML
    params     reading parameters from JSON, forms and query strings
    errors     SimulatorError > BotApiError, DriverError
"""

from simulators.telegram.driver import Emitted, SimulatorDriver
from simulators.telegram.errors import BotApiError, DriverError, SimulatorError
from simulators.telegram.ratelimit import RateLimits
from simulators.telegram.server import BotApiSimulator
from simulators.telegram.webhook import RetryPolicy

__all__ = ["BotApiError", "BotApiSimulator", "DriverError", "Emitted", "RateLimits",
           "RetryPolicy", "SimulatorDriver", "SimulatorError"]

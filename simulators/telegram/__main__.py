"""Run the simulator on its own: ``python -m simulators.telegram --port 8081``.

Prints the base URL (the Bot API is at ``{base_url}/bot{token}/{method}``, the driver's
endpoints under ``{base_url}/sim/``) and serves until Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from simulators.telegram.ratelimit import RateLimits
from simulators.telegram.server import BotApiSimulator


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m simulators.telegram",
                                     description="A simulated Telegram Bot API over HTTP.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081, help="0 picks a free port")
    parser.add_argument("--token", default="123:abc", help="the bot token it accepts")
    parser.add_argument("--no-rate-limits", action="store_true",
                        help="turn Telegram's flood limits off (benchmarks)")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    """Start the simulator, print where it is, and wait until cancelled."""
    limits = RateLimits(enabled=not args.no_rate_limits)
    simulator = BotApiSimulator(args.token, host=args.host, port=args.port, limits=limits)
    await simulator.start()
    print(simulator.base_url, flush=True)
    print(f"Bot API: {simulator.base_url}/bot<token>/<method>  driver: "
          f"{simulator.base_url}/sim/", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await simulator.stop()


def main(argv: list[str] | None = None) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    main()

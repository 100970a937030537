"""A webhook load generator in its own process, so a benchmark's client does not share the
measured process's core: ``python -m bench.loadgen URL SECRET FILE [CONCURRENCY]`` POSTs every
update in FILE (a JSON list) and prints the seconds it took."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import aiohttp

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


async def post_all(url: str, secret: str, updates: list[dict[str, Any]],
                   concurrency: int = 64) -> float:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for update in updates:
        queue.put_nowait(json.dumps(update).encode())
    headers = {SECRET_HEADER: secret, "Content-Type": "application/json"}
    async with aiohttp.ClientSession(headers=headers) as session:
        async def client() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                async with session.post(url, data=body) as resp:
                    if resp.status != 200:
                        raise RuntimeError(f"webhook answered {resp.status}")

        start = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        return time.perf_counter() - start


def main() -> None:
    url, secret, path = sys.argv[1:4]
    concurrency = int(sys.argv[4]) if len(sys.argv) > 4 else 64
    with open(path) as f:
        updates = json.load(f)
    print(asyncio.run(post_all(url, secret, updates, concurrency)))


if __name__ == "__main__":
    main()

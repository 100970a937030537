"""``python -m simulators.telegram`` serves until interrupted."""

from __future__ import annotations

import asyncio
import signal
import sys

import httpx


async def test_the_module_prints_its_base_url_and_serves_the_bot_api() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "simulators.telegram", "--port", "0",
        "--token", "123:abc", stdout=asyncio.subprocess.PIPE)
    try:
        assert process.stdout is not None
        async with asyncio.timeout(10):
            base_url = (await process.stdout.readline()).decode().strip()
        assert base_url.startswith("http://127.0.0.1:")
        async with httpx.AsyncClient() as client:
            me = (await client.get(f"{base_url}/bot123:abc/getMe")).json()
        assert me["ok"] is True and me["result"]["id"] == 123
    finally:
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(10):
            await process.communicate()
    assert process.returncode == 0

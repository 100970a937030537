"""Telegram falling silent is noticed (``telecase.ops.silence``): ``telecase run`` with
``TELECASE_TELEGRAM_SILENCE_AFTER=2`` stays quiet while the simulator delivers, and warns
(``telegram.silent``) within the configured time once the simulator is stopped."""

from __future__ import annotations

import time

from tests.e2e.embedded.conftest import EmbeddedDeployment, SimulatorThread
from tests.infra import wait_for


def test_a_stopped_telegram_simulator_triggers_the_silence_warning(
        embedded: EmbeddedDeployment) -> None:
    telegram = SimulatorThread()
    running = True
    try:
        async def people(tg: object) -> tuple[dict[str, object], ...]:
            forum = await tg.create_forum("Sales")  # type: ignore[attr-defined]
            ann = await tg.create_user("Ann")  # type: ignore[attr-defined]
            return forum, ann

        forum, ann = telegram.drive(people)
        proc = embedded.run("run", TELECASE_TELEGRAM_API_BASE=telegram.base_url,
                            TELECASE_TELEGRAM_SILENCE_AFTER="2")
        telegram.bot_api("setWebhook", url=embedded.webhook_url,
                         secret_token=embedded.webhook_secret)
        for n in range(6):  # updates keep arriving: no warning
            telegram.drive(lambda tg, n=n: tg.write(forum["id"], ann["id"], f"hello {n}"))
            time.sleep(0.4)
        assert "telegram.silent" not in proc.output()
        telegram.close()
        running = False
        stopped = time.monotonic()
        wait_for(lambda: "telegram.silent" in proc.output(), 15,
                 what="the silence warning")
        assert time.monotonic() - stopped < 2 + 5  # the configured time, plus one check
        line = next(s for s in proc.output().splitlines() if "telegram.silent" in s)
        assert '"level": "warning"' in line and "webhook_info_failed" in line
    finally:
        if running:
            telegram.close()

"""The same mirror on the production runtime: Apache Kafka (4 partitions) and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.telegram.reply_mirror import Limits
from streams.runtime.kafka.bus import KafkaBus
from tests import infra
from tests.adapters.telegram_out.conftest import harness, replied

pytestmark = pytest.mark.integration


async def test_kafka_and_postgres_deliver_in_order_once_across_restarts(
        tmp_path: Path, kafka_bootstrap: str, pg_server: str) -> None:
    bus = KafkaBus(kafka_bootstrap, default_partitions=4)
    await bus.start()
    with infra.fresh_database(pg_server) as url:
        async with harness(tmp_path, bus=bus, ledger_url=url) as h:
            users = [await h.tg.create_user(f"U{n}") for n in range(6)]
            chats = [await h.tg.create_private_chat(u["id"]) for u in users]
            await h.append(*[replied(f"tg:{c['id']}:p1", n, f"{c['id']}-{n}", c["id"], None)
                             for n in range(2, 6) for c in chats])
            paced = Limits(per_chat_period=0.25, margin=0.0)
            first = h.start(limits=paced)
            await h.wait(lambda: first.stats.sent >= 12, timeout=30)  # sends come in bursts
            await h.stop()  # stopped part-way: the rest waits in Kafka, positions committed
            assert first.stats.sent < 24
            second = h.start(limits=paced)
            await h.wait(lambda: first.stats.sent + second.stats.sent == 24, timeout=30)
            await h.stop()
            rebuilt = h.start(group="telegram-mirror-rebuilt")
            await h.wait(lambda: rebuilt.stats.already_delivered == 24, timeout=30)
            await h.stop()
            sent = await h.sent()
            assert len(sent) == 24 and rebuilt.stats.sent == 0
            for c in chats:
                assert [m["text"] for m in sent if m["chat_id"] == c["id"]] == [
                    f"Alice:\n{c['id']}-{n}" for n in range(2, 6)]
            assert h.ledger.delivery_count() == 24

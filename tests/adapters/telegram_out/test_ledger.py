"""The delivery ledger: one contract, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.telegram.ledger import Delivery, DeliveryLedger, ThreadLink
from tests import infra

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DeliveryLedger]:
    if request.param == "sqlite":
        found = DeliveryLedger.from_url(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
        found.create()
        yield found
        found.dispose()
        return
    with infra.fresh_database(request.getfixturevalue("pg_server")) as url:
        found = DeliveryLedger.from_url(url)
        found.create()
        found.create()  # creating again is harmless
        yield found
        found.dispose()


def test_deliveries_are_recorded_once(ledger: DeliveryLedger) -> None:
    first = Delivery("tg:1:t5#2", "tg:1:t5", -1001, 5, 77, NOW)
    ledger.record_delivery(first)
    ledger.record_delivery(Delivery("tg:1:t5#2", "tg:1:t5", -1001, 5, 78, NOW))
    ledger.record_delivery(Delivery("tg:9:p1#3", "tg:9:p1", 9, None, 4, NOW))
    assert ledger.delivered(["tg:1:t5#2", "tg:1:t5#3", "tg:9:p1#3"]) == {"tg:1:t5#2",
                                                                         "tg:9:p1#3"}
    assert ledger.delivered([]) == set()
    assert ledger.deliveries()[0] == first and ledger.delivery_count() == 2


def test_links_are_announced_once_and_subjects_kept(ledger: DeliveryLedger) -> None:
    ledger.record_link(ThreadLink(-1001, 5, 9, "tg:1:t5", "Pricing", NOW))
    assert ledger.links() == {(-1001, 5): 9}
    [pending] = ledger.unannounced_links()
    assert (pending.new_thread_id, pending.name, pending.linked_at) == (9, "Pricing", NOW)
    ledger.mark_announced(-1001, 5)
    assert ledger.unannounced_links() == []
    ledger.remember_subjects({"tg:1:t5": "Pricing", "tg:1:t6": "Demo"})
    ledger.remember_subjects({"tg:1:t5": "Pricing (50 seats)"})
    assert ledger.subject("tg:1:t5") == "Pricing (50 seats)"
    assert ledger.subject("tg:1:t7") is None

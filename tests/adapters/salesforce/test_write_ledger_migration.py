"""The Salesforce write ledger's table is migrated by Alembic (branch ``salesforce_ledger``):
``SqlWriteLedger.create`` records the revision, adopts a table ``create_all`` made before with
its rows, and shares the database with the Telegram delivery ledger's branch."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic.migration import MigrationContext

from connectors.salesforce.comments import SqlWriteLedger, metadata
from connectors.telegram.ledger import DeliveryLedger
from streams.runtime.state_tables import VERSION_TABLE


def _recorded(engine: sa.Engine) -> set[str]:
    with engine.connect() as conn:
        return set(MigrationContext.configure(
            conn, opts={"version_table": VERSION_TABLE}).get_current_heads())


def test_create_migrates_and_adopts_what_create_all_made(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    metadata.create_all(engine)  # a ledger made before Alembic
    before = SqlWriteLedger(engine)
    before.record("CaseComment", {"tg:1#3": "00a000000000001"})
    ledger = SqlWriteLedger(engine)
    ledger.create()
    ledger.create()  # at head: a no-op
    assert "sfledger_0001" in _recorded(engine)
    assert ledger.find(["tg:1#3", "tg:1#4"]) == {"tg:1#3": "00a000000000001"}
    engine.dispose()


def test_beside_the_delivery_ledger(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    book = DeliveryLedger.from_url(url)
    book.create()
    SqlWriteLedger(book.engine).create()
    assert {"sfledger_0001"} < _recorded(book.engine) and len(_recorded(book.engine)) == 2
    assert "salesforce_written_records" in sa.inspect(book.engine).get_table_names()
    book.dispose()

"""The reply mirror's delivery ledger: telegram_deliveries, telegram_thread_links,
telegram_ticket_subjects (``connectors.telegram.ledger``). Adopts the tables ``create_all``
made before Alembic.

Revision ID: ledger_0001
Revises:
Create Date: 2026-12-06

A revision is history: it spells its tables out instead of importing the ledger's, so it
creates the same thing forever, whatever the tables become later.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from streams.runtime.state_tables import adopt_or_create

revision: str = "ledger_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("telegram_ledger",)
depends_on: str | Sequence[str] | None = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    tables = sa.MetaData()
    adopt_or_create(sa.Table(
        "telegram_deliveries", tables,
        sa.Column("event_id", sa.String(300), primary_key=True),
        sa.Column("ticket_id", sa.String(300), nullable=False, index=True),
        sa.Column("chat_id", sa.BigInteger, nullable=False),
        sa.Column("thread_id", sa.BigInteger, nullable=True),
        sa.Column("message_id", sa.BigInteger, nullable=False),
        sa.Column("sent_at", _TZ, nullable=False),
    ))
    adopt_or_create(sa.Table(
        "telegram_thread_links", tables,
        sa.Column("chat_id", sa.BigInteger, primary_key=True),
        sa.Column("old_thread_id", sa.BigInteger, primary_key=True),
        sa.Column("new_thread_id", sa.BigInteger, nullable=False),
        sa.Column("ticket_id", sa.String(300), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("linked_at", _TZ, nullable=False),
        sa.Column("announced_at", _TZ, nullable=True),
    ))
    adopt_or_create(sa.Table(
        "telegram_ticket_subjects", tables,
        sa.Column("ticket_id", sa.String(300), primary_key=True),
        sa.Column("subject", sa.String(200), nullable=False),
    ))


def downgrade() -> None:
    for name in ("telegram_ticket_subjects", "telegram_thread_links", "telegram_deliveries"):
        op.drop_table(name)

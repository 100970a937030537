"""The intake messenger's topics: telegram_intake_topics (``connectors.telegram.intake_topics``),
beside the delivery ledger. Adopts the table ``create_all`` made before Alembic.

Revision ID: intake_0001
Revises:
Create Date: 2026-12-06

A revision is history: it spells its table out instead of importing the messenger's.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from streams.runtime.state_tables import adopt_or_create

revision: str = "intake_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("intake_topics",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    adopt_or_create(sa.Table(
        "telegram_intake_topics", sa.MetaData(),
        sa.Column("ticket_id", sa.String(300), primary_key=True),
        sa.Column("customer_chat_id", sa.BigInteger, nullable=False),
        sa.Column("chat_id", sa.BigInteger, nullable=False),
        sa.Column("thread_id", sa.BigInteger, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("announced_at", sa.DateTime(timezone=True), nullable=True),
    ))


def downgrade() -> None:
    op.drop_table("telegram_intake_topics")

"""The Salesforce write ledger: salesforce_written_records (``connectors.salesforce.comments``:
the CaseComments and FeedItems telecase wrote, by idempotency key), beside the Telegram delivery
ledger. Adopts the table ``create_all`` made before Alembic.

Revision ID: sfledger_0001
Revises:
Create Date: 2026-12-06

A revision is history: it spells its table out instead of importing the connector's.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from streams.runtime.state_tables import adopt_or_create

revision: str = "sfledger_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("salesforce_ledger",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    adopt_or_create(sa.Table(
        "salesforce_written_records", sa.MetaData(),
        sa.Column("key", sa.String(300), primary_key=True),
        sa.Column("sobject", sa.String(40), nullable=False),
        sa.Column("record_id", sa.String(18), nullable=False),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=False),
    ))


def downgrade() -> None:
    op.drop_table("salesforce_written_records")

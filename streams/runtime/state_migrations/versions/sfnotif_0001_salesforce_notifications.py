"""The deadline-notification ledger: salesforce_notifications
(``connectors.salesforce.notifications``: each SLA event handed to Salesforce's custom
notification action, by event id, with its Case and whether it was sent or refused).

Revision ID: sfnotif_0001
Revises:
Create Date: 2026-12-06

A revision is history: it spells its table out instead of importing the connector's.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from streams.runtime.state_tables import adopt_or_create

revision: str = "sfnotif_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("salesforce_notifications",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    adopt_or_create(sa.Table(
        "salesforce_notifications", sa.MetaData(),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("case_id", sa.String(18), nullable=False),
        sa.Column("outcome", sa.String(10), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
    ))


def downgrade() -> None:
    op.drop_table("salesforce_notifications")

"""The customer-file ledger: salesforce_files (``connectors.salesforce.files``: each file
attached to a Case, by ticket id and ``file_unique_id``, with its ContentVersion Id and
whether it was copied or linked).

Revision ID: sffiles_0001
Revises:
Create Date: 2026-12-06

A revision is history: it spells its table out instead of importing the connector's.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from streams.runtime.state_tables import adopt_or_create

revision: str = "sffiles_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("salesforce_files",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    adopt_or_create(sa.Table(
        "salesforce_files", sa.MetaData(),
        sa.Column("key", sa.String(300), primary_key=True),
        sa.Column("record_id", sa.String(18), nullable=False),
        sa.Column("how", sa.String(10), nullable=False),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=False),
    ))


def downgrade() -> None:
    op.drop_table("salesforce_files")

"""The Kafka desk store: desk_state, desk_positions (``streams.runtime.kafka.desk_store``), in
the projections database. Adopts the tables ``create_all`` made before Alembic.

Revision ID: desk_0001
Revises:
Create Date: 2026-12-06

A revision is history: it spells its tables out instead of importing the desk store's.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from streams.runtime.state_tables import adopt_or_create

revision: str = "desk_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("desk_store",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    tables = sa.MetaData()
    adopt_or_create(sa.Table(
        "desk_state", tables,
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("snapshot", sa.Text, nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
    ))
    adopt_or_create(sa.Table(
        "desk_positions", tables,
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("topic", sa.String(255), primary_key=True),
        sa.Column("partition", sa.Integer, primary_key=True),
        sa.Column("next_offset", sa.BigInteger, nullable=False),
    ))


def downgrade() -> None:
    op.drop_table("desk_positions")
    op.drop_table("desk_state")

"""The projection tables as of the audit trail: cases, audit_trail (append-only, enforced by
triggers), agent_workloads, daily_metrics, the projectors' per-ticket memories and their
checkpoints.

Revision ID: 0001
Revises:
Create Date: 2026-05-28

A revision is history: it spells its tables out instead of importing ``projections.tables``,
so it creates the same thing forever, whatever the tables become later.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TZ = sa.DateTime(timezone=True)



def _counter(name: str, kind: type[sa.Integer] | type[sa.Float[float]]) -> sa.Column[Any]:
    return sa.Column(name, kind, nullable=False, server_default="0")


_PG_IMMUTABLE = [
    "CREATE OR REPLACE FUNCTION audit_trail_immutable() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION 'audit_trail is append-only: % refused', TG_OP "
    "USING ERRCODE = 'insufficient_privilege'; END $$",
    "CREATE TRIGGER audit_trail_no_update_delete BEFORE UPDATE OR DELETE ON audit_trail "
    "FOR EACH ROW EXECUTE FUNCTION audit_trail_immutable()",
    "CREATE TRIGGER audit_trail_no_truncate BEFORE TRUNCATE ON audit_trail "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_trail_immutable()",
]
_SQLITE_IMMUTABLE = [
    "CREATE TRIGGER audit_trail_no_update BEFORE UPDATE ON audit_trail "
    "BEGIN SELECT RAISE(ABORT, 'audit_trail is append-only: UPDATE refused'); END",
    "CREATE TRIGGER audit_trail_no_delete BEFORE DELETE ON audit_trail "
    "BEGIN SELECT RAISE(ABORT, 'audit_trail is append-only: DELETE refused'); END",
]


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("ticket_id", sa.String(128), primary_key=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("chat_id", sa.BigInteger, nullable=False),
        sa.Column("thread_id", sa.BigInteger),
        sa.Column("thread_key", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("customer_telegram_id", sa.BigInteger),
        sa.Column("customer_username", sa.String(64)),
        sa.Column("customer_name", sa.Text),
        sa.Column("customer_message_id", sa.BigInteger, nullable=False),
        sa.Column("opened_at", _TZ, nullable=False),
        sa.Column("last_message_at", _TZ),
        sa.Column("closed_at", _TZ),
        sa.Column("message_count", sa.Integer, nullable=False),
        sa.Column("agent_reply_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("first_response_at", _TZ),
        sa.Column("last_agent_reply_at", _TZ),
        sa.Column("salesforce_case_id", sa.String(18)),
        sa.Column("salesforce_case_number", sa.String(32)),
        sa.Column("salesforce_contact_id", sa.String(18)),
        sa.Column("salesforce_lead_id", sa.String(18)),
        sa.Column("salesforce_status", sa.String(64)),
        sa.Column("owner_id", sa.String(18)),
        sa.Column("owner_name", sa.Text),
        sa.Column("queue", sa.String(64)),
        sa.Column("agent_id", sa.String(64)),
        sa.Column("sla_tier", sa.String(64)),
        sa.Column("sla_state", sa.String(16)),
        sa.Column("sla_next_due_at", _TZ),
        sa.Column("first_response_breached_at", _TZ),
        sa.Column("resolution_breached_at", _TZ),
        sa.Column("escalation_level", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_seq", sa.Integer, nullable=False),
        sa.Column("last_event_recorded_at", _TZ, nullable=False),
        sa.Column("projected_at", _TZ, nullable=False),
    )
    for column in ("thread_key", "customer_telegram_id", "salesforce_case_id", "agent_id"):
        op.create_index(f"ix_cases_{column}", "cases", [column])

    op.create_table(
        "audit_trail",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("event_id", sa.String(160), nullable=False),
        sa.Column("ticket_id", sa.String(128), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("actor_kind", sa.String(16), nullable=False),
        sa.Column("actor_id", sa.String(64)),
        sa.Column("actor_name", sa.Text),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("before", sa.JSON),
        sa.Column("after", sa.JSON),
        sa.Column("agent_id", sa.String(64)),
        sa.Column("queue", sa.String(64)),
        sa.Column("body", sa.Text),
        sa.Column("occurred_at", _TZ, nullable=False),
        sa.Column("recorded_at", _TZ, nullable=False),
        sa.Column("source_topic", sa.String(128), nullable=False),
        sa.Column("source_partition", sa.Integer, nullable=False),
        sa.Column("source_offset", sa.BigInteger, nullable=False),
        sa.Column("state", sa.JSON, nullable=False),
        sa.UniqueConstraint("event_id", name="uq_audit_trail_event_id"),
    )
    for column in ("agent_id", "queue", "occurred_at"):
        op.create_index(f"ix_audit_trail_{column}", "audit_trail", [column])
    op.create_index("ix_audit_trail_ticket_seq", "audit_trail", ["ticket_id", "seq"])
    dialect = op.get_bind().dialect.name
    for statement in _PG_IMMUTABLE if dialect == "postgresql" else _SQLITE_IMMUTABLE:
        op.execute(statement)

    op.create_table(
        "agent_workloads",
        sa.Column("agent_id", sa.String(64), primary_key=True),
        sa.Column("open_tickets", sa.Integer, nullable=False, server_default="0"),
        sa.Column("assigned_total", sa.Integer, nullable=False, server_default="0"),
        sa.Column("closed_total", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_assigned_at", _TZ),
        sa.Column("updated_at", _TZ, nullable=False),
    )
    op.create_table(
        "workload_tickets",
        sa.Column("ticket_id", sa.String(128), primary_key=True),
        sa.Column("agent_id", sa.String(64)),
        sa.Column("is_open", sa.Boolean, nullable=False),
        sa.Column("last_seq", sa.Integer, nullable=False),
    )
    op.create_index("ix_workload_tickets_agent_id", "workload_tickets", ["agent_id"])

    op.create_table(
        "daily_metrics",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("queue", sa.String(64), primary_key=True),
        sa.Column("agent_id", sa.String(64), primary_key=True),
        _counter("tickets_opened", sa.Integer),
        _counter("tickets_routed", sa.Integer),
        _counter("first_responses", sa.Integer),
        _counter("first_response_seconds_total", sa.Float),
        _counter("first_response_seconds_max", sa.Float),
        _counter("resolutions", sa.Integer),
        _counter("resolution_seconds_total", sa.Float),
        _counter("sla_breaches", sa.Integer),
        _counter("escalations", sa.Integer),
    )
    op.create_table(
        "metrics_tickets",
        sa.Column("ticket_id", sa.String(128), primary_key=True),
        sa.Column("last_seq", sa.Integer, nullable=False),
        sa.Column("opened_at", _TZ),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("agent_id", sa.String(64), nullable=False),
        sa.Column("is_open", sa.Boolean, nullable=False),
        sa.Column("has_sla", sa.Boolean, nullable=False),
        sa.Column("first_response_counted", sa.Boolean, nullable=False),
    )

    op.create_table(
        "projector_checkpoints",
        sa.Column("projector", sa.String(64), primary_key=True),
        sa.Column("topic", sa.String(128), primary_key=True),
        sa.Column("partition", sa.Integer, primary_key=True),
        sa.Column("next_offset", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in ("projector_checkpoints", "metrics_tickets", "daily_metrics",
                  "workload_tickets", "agent_workloads", "audit_trail", "cases"):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_trail_immutable()")

"""SQLAlchemy tables of the projections (one schema for PostgreSQL and SQLite).

Changing a table here needs an Alembic revision in ``projections/migrations/versions`` too
(``tests/adapters/projections/test_migrations.py`` fails while the two disagree)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    event,
    text,
)

metadata = MetaData(naming_convention={
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
})
"""Named constraints, so migrations can refer to them on every database."""

cases = Table(
    "cases", metadata,
    Column("ticket_id", String(128), primary_key=True),
    Column("channel", String(32), nullable=False),
    Column("chat_id", BigInteger, nullable=False),
    Column("thread_id", BigInteger),
    Column("thread_key", String(128), nullable=False, index=True),
    Column("status", String(16), nullable=False),
    Column("subject", Text, nullable=False),
    Column("customer_telegram_id", BigInteger, index=True),
    Column("customer_username", String(64)),
    Column("customer_name", Text),
    Column("customer_message_id", BigInteger, nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("last_message_at", DateTime(timezone=True)),
    Column("closed_at", DateTime(timezone=True)),
    Column("message_count", Integer, nullable=False),
    Column("agent_reply_count", Integer, nullable=False, server_default="0"),
    Column("first_response_at", DateTime(timezone=True)),
    Column("last_agent_reply_at", DateTime(timezone=True)),
    Column("salesforce_case_id", String(18), index=True),
    Column("salesforce_case_number", String(32)),
    Column("salesforce_contact_id", String(18)),
    Column("salesforce_lead_id", String(18)),
    Column("salesforce_status", String(64)),
    Column("owner_id", String(18)),
    Column("owner_name", Text),
    Column("queue", String(64)),
    Column("agent_id", String(64), index=True),
    Column("sla_tier", String(64)),
    Column("sla_state", String(16)),
    Column("sla_next_due_at", DateTime(timezone=True)),
    Column("first_response_breached_at", DateTime(timezone=True)),
    Column("resolution_breached_at", DateTime(timezone=True)),
    Column("escalation_level", Integer, nullable=False, server_default="0"),
    Column("last_seq", Integer, nullable=False),
    Column("last_event_recorded_at", DateTime(timezone=True), nullable=False),
    Column("projected_at", DateTime(timezone=True), nullable=False),
)
"""One row per ticket: its current state as the log says. ``last_seq`` is the highest
ticket-event ``seq`` applied, which is what makes re-delivered events no-ops. ``sla_state``:
``running`` (clocks started), ``warned`` (a warning fired), ``breached`` (a target was missed),
``met`` (closed, or first response given, with nothing missed); ``sla_next_due_at`` is the first
deadline ``sla.started`` announced (the live SLA board of the dashboard reads the log)."""

audit_trail = Table(
    "audit_trail", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("event_id", String(160), nullable=False, unique=True),
    Column("ticket_id", String(128), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("actor_kind", String(16), nullable=False),
    Column("actor_id", String(64)),
    Column("actor_name", Text),
    Column("action", Text, nullable=False),
    Column("reason", Text),
    Column("before", JSON),
    Column("after", JSON),
    Column("agent_id", String(64), index=True),
    Column("queue", String(64), index=True),
    Column("body", Text),
    Column("occurred_at", DateTime(timezone=True), nullable=False, index=True),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("source_topic", String(128), nullable=False),
    Column("source_partition", Integer, nullable=False),
    Column("source_offset", BigInteger, nullable=False),
    Column("state", JSON, nullable=False),
    Index("ix_audit_trail_ticket_seq", "ticket_id", "seq"),
)
"""One immutable row per ticket event (never updated or deleted): who (``actor_*``) did what
(``action``, a sentence; ``event_type``), why (``reason``: the SLA's or the desk's words), the
fields it changed (``before``/``after``, JSON, where it applies), the ticket's agent and queue
as of that event (for access control), a message's text in ``body`` (personal data: shown only
to roles allowed to see it), when, and where in the log it came from. ``state`` is the ticket's
audited state after the event (status, subject, owner, agent, queue, SLA): the next event's
``before`` is read from it. The database refuses UPDATE and DELETE on it (triggers created by
the migrations)."""



def append_only_ddl(dialect: str, schema: str | None = None,
                    table: str = "audit_trail") -> list[str]:
    """Statements that make ``table`` refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL).
    The first migration runs the same ones for the live table; :func:`_append_only` runs them
    for a copy created elsewhere (``telecase replay``'s rebuild schema). On PostgreSQL the
    trigger function is one, unqualified (it stays when a rebuild schema is dropped)."""
    if dialect == "postgresql":
        on = f'"{schema}"."{table}"' if schema else f'"{table}"'
        return [
            f"CREATE OR REPLACE FUNCTION {table}_immutable() RETURNS trigger "
            f"LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '{table} is append-only: % "
            f"refused', TG_OP USING ERRCODE = 'insufficient_privilege'; END $$",
            f"CREATE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {on} "
            f"FOR EACH ROW EXECUTE FUNCTION {table}_immutable()",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {on} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_immutable()",
        ]
    prefix = f'"{schema}".' if schema else ""  # SQLite: the trigger names the schema
    return [
        f'CREATE TRIGGER {prefix}{table}_no_update BEFORE UPDATE ON "{table}" '
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: UPDATE refused'); END",
        f'CREATE TRIGGER {prefix}{table}_no_delete BEFORE DELETE ON "{table}" '
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: DELETE refused'); END",
    ]


@event.listens_for(audit_trail, "after_create", propagate=True)
def _append_only(target: Table, connection: Any, **_: Any) -> None:
    """``create_all`` of the audit trail (or of a copy made by ``to_metadata``, in whatever
    schema ``schema_translate_map`` sends it to) makes it append-only too. The migrations
    create the live table with ``op.create_table``, so this never runs twice on it."""
    translate = connection.get_execution_options().get("schema_translate_map") or {}
    schema = translate.get(target.schema, target.schema)
    for statement in append_only_ddl(connection.dialect.name, schema, target.name):
        connection.execute(text(statement))


agent_workloads = Table(
    "agent_workloads", metadata,
    Column("agent_id", String(64), primary_key=True),
    Column("open_tickets", Integer, nullable=False, server_default="0"),
    Column("assigned_total", Integer, nullable=False, server_default="0"),
    Column("closed_total", Integer, nullable=False, server_default="0"),
    Column("last_assigned_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
"""One row per agent the log ever assigned a ticket to: ``open_tickets`` held now,
``assigned_total`` assignments received, ``closed_total`` tickets closed while theirs,
``updated_at`` the latest event that changed the row (event time, so a rebuild is identical).
Capacity and availability are the assignment policy's, not the log's: a dashboard joins them."""

workload_tickets = Table(
    "workload_tickets", metadata,
    Column("ticket_id", String(128), primary_key=True),
    Column("agent_id", String(64), index=True),
    Column("is_open", Boolean, nullable=False),
    Column("last_seq", Integer, nullable=False),
)
"""The workloads projector's memory of each ticket: its agent and whether it is open, as of
``last_seq`` (an event at or below it is a redelivery and counts nothing)."""

daily_metrics = Table(
    "daily_metrics", metadata,
    Column("day", Date, primary_key=True),
    Column("queue", String(64), primary_key=True),
    Column("agent_id", String(64), primary_key=True),
    Column("tickets_opened", Integer, nullable=False, server_default="0"),
    Column("tickets_routed", Integer, nullable=False, server_default="0"),
    Column("first_responses", Integer, nullable=False, server_default="0"),
    Column("first_response_seconds_total", Float, nullable=False, server_default="0"),
    Column("first_response_seconds_max", Float, nullable=False, server_default="0"),
    Column("resolutions", Integer, nullable=False, server_default="0"),
    Column("resolution_seconds_total", Float, nullable=False, server_default="0"),
    Column("sla_breaches", Integer, nullable=False, server_default="0"),
    Column("escalations", Integer, nullable=False, server_default="0"),
)
"""Counters by UTC day (of the event), queue and agent as the ticket had them at that event
(``''``: none yet; a ticket is opened before it is routed, so ``tickets_opened`` sits under
``''`` and ``tickets_routed`` gives the volume per queue)."""

metrics_tickets = Table(
    "metrics_tickets", metadata,
    Column("ticket_id", String(128), primary_key=True),
    Column("last_seq", Integer, nullable=False),
    Column("opened_at", DateTime(timezone=True)),
    Column("queue", String(64), nullable=False),
    Column("agent_id", String(64), nullable=False),
    Column("is_open", Boolean, nullable=False),
    Column("has_sla", Boolean, nullable=False),
    Column("first_response_counted", Boolean, nullable=False),
)
"""The metrics projector's memory of each ticket (what attributing and timing its later events
needs), as of ``last_seq``: an event at or below it is a redelivery and counts nothing."""

checkpoints = Table(
    "projector_checkpoints", metadata,
    Column("projector", String(64), primary_key=True),
    Column("topic", String(128), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("next_offset", BigInteger, nullable=False),
)
"""Where each projector resumes, written in the same transaction as its rows."""

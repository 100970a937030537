"""SQLAlchemy tables of the projections (one schema for PostgreSQL and SQLite)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

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
    Column("ticket_id", String(128), nullable=False, index=True),
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
)
"""One immutable row per ticket event (never updated or deleted): who (``actor_*``) did what
(``action``, a sentence; ``event_type``), why (``reason``: the SLA's or the desk's words), the
fields it changed (``before``/``after``, JSON, where it applies), the ticket's agent and queue
as of that event (for access control), a message's text in ``body`` (personal data: shown only
to roles allowed to see it), when, and where in the log it came from."""

checkpoints = Table(
    "projector_checkpoints", metadata,
    Column("projector", String(64), primary_key=True),
    Column("topic", String(128), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("next_offset", BigInteger, nullable=False),
)
"""Where each projector resumes, written in the same transaction as its rows."""

meta = Table(
    "projection_meta", metadata,
    Column("name", String(64), primary_key=True),
    Column("schema_version", Integer, nullable=False),
)
"""The schema version the projection tables were built with (see ``projections.db``)."""

"""Configuration from environment variables (``TELECASE_*``) and an optional ``.env`` file.

Validated at start: a wrong or missing value stops the process with one clear line per problem.
``KAFKA_BOOTSTRAP_SERVERS`` and ``DATABASE_URL`` are honoured without the prefix too.

An empty environment value means "unset" (the default), so ``${VAR:-}`` in a compose file
leaves a setting alone; for the settings whose empty value the README documents
(:data:`EMPTY_MEANS_EMPTY`: ``TELECASE_INTAKE_COMMAND=`` is "no form") it means empty.
"""

from __future__ import annotations

import os
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from streams.core.phones import known_region
from streams.runtime.timers import TICK_MAX_DUE
from telecase.errors import TelecaseError


class SettingsError(TelecaseError):
    """The configuration is invalid; the message lists every problem."""



EMPTY_MEANS_EMPTY = frozenset({"intake_command", "topic_prefix"})
"""Settings whose empty environment value is a value (the README documents what it means)."""


class _EmptyText(PydanticBaseSettingsSource):
    """The environment's empty values of :data:`EMPTY_MEANS_EMPTY` (the environment source
    drops every empty value, ``env_ignore_empty``)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return {name: "" for name in sorted(EMPTY_MEANS_EMPTY)
                if os.environ.get(f"TELECASE_{name.upper()}") == ""}


class RuntimeKind(StrEnum):
    """Which runtime a command works on: the embedded log and SQLite on one machine, or Kafka and
    PostgreSQL. Parsed once, where a command reads its ``--runtime`` option or the settings; a
    ``StrEnum``, so it prints and compares as its name."""

    EMBEDDED = "embedded"
    KAFKA = "kafka"

    @classmethod
    def parse(cls, value: str | RuntimeKind) -> RuntimeKind:
        try:
            return cls(value)
        except ValueError:
            raise SettingsError(f"--runtime must be embedded or kafka, not {value!r}") from None

class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TELECASE_", env_file=".env",
                                      env_file_encoding="utf-8", extra="ignore",
                                      env_ignore_empty=True)

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings],
                                   init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Precedence: arguments, environment, ``.env``, then the config file named by
        ``TELECASE_CONFIG`` (TOML, keys as the variables without the prefix, lower case)."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings,
                                                     _EmptyText(settings_cls), dotenv_settings]
        config = os.environ.get("TELECASE_CONFIG")
        if config:
            if not Path(config).is_file():
                raise SettingsError(f"TELECASE_CONFIG: no such file {config}")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config))
        return tuple(sources)

    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092",
        validation_alias=AliasChoices("TELECASE_KAFKA_BOOTSTRAP_SERVERS",
                                      "KAFKA_BOOTSTRAP_SERVERS"))
    database_url: str | None = Field(
        None, validation_alias=AliasChoices("TELECASE_DATABASE_URL", "DATABASE_URL"))
    """Projections. Default: SQLite in the data directory for ``telecase run`` (embedded),
    ``postgresql+psycopg://postgres@127.0.0.1:5432/telecase`` for the Kafka processes."""
    topic_prefix: str = ""
    topic_partitions: int = Field(4, ge=1, le=1024)
    topic_replication_factor: int = Field(1, ge=1)
    data_dir: str = ".telecase"
    """Local state: the Faust worker's table store, and the embedded runtime's files."""
    worker_app_id: str = "telecase-worker"
    projector_group_id: str = "telecase-projector"
    consumer_session_timeout: float = Field(30.0, ge=6.0, le=300.0)
    """Seconds before a silent worker or projector's partitions go to another one."""
    instance_id: str | None = Field(None, min_length=1, max_length=200)
    """This process's stable identity in its Kafka consumer group (static membership): a
    restarted worker or projector with the same one takes its partitions back at once.
    Default: ``<hostname>-<role>``. Two live processes of one group must not share it."""

    embedded_partitions: int = Field(1, ge=1, le=64)
    """Partitions per topic in the embedded log (one keeps every chat in one ordered stream)."""

    telegram_bot_token: SecretStr | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_api_base: str = "https://api.telegram.org"
    telegram_mode: Literal["webhook", "polling"] = "webhook"
    telegram_agent_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    """Telegram user ids of agents who answer inside the group (comma-separated)."""
    webhook_host: str = "0.0.0.0"
    webhook_port: int = Field(8080, ge=0, le=65535)
    webhook_path: str = "/telegram"
    webhook_max_body_bytes: int = Field(1_000_000, ge=1024)
    webhook_body_timeout_seconds: float = Field(10.0, gt=0)
    """How long the webhook waits for a whole request body before answering 408."""
    webhook_public_url: str | None = None
    """The webhook's public HTTPS URL: ``telecase run`` and ``telecase connector telegram``
    (webhook mode) call ``setWebhook`` with it at start (unset: ``telecase telegram
    set-webhook`` by hand)."""
    webhook_max_connections: int = Field(40, ge=1, le=100)
    """``setWebhook``'s ``max_connections``: simultaneous HTTPS connections Telegram opens."""
    webhook_front_process: bool = True
    """Embedded runtime: serve the webhook from a process of its own (HTTP, the update check and
    the acknowledging fsync on another core, into a spool the main process moves into the log;
    :mod:`streams.runtime.embedded.spool`). ``false``: in the main process."""

    salesforce_auth: Literal["jwt", "client_credentials", "password"] | None = None
    """The OAuth flow (see README "Salesforce org setup"). Unset: ``jwt`` with a private key
    file, else ``client_credentials`` with a consumer secret and no password, else the legacy
    ``password`` (SOAP ``login()``) when a password is set."""
    salesforce_consumer_key: str | None = None
    """The External Client App's / Connected App's consumer key (jwt, client_credentials)."""
    salesforce_private_key_file: str | None = None
    """PEM private key whose certificate is uploaded to the app (jwt)."""
    salesforce_consumer_secret: SecretStr | None = None
    """The app's consumer secret (client_credentials)."""
    salesforce_username: str | None = None
    """The integration user (jwt, password)."""
    salesforce_password: SecretStr | None = None
    salesforce_security_token: SecretStr | None = None
    salesforce_domain: str = "login"
    """``login`` for production orgs, ``test`` for sandboxes, or the org's My Domain without
    ``.salesforce.com`` (``acme.my``, ``acme--uat.sandbox.my``); client_credentials needs the
    My Domain."""
    salesforce_api_version: str = "68.0"
    """The REST API version (68.0 is Winter '27); the legacy password flow uses 64.0 at most,
    the last version with SOAP ``login()``."""
    salesforce_login_url: str | None = None
    """Send every login and token request (any ``*.salesforce.com`` host, SOAP or OAuth) to this
    URL instead (the simulator, a proxy)."""
    salesforce_ca_file: str | None = None
    salesforce_customer_object: Literal["Contact", "Lead"] = "Contact"
    """What an unknown customer becomes (an existing Contact or Lead is matched either way)."""
    salesforce_message_object: Literal["Task", "FeedItem"] = "Task"
    """What each customer message becomes on the Case."""
    salesforce_lead_source: str | None = None
    salesforce_assignment_rules_on_create: bool = False
    """Whether the org's Case/Lead assignment rules run on the records telecase creates. Off
    when telecase's desk assigns (they must not fight); updates never run them (every update
    carries ``Sforce-Auto-Assign: FALSE``)."""
    salesforce_report_fields: bool = False
    """Keep the Case's reportable fields (first response, resolution, SLA state, breaches,
    escalation level, channel, pilot group: ``connectors.salesforce.case_report``) current.
    Turn it on once ``telecase salesforce setup`` created them."""
    salesforce_notifications: bool = False
    """Deadline notifications in Salesforce: a warned, breached or escalated ticket's Case
    owner (and at escalation level 2 the queue's team lead) gets a custom notification
    (``connectors.salesforce.notifications``). Turn it on once ``telecase salesforce setup``
    created the notification type."""
    salesforce_notification_type: str = "Telecase_SLA_Deadline"
    """The CustomNotificationType's ``DeveloperName`` (made by ``telecase salesforce setup``)."""
    sla_clock_of_record: Literal["telecase", "salesforce"] = "telecase"
    """Whose SLA clock counts: ``telecase`` (Salesforce's Case Milestones follow it) or
    ``salesforce``: the open milestones' ``TargetDate`` and ``IsViolated`` are read back every
    ``salesforce_milestone_interval`` seconds (``connectors.salesforce.milestone_reader``),
    each new target is logged (``sla.target_adopted``) and the ticket's warnings, breach and
    escalation follow it (``streams.sla.clock.adopt``); ``telecase reconcile`` reports where
    the two still disagree (``connectors.salesforce.deadline_check``)."""
    salesforce_milestone_interval: float = Field(60.0, gt=0)
    """Seconds between reads of the open Case Milestones (one API call a round) when
    Salesforce is the SLA clock of record; longer while the org's API usage is high."""
    salesforce_opportunities: bool = False
    """Deals: a qualified ticket also becomes an Opportunity whose stage follows the ticket
    (``connectors.salesforce.opportunities``; README "Opportunities"). Turn it on once
    ``telecase salesforce setup`` created Opportunity ``Telecase_Ticket_Id__c``."""
    salesforce_opportunity_min_deal_size: Decimal | None = Field(None, ge=0)
    """A ticket whose intake form's deal size is at least this is a deal (unset: none is)."""
    salesforce_opportunity_queues: Annotated[list[str], NoDecode] = Field(
        default_factory=list)
    """A ticket the desk routes to one of these queues is a deal (comma-separated)."""
    salesforce_opportunity_stage_opened: str = "Qualification"
    salesforce_opportunity_stage_replied: str = "Needs Analysis"
    salesforce_opportunity_stage_closed: str = "Closed Won"
    """The Opportunity's stage (a StageName value of the org) when the ticket is opened, when
    an agent first replies, and when it is closed."""
    salesforce_opportunity_close_days: int = Field(30, ge=0)
    """A new Opportunity's CloseDate: the day it qualified plus this many days."""
    salesforce_lead_converted_status: str | None = None
    """The Lead status a converted Lead gets (unset: the org's first converted LeadStatus)."""

    @field_validator("salesforce_opportunity_queues", mode="before")
    @classmethod
    def _queue_list(cls, v: object) -> object:
        return [q.strip() for q in v.split(",") if q.strip()] if isinstance(v, str) else v

    salesforce_integration_user_id: str | None = None
    """The user telecase writes as (default: looked up by ``salesforce_username``); changes it
    made are never read back as agents' changes."""
    salesforce_poll_interval: float = Field(30.0, gt=0)
    """Seconds between polls for agents' CaseComments and Case changes (two API calls each)."""
    salesforce_poll_overlap: float = Field(60.0, ge=0)
    salesforce_poll_lookback: float = Field(86400.0, ge=0)
    """On a first start (nothing in ``salesforce.changes`` yet), how far back to read."""
    salesforce_poll_max_backoff: float = Field(300.0, gt=0)
    salesforce_sync_max_backoff: float = Field(60.0, gt=0)
    salesforce_sync_linger: float = Field(1.5, ge=0, le=10)
    """Seconds a sync batch may wait to grow before it is written (adaptive: only while
    records keep arriving; ``connectors.salesforce.linger``); 0: never. Fewer API calls per
    message at low rates; it delays the Case, never a reply, and stays far below any SLA."""
    """The longest wait between retries while Salesforce is down or over its daily limit."""
    salesforce_limit_conserve_at: float = Field(0.80, gt=0, le=1)
    """Share of the org's daily API allocation (all clients, ``Sforce-Limit-Info``) from which
    telecase conserves: batches linger longer and the change poller polls less often
    (``connectors.salesforce.limit_guard``)."""
    salesforce_limit_essential_at: float = Field(0.95, gt=0, le=1)
    """Share from which telecase also stops non-essential calls (reconciliation, Knowledge
    search, outreach look-ups) and alerts; customers' messages and agents' replies go on."""
    salesforce_limit_slowdown: float = Field(4.0, ge=1)
    """How much longer batches linger and polls wait while conserving."""
    salesforce_limits_interval: float = Field(300.0, ge=0)
    """Read ``/limits`` at start and whenever no response header has updated the usage for
    this many seconds (0: never; the headers alone)."""

    telegram_out_per_chat_per_second: int = Field(1, ge=1)
    telegram_out_per_group_per_minute: int = Field(20, ge=1)
    telegram_out_per_second: int = Field(30, ge=1)
    """The reply mirror's pace: Telegram's documented limits for bots."""
    telegram_ledger_url: str | None = None
    """Where the reply mirror records what it delivered (default: the database in Kafka
    mode, ``<data_dir>/telegram-ledger.sqlite`` embedded). Deleting it allows resends."""

    reconcile_interval: float = Field(0.0, ge=0)
    """Seconds between reconciliations with Salesforce inside ``telecase run`` and
    ``telecase connector salesforce`` (0: off; ``telecase reconcile`` runs one by hand)."""
    demo_agent_interval: float = Field(5.0, ge=0)
    """``telecase run --demo`` with the simulated org: seconds between the demo agent's answers
    (0: the demo agent never answers)."""

    intake_enabled: bool = True
    """Private chats with the bot take conversations in: the intake form (``intake_command``)
    and tickets. ``False``: they open nothing (kept raw, counted as the pilot's)."""
    intake_command: str = "/start"
    """The command that starts the bot intake form in a private chat (empty: no form; every
    private message goes to a ticket as before)."""
    intake_timeout: float = Field(1800.0, gt=0)
    """Seconds without an answer after which an open intake form is abandoned."""
    default_phone_region: str | None = None
    """The region (ISO 3166 code, e.g. ``GB``) of a shared phone number given without a
    country code; every phone is stored in E.164 (``streams.core.phones``; unset: none)."""
    intake_topic_chat_id: int | None = None
    """The team's forum group: each ticket opened by an intake form gets a topic there with
    the form's summary, and rostered agents' messages in it reach the customer. The group
    opens no tickets itself (unset: no topics)."""
    outreach_chat_id: int | None = None
    """The team forum where ``telecase ticket open`` opens a topic per outreach ticket (a
    forum supergroup the customers are members of; unset: ``--chat`` is required)."""
    telegram_silence_after: float = Field(0.0, ge=0)
    """Seconds without an inbound Telegram update, during business hours (the SLA policy's
    calendar, else always), after which telecase warns (0: never; ``telecase.ops.silence``)."""
    lead_chat_id: int | None = None
    """The team lead chat telecase notifies when Telegram falls silent (unset: no notice)."""
    silence_salesforce_owner: str | None = None
    """The Salesforce User (Id, e.g. the team lead's) that gets a Task "Telegram is silent"
    once per silence episode (``telecase.ops.silence_salesforce``; unset: no Task)."""
    intake_products: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """The intake form's product choices (comma-separated; empty: free text)."""
    intake_regions: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["EMEA", "Americas", "APAC"], min_length=1)
    """The intake form's region choices (comma-separated)."""
    files_max_bytes: int = Field(20 * 1024 * 1024, ge=0)
    """The largest customer file copied into Salesforce as a File (bytes; Telegram lets a bot
    download at most 20 MB, so more is linked whatever this says); a bigger one is attached
    as a link to the message (``connectors.salesforce.files``)."""
    files_kinds: Annotated[list[str], NoDecode] = Field(default_factory=lambda: [
        "photo", "document", "video", "voice", "audio", "sticker"])
    """Which kinds of customer file travel to the Case (comma-separated)."""
    pilot_chats: Annotated[list[int] | None, NoDecode] = None
    """Pilot rollout: the forum groups that open tickets (comma-separated chat ids; unset:
    every group). Other groups' messages stay in ``telegram.updates``, counted
    (``telecase_pilot_skipped_total``) and logged at DEBUG only."""

    policy_file: str | None = None
    """The SLA, escalation, routing and assignment policy (TOML; ``examples/policy.toml`` and
    ``examples/routing.toml`` are documented examples, and one file may hold both). ``None``:
    no SLA timers and no assignment."""
    sla_tick_interval: float = Field(1.0, gt=0, le=60)
    """How often a ticket worker looks for SLA timers that came due (seconds)."""
    sla_tick_max_due: int = Field(TICK_MAX_DUE, ge=1, le=1_000_000)
    """At most this many threads' timers fire in one tick of a partition; more due (a restart
    after downtime) fire in the ticks that follow at once. Each tick's fired states and events
    are held in memory until its batch is written (about 3 KB a thread: ``telecase bench
    timers --live``)."""
    sla_clock_offset: float = 0.0
    """Tests and ops drills only: seconds added to the ticket workers' clock (their SLA ticker),
    so a test moves time forward instead of sleeping. Leave it 0 in production."""

    templates_file: str | None = None
    """Response templates agents use with ``/t <name>`` (TOML, ``[templates.<name>]`` with
    ``text``; ``examples/templates.toml`` documents it). Checked at start."""
    templates_quick_text: bool = False
    """Also offer the org's Quick Text records as templates (needs the Salesforce settings; a
    file template wins a name both have)."""
    templates_refresh_interval: float = Field(300.0, ge=0)
    """Seconds between re-reads of Quick Text by ``telecase run`` (0: read once at start; the
    Kafka worker reads it at start)."""
    knowledge_language: str = "en_US"
    """The language of the Knowledge articles ``/kb <query>`` searches."""
    knowledge_object: str = "Knowledge__kav"
    """The article version object (``<prefix>__kav``)."""
    knowledge_article_url: str | None = None
    """Where customers read an article: a URL with ``{url_name}`` (also ``{id}``,
    ``{knowledge_article_id}``, ``{article_number}``, ``{language}``), e.g.
    ``https://help.example.com/s/article/{url_name}``. Unset: the article's page in the org,
    which only your users can open."""

    log_level: Literal["debug", "info", "warning", "error"] = "info"
    metrics_port: int | None = Field(None, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"
    """The address ``/metrics`` listens on (``0.0.0.0``: every interface, for a Prometheus in
    another container or host)."""

    audit_api_keys_file: str | None = None
    """The audit API's keys (TOML, ``[keys.<name>]``: SHA-256 of the key, role, agent id,
    ``pii``); ``telecase audit serve`` needs it."""
    audit_api_host: str = "127.0.0.1"
    audit_api_port: int = Field(8090, ge=0, le=65535)

    dashboard_host: str = "127.0.0.1"
    dashboard_port: int | None = Field(None, ge=0, le=65535)
    """``telecase run`` serves the dashboard on this port (unset: only with ``--demo``, on
    8091); ``telecase dashboard`` too (unset: 8091). Logins use the audit API's keys."""
    dashboard_secret: SecretStr | None = None
    """Signs the dashboard's session cookies (unset: random per process, so a restart ends
    every session); give several dashboard processes behind one address the same one."""

    @field_validator("telegram_agent_ids", "pilot_chats", "intake_products", "intake_regions",
                     "files_kinds", mode="before")
    @classmethod
    def _comma_list(cls, v: object) -> object:
        if isinstance(v, str):
            return [part.strip() for part in v.split(",") if part.strip()]
        if isinstance(v, int):
            return [v]
        return v

    @field_validator("salesforce_limit_essential_at")
    @classmethod
    def _limit_thresholds(cls, v: float, info: ValidationInfo) -> float:
        conserve = info.data.get("salesforce_limit_conserve_at")
        if conserve is not None and v < conserve:
            raise ValueError("must be at least TELECASE_SALESFORCE_LIMIT_CONSERVE_AT")
        return v

    @field_validator("default_phone_region")
    @classmethod
    def _phone_region(cls, v: str | None) -> str | None:
        if v and not known_region(v):
            raise ValueError("must be a region code phone numbers use, such as GB or US")
        return v.upper() if v else None

    @field_validator("telegram_bot_token")
    @classmethod
    def _token_shape(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None:
            head, _, tail = v.get_secret_value().partition(":")
            if not head.isdigit() or not tail:
                raise ValueError("must look like '<bot id>:<secret>' as BotFather issues it")
        return v

    def projection_url(self, runtime: RuntimeKind | str) -> str:
        if self.database_url:
            return self.database_url
        if runtime == "embedded":
            return f"sqlite:///{Path(self.data_dir).resolve() / 'projections.sqlite'}"
        return "postgresql+psycopg://postgres@127.0.0.1:5432/telecase"

    @property
    def default_runtime(self) -> RuntimeKind:
        """Kafka when ``KAFKA_BOOTSTRAP_SERVERS`` is configured, else the embedded log (what
        commands that work on either runtime use when not told)."""
        if "kafka_bootstrap_servers" in self.model_fields_set:
            return RuntimeKind.KAFKA
        return RuntimeKind.EMBEDDED

    @property
    def has_salesforce_credentials(self) -> bool:
        """Whether any login flow is configured (which one: ``salesforce_auth_flow``)."""
        return self.salesforce_auth_flow is not None

    @property
    def salesforce_auth_flow(self) -> str | None:
        if self.salesforce_auth is not None:
            return self.salesforce_auth
        if self.salesforce_private_key_file is not None:
            return "jwt"
        if self.salesforce_consumer_secret is not None and self.salesforce_password is None:
            return "client_credentials"
        if self.salesforce_username is not None and self.salesforce_password is not None:
            return "password"
        return None

    @property
    def has_telegram_credentials(self) -> bool:
        return self.telegram_bot_token is not None

    @property
    def bot_id(self) -> int:
        return int(self.require_token().split(":", 1)[0])

    def require_token(self) -> str:
        if self.telegram_bot_token is None:
            raise SettingsError("TELECASE_TELEGRAM_BOT_TOKEN is not set")
        return self.telegram_bot_token.get_secret_value()

    def require_webhook_secret(self) -> str:
        if self.telegram_webhook_secret is None:
            raise SettingsError("TELECASE_TELEGRAM_WEBHOOK_SECRET is not set (webhook mode "
                                "needs the secret_token given to setWebhook)")
        return self.telegram_webhook_secret.get_secret_value()


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except (OSError, ValueError) as exc:
        if not isinstance(exc, ValidationError):
            raise SettingsError(f"TELECASE_CONFIG: cannot read it: {exc}") from None
        raise _explain(exc) from None


def _explain(exc: ValidationError) -> SettingsError:
    lines = [f"  TELECASE_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}"
             for e in exc.errors()]
    return SettingsError("invalid configuration:\n" + "\n".join(lines))

"""Building the Salesforce client (simple-salesforce) and the sync from settings.

Every client sends its requests through a :class:`~connectors.api_calls.MeteredSession`, so
each Salesforce call telecase makes is counted in ``telecase_salesforce_api_calls_total``, and
whose answers' ``Sforce-Limit-Info`` feed the process's one
:class:`~connectors.salesforce.limit_guard.LimitGuard` per org (:func:`limit_guard`; its
``/limits`` reads: :func:`watch_api_limits`).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import structlog

from connectors.api_calls import MeteredSession
from connectors.raw_log import RawLog
from connectors.salesforce.api import Writer
from connectors.salesforce.auth import (
    AuthFlow,
    Credentials,
    SalesforceAuthError,
    SharedClients,
    current_user_id,
    login,
)
from connectors.salesforce.case_sync import CaseSync, SimpleSalesforceApi
from connectors.salesforce.change_poller import ChangePoller, LogWatermarks, SalesforceChangeApi
from connectors.salesforce.comments import SqlWriteLedger
from connectors.salesforce.files import CaseFiles, FilePolicy, SqlFileLedger
from connectors.salesforce.http import redirect_logins, watch_limit_info
from connectors.salesforce.limit_guard import LimitGuard, watch_limits
from connectors.salesforce.milestone_reader import LogMilestones, MilestoneReader
from connectors.salesforce.notifications import (
    DeadlineNotifier,
    NotificationPolicy,
    NotificationsRunner,
    SimpleNotificationApi,
    SqlNotificationLedger,
)
from connectors.salesforce.opportunities import (
    DealRule,
    LeadConverter,
    Opportunities,
    StageMap,
)
from connectors.salesforce.opportunities_runner import OpportunitiesRunner
from connectors.salesforce.people import Conversions
from connectors.salesforce.reconcile import MilestoneCheck
from connectors.salesforce.sync_runner import SyncRunner
from connectors.telegram.bot_api import BotApi
from connectors.telegram.files import TelegramFiles
from connectors.telegram.ledger import make_ledger_engine
from streams.runtime.bus import Bus
from streams.runtime.topics import TopicNames
from telecase.bootstrap.policy import load_policies
from telecase.settings import Settings, SettingsError

log = structlog.get_logger(__name__)


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


def http_session(settings: Settings) -> MeteredSession:
    """The session simple-salesforce sends through. With ``salesforce_login_url`` it trusts
    ``salesforce_ca_file``, ignores proxy and CA-bundle variables, and sends every login and
    token request to that URL (:func:`connectors.salesforce.http.redirect_logins`)."""
    session = MeteredSession()
    if settings.salesforce_login_url:
        redirect_logins(session, settings.salesforce_login_url, settings.salesforce_ca_file)
    return watch_limit_info(session, limit_guard(settings).observe)


_GUARDS: dict[tuple[str, str], LimitGuard] = {}
_GUARDS_LOCK = threading.Lock()


def limit_guard(settings: Settings) -> LimitGuard:
    """The process's limit guard for the org these settings log in to (one per org: every
    client of it shares the org's allocation), with the thresholds the settings give."""
    key = (settings.salesforce_domain, settings.salesforce_login_url or "")
    with _GUARDS_LOCK:
        guard = _GUARDS.get(key)
        if guard is None:
            guard = _GUARDS[key] = LimitGuard(
                conserve_at=settings.salesforce_limit_conserve_at,
                essential_at=settings.salesforce_limit_essential_at,
                slowdown=settings.salesforce_limit_slowdown)
        return guard


_CONVERSIONS: dict[tuple[str, str], Conversions] = {}


def lead_conversions(settings: Settings) -> Conversions:
    """The Leads the process's deals convert, which its Case sync follows (one per org)."""
    key = (settings.salesforce_domain, settings.salesforce_login_url or "")
    with _GUARDS_LOCK:
        return _CONVERSIONS.setdefault(key, Conversions())


async def watch_api_limits(settings: Settings, stop: asyncio.Event) -> None:
    """Keep :func:`limit_guard` informed from ``/limits`` when the headers fall silent
    (``salesforce_limits_interval``; 0: the headers alone), until ``stop``."""
    if settings.salesforce_limits_interval <= 0:
        await stop.wait()  # a loop of the process: it ends when the process stops
        return
    client = await connect(settings)
    await watch_limits(limit_guard(settings), client.limits,
                       settings.salesforce_limits_interval, stop)


_NEEDS = {
    AuthFlow.JWT: ("salesforce_consumer_key", "salesforce_private_key_file",
                   "salesforce_username"),
    AuthFlow.CLIENT_CREDENTIALS: ("salesforce_consumer_key", "salesforce_consumer_secret"),
    AuthFlow.PASSWORD: ("salesforce_username", "salesforce_password"),
}


def credentials(settings: Settings) -> Credentials:
    """The login settings, checked: a missing or unreadable one is named."""
    name = settings.salesforce_auth_flow
    if name is None:
        raise SettingsError(
            "Salesforce is not configured: set TELECASE_SALESFORCE_CONSUMER_KEY with "
            "TELECASE_SALESFORCE_PRIVATE_KEY_FILE and TELECASE_SALESFORCE_USERNAME (jwt), or "
            "with TELECASE_SALESFORCE_CONSUMER_SECRET and a My Domain in "
            "TELECASE_SALESFORCE_DOMAIN (client_credentials)")
    flow = AuthFlow(name)
    missing = [f"TELECASE_{n.upper()}" for n in _NEEDS[flow] if getattr(settings, n) is None]
    if missing:
        raise SettingsError(f"TELECASE_SALESFORCE_AUTH={flow.value} needs "
                            + ", ".join(missing))
    if flow is AuthFlow.CLIENT_CREDENTIALS and settings.salesforce_domain in ("login", "test"):
        raise SettingsError("TELECASE_SALESFORCE_DOMAIN: the client credentials flow goes to "
                            "the org's My Domain (such as acme.my), not "
                            f"{settings.salesforce_domain!r}")
    key_file = settings.salesforce_private_key_file
    if flow is AuthFlow.JWT and key_file is not None and not Path(key_file).is_file():
        raise SettingsError(f"TELECASE_SALESFORCE_PRIVATE_KEY_FILE: no such file: {key_file}")
    return Credentials(
        flow=flow, domain=settings.salesforce_domain,
        api_version=settings.salesforce_api_version, username=settings.salesforce_username,
        password=_secret(settings.salesforce_password),
        security_token=_secret(settings.salesforce_security_token),
        consumer_key=settings.salesforce_consumer_key,
        consumer_secret=_secret(settings.salesforce_consumer_secret),
        private_key_file=key_file)


#: One login per process, shared by every component that talks to Salesforce.
CLIENTS = SharedClients()


async def connect(settings: Settings) -> Any:
    """The process's logged-in ``simple_salesforce.Salesforce`` for these settings: the first
    caller logs in, later ones share its session (simple-salesforce logs in again by itself
    when it expires). Credentials the org refuses stop the caller with a
    :class:`SettingsError` that names the flow and Salesforce's reason."""
    creds = credentials(settings)
    route = settings.salesforce_login_url or ""

    def login_once() -> Any:
        if creds.flow is AuthFlow.PASSWORD:
            log.warning("salesforce_legacy_login", flow="password",
                        api_version=creds.effective_version,
                        advice="SOAP login() is retired in Summer '27: use "
                               "TELECASE_SALESFORCE_AUTH=jwt or client_credentials")
        return login(creds, http_session(settings))

    try:
        return await asyncio.to_thread(CLIENTS.get, creds, route, login_once)
    except SalesforceAuthError as exc:
        raise SettingsError(f"Salesforce login failed ({_setting_hint(creds.flow)}): "
                            f"{exc}") from None


def _setting_hint(flow: AuthFlow) -> str:
    return "check " + ", ".join(f"TELECASE_{n.upper()}" for n in _NEEDS[flow])


async def case_sync(settings: Settings) -> CaseSync:
    """The outbound sync; the CaseComments and FeedItems it writes are recorded in the ledger
    database the Telegram delivery ledger uses (:func:`write_ledger`)."""
    return CaseSync(SimpleSalesforceApi(await connect(settings)),
                    customer_object=settings.salesforce_customer_object,
                    message_object=settings.salesforce_message_object,
                    lead_source=settings.salesforce_lead_source,
                    assign_on_create=settings.salesforce_assignment_rules_on_create,
                    report_fields=settings.salesforce_report_fields,
                    entitlements=_entitlements(settings),
                    ledger=await asyncio.to_thread(write_ledger, settings),
                    integration_user_id=settings.salesforce_integration_user_id,
                    integration_username=settings.salesforce_username,
                    conversions=lead_conversions(settings))


async def sync_runner(settings: Settings, bus: Bus, names: TopicNames,
                      links: RawLog | None) -> SyncRunner:
    """The sync of ``ticket.events`` (:func:`case_sync`): a batch lingers up to
    ``TELECASE_SALESFORCE_SYNC_LINGER`` seconds while it grows, longer (and grows larger) when
    the org is near its daily limit (:func:`limit_guard`'s ``widen``)."""
    return SyncRunner(bus, names, await case_sync(settings), links=links,
                      max_backoff=settings.salesforce_sync_max_backoff,
                      linger=settings.salesforce_sync_linger, widen=limit_guard(settings).widen)


def _entitlements(settings: Settings) -> dict[str, str]:
    """SLA tier -> Entitlement, from the policy file's tiers (``entitlement``)."""
    sla = load_policies(settings.policy_file).sla
    return sla.entitlements() if sla is not None else {}


def write_ledger(settings: Settings) -> SqlWriteLedger:
    """The write ledger (:mod:`connectors.salesforce.comments`), its table created if missing:
    in ``TELECASE_TELEGRAM_LEDGER_URL``'s database, else ``TELECASE_DATABASE_URL``'s, else
    SQLite under ``data_dir`` (on a machine of its own, its loss only costs crash recovery's
    one query per batch)."""
    ledger = SqlWriteLedger(make_ledger_engine(write_ledger_url(settings)))
    ledger.create()
    return ledger


def write_ledger_url(settings: Settings) -> str:
    """The write ledger's database (see :func:`write_ledger`)."""
    url = settings.telegram_ledger_url or settings.database_url
    if not url:
        path = Path(settings.data_dir) / "salesforce-ledger.sqlite"
        path.parent.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{path}"
    return url


async def change_poller(settings: Settings, raw_log: RawLog, bus: Bus,
                        names: TopicNames) -> ChangePoller:
    """The poller for agents' changes, appending to ``salesforce.changes`` through
    ``raw_log`` and recovering its watermark from that topic on ``bus``."""
    overlap = settings.salesforce_poll_overlap
    client = await connect(settings)
    return ChangePoller(
        SalesforceChangeApi(client), raw_log,
        integration_user_id=await integration_user_id(settings, client),
        integration_username=None if settings.salesforce_integration_user_id
        else settings.salesforce_username,
        watermarks=LogWatermarks(bus, names.salesforce_changes, overlap=overlap),
        interval=settings.salesforce_poll_interval, overlap=overlap,
        lookback=settings.salesforce_poll_lookback,
        max_backoff=settings.salesforce_poll_max_backoff,
        pace=limit_guard(settings).poll_factor)


async def milestone_reader(settings: Settings, raw_log: RawLog, bus: Bus,
                           names: TopicNames) -> MilestoneReader | None:
    """With ``TELECASE_SLA_CLOCK_OF_RECORD=salesforce``, the reader of the open Case
    Milestones, appending their new targets to ``salesforce.changes`` (``None`` otherwise:
    Salesforce's milestones follow telecase's clock)."""
    if settings.sla_clock_of_record != "salesforce":
        return None
    guard = limit_guard(settings)
    return MilestoneReader(
        SalesforceChangeApi(await connect(settings)), raw_log,
        known=LogMilestones(bus, names.salesforce_changes),
        interval=settings.salesforce_milestone_interval,
        max_backoff=settings.salesforce_poll_max_backoff, pace=guard.poll_factor,
        allows=lambda: guard.allows("milestones"))


async def integration_user_id(settings: Settings, client: Any) -> str | None:
    """The user telecase writes as: ``TELECASE_SALESFORCE_INTEGRATION_USER_ID``; else, with no
    username to look it up by (the client credentials flow), the token's own user; else
    ``None`` (looked up by ``TELECASE_SALESFORCE_USERNAME``)."""
    if settings.salesforce_integration_user_id is not None:
        return settings.salesforce_integration_user_id
    if settings.salesforce_username is not None:
        return None
    return await asyncio.to_thread(current_user_id, client, settings.salesforce_domain)


async def case_files(settings: Settings) -> tuple[CaseFiles, Callable[[], Awaitable[None]]]:
    """The customer-file connector (:mod:`connectors.salesforce.files`) and what closes its
    Telegram clients; its ledger lives in the write ledger's database."""
    token, base = settings.require_token(), settings.telegram_api_base
    bot = BotApi(token, base)
    source = TelegramFiles(bot, token, base)
    ledger = SqlFileLedger(make_ledger_engine(write_ledger_url(settings)))
    await asyncio.to_thread(ledger.create)

    async def close() -> None:
        await source.aclose()
        await bot.aclose()

    policy = FilePolicy(max_bytes=settings.files_max_bytes,
                        kinds=frozenset(settings.files_kinds))
    return CaseFiles(SimpleSalesforceApi(await connect(settings)), source, ledger,
                     policy=policy), close


async def opportunities_runner(settings: Settings, bus: Bus,
                               names: TopicNames) -> OpportunitiesRunner:
    """Deals (``TELECASE_SALESFORCE_OPPORTUNITIES``): the Opportunities of qualified tickets
    (:mod:`connectors.salesforce.opportunities`), a consumer of ``ticket.events`` that the
    limit guard slows down and, at ``essential_only``, holds."""
    client = await connect(settings)
    api = SimpleSalesforceApi(client)
    deals = Opportunities(
        api, Writer(api, time.sleep), LeadConverter(client),
        rule=DealRule(settings.salesforce_opportunity_min_deal_size,
                      frozenset(settings.salesforce_opportunity_queues)),
        stages=StageMap(settings.salesforce_opportunity_stage_opened,
                        settings.salesforce_opportunity_stage_replied,
                        settings.salesforce_opportunity_stage_closed),
        close_in_days=settings.salesforce_opportunity_close_days,
        lead_source=settings.salesforce_lead_source,
        converted_status=settings.salesforce_lead_converted_status,
        conversions=lead_conversions(settings))
    return OpportunitiesRunner(bus, names, deals, guard=limit_guard(settings),
                               linger=settings.salesforce_sync_linger,
                               max_backoff=settings.salesforce_sync_max_backoff)


async def deadline_notifications(settings: Settings, bus: Bus,
                                 names: TopicNames) -> NotificationsRunner:
    """The deadline notifications (:mod:`connectors.salesforce.notifications`,
    ``TELECASE_SALESFORCE_NOTIFICATIONS``): their ledger in the write ledger's database, the
    team leads from the assignment policy's queues (``team_lead``: an agent's User Id)."""
    ledger = SqlNotificationLedger(make_ledger_engine(write_ledger_url(settings)))
    await asyncio.to_thread(ledger.create)
    assignment = load_policies(settings.policy_file).assignment
    leads = {} if assignment is None else {
        queue_id: str(assignment.agents[queue.team_lead].salesforce_user_id)
        for queue_id, queue in assignment.queues.items() if queue.team_lead is not None}
    notifier = DeadlineNotifier(
        SimpleNotificationApi(await connect(settings)), ledger,
        NotificationPolicy(type_name=settings.salesforce_notification_type, team_leads=leads))
    return NotificationsRunner(bus, names, notifier)


def milestone_check(settings: Settings) -> MilestoneCheck | None:
    """With ``TELECASE_SLA_CLOCK_OF_RECORD=salesforce``, reconciliation compares the Cases'
    milestones with the log's deadlines (the SLA policy replays running clocks)."""
    if settings.sla_clock_of_record != "salesforce":
        return None
    return MilestoneCheck(policy=load_policies(settings.policy_file).sla)

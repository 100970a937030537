"""The dashboard's "Before and after" panel in a real browser (headless Chromium through
Playwright, as ``test_dashboard_browser``; skipped without them outside CI), against ``telecase
run``: after a customer's ticket opens today, comparing the week before today with today
shows the ticket in the compared period only, as the page's own script fills the table."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from telecase.web.audit_api import key_sha256
from tests import infra
from tests.e2e.embedded.conftest import EmbeddedDeployment, SimulatorThread
from tests.e2e.embedded.test_dashboard_browser import KEYS, POLICY, browser, log_in
from tests.e2e.kafka.conftest import free_port
from tests.e2e.kafka.test_sla_timers_kafka import write_in_private_chats

__all__ = ["browser"]


def test_the_panel_compares_the_week_before_with_today(
        embedded: EmbeddedDeployment, telegram: SimulatorThread, tmp_path: Path,
        browser: Any) -> None:
    (tmp_path / "policy.toml").write_text(POLICY)
    (tmp_path / "keys.toml").write_text("".join(
        f'[keys.{name}]\nkey_sha256 = "{key_sha256(key)}"\nrole = "{role}"\n'
        + (f'agent_id = "{agent}"\n' if agent else "") for name, (key, role, agent)
        in KEYS.items()))
    port = free_port()
    embedded.run("run", TELECASE_POLICY_FILE=str(tmp_path / "policy.toml"),
                 TELECASE_DASHBOARD_PORT=str(port),
                 TELECASE_AUDIT_API_KEYS_FILE=str(tmp_path / "keys.toml"))
    infra.wait_for(lambda: infra.port_open(port), 30, what="the dashboard's port")
    telegram.bot_api("setWebhook", url=embedded.webhook_url,
                     secret_token=embedded.webhook_secret)
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API holds this thread's loop
        pool.submit(write_in_private_chats, telegram, 1).result(30)
    infra.wait_for(lambda: embedded.cases(), 30, what="the ticket in the projection")

    page = log_in(browser, f"http://127.0.0.1:{port}", "ops")
    page.wait_for_selector("#compare tbody tr")  # the default fortnights, loaded at once
    today = datetime.now(UTC).date()
    page.fill("#compare-form input[name=before]", str(today - timedelta(days=7)))
    page.fill("#compare-form input[name=after]", str(today))
    page.fill("#compare-form input[name=until]", str(today + timedelta(days=1)))
    page.click("#compare-form button[type=submit]")
    page.wait_for_function(  # a function, not an expression: the page's CSP forbids eval
        "t => document.querySelector('#compare-after').textContent.includes(t)",
        arg=f"{today} to {today}")
    first = page.query_selector_all("#compare tbody tr")[0]
    assert [c.inner_text() for c in first.query_selector_all("th, td")] == [
        "Tickets opened", "0", "1", "+1"]
    assert page.inner_text("#compare-status") == "All chats"

    page.fill("#compare-form input[name=until]", str(today - timedelta(days=1)))
    page.click("#compare-form button[type=submit]")
    page.wait_for_selector("#compare-status:has-text('Not compared')")
    assert "until must be later than after" in page.inner_text("#compare-status")

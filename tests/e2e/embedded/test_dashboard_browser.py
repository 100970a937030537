"""The dashboard in a real browser: headless Chromium (the system's, from Debian's ``chromium``
package) driven by Playwright, against ``telecase run`` with the Telegram simulator, a desk of
two agents and an SLA of seconds. An admin logs in, a customer writes, the ticket appears on
the board counting down, and when its first-response target passes the same page (never
reloaded) shows it breached, on top. An agent who does not have the ticket sees an empty board.

Without Playwright or Chromium the test is skipped with the reason; in CI (``CI`` set, or
``TELECASE_REQUIRE_BROWSER=1`` as ``.ci/run`` sets it) it fails instead, so the suite never
passes there without having run it.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from telecase.web.audit_api import key_sha256
from tests import infra
from tests.e2e.embedded.conftest import EmbeddedDeployment, SimulatorThread
from tests.e2e.kafka.conftest import free_port
from tests.e2e.kafka.test_sla_timers_kafka import write_in_private_chats

POLICY = """
[sla]
default_tier = "fast"
warn_at = ["50%"]
[sla.teams.desk]
timezone = "UTC"
hours = "24/7"
[sla.tiers.fast]
team = "desk"
first_response = "20s"
resolution = "1h"

[routing]
default_queue = "sales"
[queues.sales]
strategy = "round_robin"
[agents.ann]
name = "Ann"
salesforce_user_id = "005000000000001AAA"
queues = ["sales"]
capacity = 5
[agents.bo]
name = "Bo"
salesforce_user_id = "005000000000002AAA"
queues = ["sales"]
capacity = 5
"""
KEYS = {"ops": ("ops-key-for-the-browser-test", "admin", None),
        "ann": ("ann-key-for-the-browser-test", "agent", "ann"),
        "bo": ("bo-key-for-the-browser-test", "agent", "bo")}


def chromium() -> str | None:
    """The system's Chromium (``TELECASE_CHROMIUM`` names another)."""
    named = os.environ.get("TELECASE_CHROMIUM")
    if named:
        return named if Path(named).is_file() else None
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    missing = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = "Playwright is not installed (pip install -e '.[dev]')"
    executable = chromium()
    if missing is None and executable is None:
        missing = ("Chromium is not installed (apt-get install chromium, or name it in "
                   "TELECASE_CHROMIUM)")
    if missing is not None:
        if any(os.environ.get(flag, "").lower() in ("1", "true", "yes")
               for flag in ("CI", "TELECASE_REQUIRE_BROWSER")):
            pytest.fail(f"the browser test must run in CI: {missing}")
        pytest.skip(missing)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True)
        try:
            yield launched
        finally:
            launched.close()


def log_in(browser: Any, base: str, who: str) -> Any:
    page = browser.new_context().new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{base}/dashboard")
    assert page.url == f"{base}/dashboard/login"  # no session: the login form
    page.fill("#key", KEYS[who][0])
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/dashboard")
    page.wait_for_function(  # a function: an expression is eval'd, which the page's CSP refuses
        "() => document.querySelector('#who').textContent.includes('Logged in')")
    return page


def test_the_board_shows_a_new_ticket_and_its_breach_without_a_reload(
        embedded: EmbeddedDeployment, telegram: SimulatorThread, tmp_path: Path,
        browser: Any) -> None:
    started = time.monotonic()
    dep = embedded
    (tmp_path / "policy.toml").write_text(POLICY)
    (tmp_path / "keys.toml").write_text("".join(
        f'[keys.{name}]\nkey_sha256 = "{key_sha256(key)}"\nrole = "{role}"\n'
        + (f'agent_id = "{agent}"\n' if agent else "") for name, (key, role, agent)
        in KEYS.items()))
    port = free_port()
    dep.run("run", TELECASE_POLICY_FILE=str(tmp_path / "policy.toml"),
            TELECASE_SLA_TICK_INTERVAL="0.2", TELECASE_DASHBOARD_PORT=str(port),
            TELECASE_AUDIT_API_KEYS_FILE=str(tmp_path / "keys.toml"))
    infra.wait_for(lambda: infra.port_open(port), 30, what="the dashboard's port")
    base = f"http://127.0.0.1:{port}"
    page = log_in(browser, base, "ops")
    page.wait_for_selector("#board tbody td.muted")  # nothing open yet
    page.evaluate("window.__sameDocument = true")  # gone if the page were ever reloaded

    telegram.bot_api("setWebhook", url=dep.webhook_url, secret_token=dep.webhook_secret)
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API holds this thread's loop
        pool.submit(write_in_private_chats, telegram, 1).result(30)
    row = page.wait_for_selector("#board tbody tr[data-ticket-id]", timeout=30_000)
    ticket_id = row.get_attribute("data-ticket-id")
    assert ticket_id is not None and ticket_id.startswith("tg:")
    assert "breached" not in (row.get_attribute("class") or "")
    sla = row.query_selector("td.sla")
    assert sla is not None and sla.inner_text() in ("running", "warned")
    assert row.query_selector("td.tier").inner_text() == "fast"  # type: ignore[union-attr]
    page.route("**/dashboard/api/board", lambda route: route.abort())  # no polls for now:
    countdown = page.inner_text("#board td.countdown")
    page.wait_for_function(  # the page counts down from the deadline by itself
        "t => document.querySelector('#board td.countdown').textContent !== t", arg=countdown,
        timeout=5_000)
    page.unroute("**/dashboard/api/board")
    page.wait_for_function(  # the desk assigns it: a later poll brings the agent
        "() => ['ann', 'bo'].includes(document.querySelector('#board td.agent').textContent)",
        timeout=30_000)
    agent = page.inner_text("#board td.agent")

    page.wait_for_selector(f"#board tbody tr.breached[data-ticket-id='{ticket_id}']",
                           timeout=45_000)
    assert page.inner_text("#board td.sla") == "breached"
    assert page.inner_text("#board td.countdown").startswith("breached")
    assert page.evaluate("window.__sameDocument") is True  # updated in place, not reloaded
    assert page.inner_text("#board-status").startswith("1 open, 1 breached")
    page.wait_for_selector("#chart-workloads svg[role=img]")
    assert "Ann" in page.inner_text("#chart-workloads")
    if shot := os.environ.get("TELECASE_SCREENSHOT"):  # README's picture (docs/dashboard.png)
        page.set_viewport_size({"width": 1100, "height": 640})
        page.screenshot(path=shot)

    other = "bo" if agent == "ann" else "ann"
    theirs, not_theirs = log_in(browser, base, agent), log_in(browser, base, other)
    theirs.wait_for_selector(f"#board tbody tr[data-ticket-id='{ticket_id}']")
    not_theirs.wait_for_selector("#board-status:has-text('0 open')")
    assert not_theirs.query_selector("#board tbody tr[data-ticket-id]") is None
    print(f"browser test: {time.monotonic() - started:.1f}s")

"""A manual ticket linked later to the Telegram customer who shares the caller's phone, end
to end on the embedded runtime (``streams.core.phone_links``, ``connectors.salesforce.callers``):
``telecase ticket open --manual`` with a name and a phone makes a Case with the caller's
Contact; the customer then writes to the bot (a Contact of their own, by Telegram id) and
shares that phone, and the manual ticket gets ``ticket.customer_linked``, the customer in the
projection, and its Case the customer's Contact. (A customer whose first message shares the
phone claims the caller's Contact instead: ``tests/adapters/salesforce/
test_case_sync_callers.py``.)"""

from __future__ import annotations

from pathlib import Path

from tests.e2e.embedded.conftest import EmbeddedDeployment, SimulatorThread
from tests.e2e.embedded.test_ticket_open import _open
from tests.e2e.kafka.conftest import SalesforceThread
from tests.e2e.kafka.test_ticket_pipeline import ticket_log
from tests.infra import wait_for

PHONE = "+442079460000"


def test_a_manual_ticket_is_linked_to_the_customer_who_shares_the_callers_phone(
        embedded: EmbeddedDeployment, telegram: SimulatorThread, tmp_path: Path) -> None:
    salesforce = SalesforceThread(tmp_path / "sf-certs")
    try:
        ann = telegram.drive(lambda tg: tg.create_user("Ann", username="ann",
                                                       phone="+44 20 7946 0000"))
        env = {**salesforce.env(), "TELECASE_TELEGRAM_API_BASE": telegram.base_url}
        embedded.extra_env = env  # type: ignore[attr-defined]
        embedded.run("run", **env)
        telegram.bot_api("setWebhook", url=embedded.webhook_url,
                         secret_token=embedded.webhook_secret)

        out = _open(embedded, "--manual", "--customer-name", "Ann Caller", "--phone",
                    "0044 20 7946 0000", "--note", "Called about an invoice", "--by", "maria")
        manual_id = out.split("ticket: ")[1].split()[0]
        [case] = wait_for(lambda: [c for c in salesforce.records("Case")
                                   if c["Telecase_Ticket_Id__c"] == manual_id
                                   and c.get("ContactId")], 30,
                          what="the manual Case with the caller's Contact")
        [caller] = salesforce.records("Contact")
        assert caller["Id"] == case["ContactId"] and caller["MobilePhone"] == PHONE

        telegram.drive(lambda tg: tg.write(ann["id"], ann["id"], "Hi, I called earlier"))
        private_id = f"tg:{ann['id']}:p:1"

        def contact_of(ticket: str) -> str | None:
            return next((c.get("ContactId") for c in salesforce.records("Case")
                         if c["Telecase_Ticket_Id__c"] == ticket), None)

        ann_contact = wait_for(lambda: contact_of(private_id), 30,
                               what="Ann's Contact (by her Telegram id: no phone yet)")
        assert ann_contact != caller["Id"]
        telegram.drive(lambda tg: tg.share_contact(ann["id"], ann["id"]))
        [row] = wait_for(lambda: [r for r in embedded.cases() if r["ticket_id"] == manual_id
                                  and r["customer_telegram_id"] == ann["id"]], 30,
                         what="the manual ticket linked to Ann")
        assert row["customer_name"] == "Ann Caller" and row["channel"] == "manual"
        linked = [e for e in ticket_log(embedded)[manual_id]
                  if e.type == "ticket.customer_linked"]
        assert [(e.phone, e.customer.telegram_user_id, e.from_ticket_id)  # type: ignore[attr-defined]
                for e in linked] == [(PHONE, ann["id"], private_id)]
        wait_for(lambda: contact_of(manual_id) == ann_contact, 30,
                 what="the manual Case with Ann's Contact")
    finally:
        salesforce.close()

"""Manual tickets linked to the Telegram customer who shares the caller's phone
(``streams.core.phone_links``), folded through the worker's ``UpdateFolder`` with its
``ticket.commands`` forwards fed back, as the runtimes do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from streams.core.phone_links import phone_thread
from streams.core.ticket import ThreadState
from streams.runtime.fold import Position, UpdateFolder
from streams.schema.envelope import RawTelegramUpdate
from streams.schema.events import TicketCustomerLinked, TicketEvent, TicketRequested
from streams.schema.ticket_requests import TicketRequest
from tests.telegram_factory import BOT_ID, Script, private, user

T0 = 1_780_000_000
AT = datetime.fromtimestamp(T0, UTC)
ANN, BOB = user(501, "Ann", "ann"), user(502, "Bob", "bob")
PHONE = "+442079460000"


class Store(dict[str, ThreadState]):
    def due_threads(self, partition: int, at: datetime) -> list[str]:
        return []


def run(records: list[bytes], store: Store | None = None) -> tuple[Store, list[TicketEvent]]:
    """Fold ``records`` and every record they forward to ``ticket.commands``."""
    folder, store = UpdateFolder(), Store() if store is None else store
    log: list[TicketEvent] = []
    queue = list(records)
    while queue:
        folded = folder.fold(queue.pop(0), store, Position("t", 0, 0, None), AT)
        assert folded.dead_letter is None, folded.dead_letter
        for state in folded.states:
            store[state.thread_key] = state
        log.extend(folded.events)
        queue[0:0] = [r.value for r in folded.forwards]  # folded next
    return store, log


def manual(request_id: str = "req-m1", phone: str = "0044 20 7946 0000") -> bytes:
    return TicketRequest(request_id=request_id, mode="manual", origin="manual",
                         customer_name="Carl Caller", phone=phone, note="invoice",
                         requested_by="maria", at=AT).to_bytes()


def shares(who: dict[str, Any], phone: str = "+44 20 7946 0000", at: int = T0 + 60,
           own: bool = True) -> bytes:
    """``who`` shares a contact in their private chat with the bot (their own, or not)."""
    update = Script(private(who["id"])).write(who, "", at)
    del update["message"]["text"]
    update["message"]["contact"] = {"phone_number": phone, "first_name": who["first_name"],
                                    "user_id": who["id"] if own else 999}
    return RawTelegramUpdate(bot_id=BOT_ID, source="webhook", received_at=AT,
                             update=update).to_bytes()


def links(log: list[TicketEvent]) -> list[TicketCustomerLinked]:
    return [e for e in log if isinstance(e, TicketCustomerLinked)]


def manual_ticket(store: Store, request_id: str = "req-m1") -> Any:
    return store[f"0:m{request_id}"].current


@given(st.permutations(["request", "share"]), st.booleans(), st.booleans())
def test_the_customer_who_shares_the_callers_phone_is_linked_once_whatever_the_order(
        order: list[str], request_twice: bool, share_twice: bool) -> None:
    records = {"request": [manual()] * (2 if request_twice else 1),
               "share": [shares(ANN)] * (2 if share_twice else 1)}
    store, log = run([r for kind in order for r in records[kind]])
    [link] = links(log)
    assert link.ticket_id == "tg:0:mreq-m1:1" and link.phone == PHONE
    assert link.customer.telegram_user_id == ANN["id"] and link.customer.phone == PHONE
    assert link.from_ticket_id == ("tg:501:p:1" if order[0] == "request" else None)
    assert link.actor.kind == "system" and link.version == 1
    ticket = manual_ticket(store)
    assert ticket.customer == link.customer and ticket.seq == link.seq
    book = store[phone_thread(PHONE)].phone_book
    assert book is not None and book.tickets == () and book.customer == link.customer


def test_the_callers_phone_is_recorded_in_e164() -> None:
    _, log = run([manual(phone="0044 (20) 7946-0000")])
    [requested] = [e for e in log if isinstance(e, TicketRequested)]
    assert requested.phone == PHONE


def test_another_phone_or_someone_elses_contact_links_nothing() -> None:
    store, log = run([manual(), shares(ANN, phone="+44 20 7946 0001"),
                      shares(BOB, own=False)])
    assert links(log) == []
    assert manual_ticket(store).customer is None
    book = store[phone_thread(PHONE)].phone_book
    assert book is not None and book.tickets == ("tg:0:mreq-m1:1",)


def test_every_waiting_ticket_is_linked_and_the_first_customer_keeps_it() -> None:
    store, log = run([manual("a"), manual("b"), shares(ANN), shares(BOB, at=T0 + 120)])
    assert {(e.ticket_id, e.customer.telegram_user_id) for e in links(log)} == {
        ("tg:0:ma:1", ANN["id"]), ("tg:0:mb:1", ANN["id"])}
    store, log = run([manual("c")], store)  # recorded after Bob shared the phone: Bob's
    [late] = links(log)
    assert late.customer.telegram_user_id == BOB["id"] and late.from_ticket_id is None
    assert manual_ticket(store, "a").customer.telegram_user_id == ANN["id"]


def test_a_manual_ticket_without_a_phone_has_no_directory() -> None:
    request = TicketRequest(request_id="n", mode="manual", origin="manual",
                            customer_name="Walk In", note="", requested_by="maria",
                            at=AT + timedelta(seconds=1))
    store, log = run([request.to_bytes(), shares(ANN)])
    assert links(log) == [] and [k for k in store if ":phone:" in k] == [phone_thread(PHONE)]


def test_the_link_is_audited_and_names_the_customer_in_the_projection() -> None:
    from projections.audit import describe
    from projections.cases import apply_event

    _, log = run([manual(), shares(ANN)])
    row: dict[str, Any] | None = None
    for event in log:
        if event.ticket_id == "tg:0:mreq-m1:1":
            row = apply_event(row, event) or row
    [link] = links(log)
    assert describe(link) == ("linked to Telegram customer @ann: they shared the caller's "
                              "phone in tg:501:p:1")
    assert row is not None and row["customer_telegram_id"] == ANN["id"]
    assert (row["customer_name"], row["customer_username"]) == ("Carl Caller", "ann")

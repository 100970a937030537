"""``telecase ticket``: tickets a person opens (outreach to a customer, manual tickets).

The logic is in :mod:`telecase.ops.ticket`; the request travels to the ticket worker through
``ticket.commands`` on either runtime (embedded: also while ``telecase run`` runs).
"""

from __future__ import annotations

import asyncio

import typer

from telecase.cli.common import RuntimeOption, chosen_runtime, configure

app = typer.Typer(help="Tickets a person opens: outreach to a Telegram customer, or a manual "
                       "ticket for an inquiry that did not come through Telegram.")


@app.command("open")
def ticket_open(
    manual: bool = typer.Option(False, "--manual", help="a manual ticket (a call, a walk-in, "
                                                       "an outage): no Telegram chat"),
    chat: int | None = typer.Option(None, "--chat", help="outreach: the team forum (a topic "
                                    "is opened there), or the customer's id for their private "
                                    "chat with the bot (default: TELECASE_OUTREACH_CHAT_ID)"),
    customer: int | None = typer.Option(None, "--customer",
                                        help="outreach: the customer's Telegram user id"),
    subject: str = typer.Option("", "--subject", help="the ticket's subject (outreach: the "
                                                      "topic's name)"),
    message: str = typer.Option("", "--message", help="outreach: the agent's first message"),
    customer_name: str | None = typer.Option(None, "--customer-name", help="the customer's "
                                             "name (manual; outreach: optional)"),
    phone: str | None = typer.Option(None, "--phone", help="manual: the customer's phone"),
    note: str = typer.Option("", "--note", help="manual: what the inquiry is about"),
    by: str | None = typer.Option(None, "--by", help="who opens it (default: your user name)"),
    runtime: RuntimeOption = None,
) -> None:
    """Open a ticket: outreach (--chat, --customer, --subject, --message) or --manual
    (--customer-name and/or --phone, --note). Prints the request id and, where known, the
    ticket id."""
    from telecase.ops.ticket import (
        TicketRequestError,
        manual_request,
        outreach_request,
        send_ticket_request,
        ticket_id_of,
    )
    settings = configure()
    chosen = chosen_runtime(settings, runtime)
    if manual:
        request = manual_request(customer_name=customer_name, phone=phone, note=note,
                                 subject=subject, requested_by=by)
    else:
        if customer is None:
            raise TicketRequestError("outreach needs --customer (a Telegram user id); "
                                     "for a ticket without Telegram use --manual")
        request = asyncio.run(outreach_request(
            settings, customer=customer, subject=subject, message=message, chat=chat,
            customer_name=customer_name, requested_by=by))
    typer.echo(asyncio.run(send_ticket_request(settings, chosen, request)))
    ticket = ticket_id_of(request)
    if ticket is not None:
        typer.echo(f"ticket: {ticket}")

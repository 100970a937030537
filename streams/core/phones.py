"""Phone numbers in E.164, normalised once in the core (pure: ``phonenumbers`` does no I/O).

Telegram sends a shared contact's ``phone_number`` as the sender's client has it: with or
without ``+``, with spaces or dashes, sometimes with an ``00`` international prefix. Every
phone telecase records (a customer's own shared contact, the intake form's phone answer) goes
through :func:`e164` first, so matching, storage, the projections and the Salesforce sync all
see one spelling, ``+`` and digits.

How a number is read, first success wins:

1. with ``+`` (or ``00``): as international;
2. without: as international digits (how Telegram sends a user's own number), then as a
   national number of ``default_region`` (the setting ``TELECASE_DEFAULT_PHONE_REGION``, an
   ISO 3166 code such as ``GB``; unset: none);
3. a number the numbering plan does not know but that has 7 to 15 digits is kept as ``+`` and
   its digits (test and fictional numbers stay usable); anything else is unreadable (``None``).
"""

from __future__ import annotations

import re

import phonenumbers


def e164(raw: str | None, default_region: str | None = None) -> str | None:
    """``raw`` in E.164 (``+441234567890``), or ``None`` when it is not a phone number."""
    if raw is None:
        return None
    text = raw.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    digits = re.sub(r"\D", "", text)
    if not digits:
        return None
    tries: list[tuple[str, str | None]] = [("+" + digits, None)]
    if not text.startswith("+") and default_region:
        tries.append((text, default_region.upper()))
    for check in (phonenumbers.is_valid_number, phonenumbers.is_possible_number):
        for number, region in tries:
            found = _parse(number, region)
            if found is not None and check(found):
                return phonenumbers.format_number(found, phonenumbers.PhoneNumberFormat.E164)
    return f"+{digits}" if 7 <= len(digits) <= 15 else None


def known_region(region: str) -> bool:
    """Whether ``region`` is a region code the numbering plan knows (settings check it)."""
    return region.upper() in phonenumbers.SUPPORTED_REGIONS


def _parse(number: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return None

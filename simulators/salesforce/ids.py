"""Salesforce record ids: 15-character case-sensitive ids and their 18-character form.

An id is a 3-character key prefix naming the object (``500`` Case, ``003`` Contact...), two
characters of pod, one reserved character and a 9-character base-62 number. The 18-character
form adds a 3-character checksum that encodes which of the first 15 characters are upper
case, so the id survives case-insensitive systems. The REST API accepts either form and
always answers with 18 characters; so does the simulator.
"""

from __future__ import annotations

import re
from collections import defaultdict

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID = re.compile(r"^[0-9A-Za-z]{15}(?:[0-9A-Za-z]{3})?$")
_POD = "Dn"


def checksum(id15: str) -> str:
    """The 3-character suffix of the 18-character form of ``id15``."""
    suffix = ""
    for chunk in range(3):
        bits = 0
        for position, char in enumerate(id15[chunk * 5:chunk * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << position
        suffix += _SUFFIX[bits]
    return suffix


def normalize(value: object) -> str | None:
    """The 18-character id for a 15- or 18-character id string, else ``None``."""
    if not isinstance(value, str) or not _ID.match(value):
        return None
    return value[:15] + checksum(value[:15])


def key_prefix(record_id: str) -> str:
    return record_id[:3]


class IdFactory:
    """Mints new ids per key prefix, in increasing order (like a real org)."""

    def __init__(self, start: int = 7_000_000) -> None:
        self._start = start
        self._next: dict[str, int] = defaultdict(int)

    def new(self, prefix: str) -> str:
        if len(prefix) != 3:
            raise ValueError(f"a key prefix has 3 characters, not {prefix!r}")
        if prefix not in self._next:
            self._next[prefix] = self._start + sum(ord(c) * 7919 for c in prefix)
        number = self._next[prefix]
        self._next[prefix] = number + 1
        id15 = f"{prefix}{_POD}0{_base62(number, 9)}"
        return id15 + checksum(id15)


def _base62(number: int, width: int) -> str:
    digits = ""
    while number:
        number, remainder = divmod(number, 62)
        digits = _BASE62[remainder] + digits
    return digits.rjust(width, "0")

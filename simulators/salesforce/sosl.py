"""SOSL, the subset telecase uses, and the REST ``search`` resource that runs it.

::

    GET /services/data/vXX.X/search/?q=
      FIND {terms}  [IN ALL FIELDS | IN NAME FIELDS]
        [RETURNING Object [(fields [WHERE condition] [ORDER BY ...] [LIMIT n])], ...]
        [LIMIT n]

The answer is ``{"searchRecords": [record, ...]}`` from API v37.0 on (a bare list of records
before), each record with ``attributes`` and the fields asked for (only ``Id`` when none were),
as the REST API's "Search for a String" example shows. Objects come in the order
``RETURNING`` names them; within one, in ``ORDER BY`` order, else best match first.

**Terms** (inside ``{}``, a backslash escapes a reserved character): words are ANDed
(``refund policy`` finds records holding both), ``OR`` between words makes alternatives,
``AND NOT`` / a leading ``-`` excludes, ``"a phrase"`` must appear as written, ``*`` at the
end of a word matches any ending, ``?`` one character. Matching is case-insensitive on whole
words, in every text field (``ALL FIELDS``, the default) or the object's name field
(``NAME FIELDS``: a Knowledge article's ``Title``). A search term shorter than two characters
is ``MALFORMED_SEARCH``, as is anything outside this subset; the ``RETURNING`` clauses are
SOQL underneath, checked like a query (``INVALID_FIELD``, ``INVALID_TYPE``).

Deliberate differences: no stemming, synonyms, stop words, spell correction or
``WITH``/``UPDATE TRACKING``/``SNIPPET`` clauses; relevance is a simple count of matches,
title first; the search index is always up to date (Salesforce's lags a little behind writes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from simulators.salesforce import security, soql_eval, soql_parse
from simulators.salesforce.errors import ApiError
from simulators.salesforce.routing import ApiRequest, ApiResponse, resource
from simulators.salesforce.store import Record

if TYPE_CHECKING:
    from simulators.salesforce.org import Org

SEARCH_RECORDS_SINCE = 37.0
_TEXT_TYPES = frozenset({"string", "textarea", "email", "phone", "url", "any"})
_WORD = re.compile(r"\w+", re.UNICODE)
_CLAUSE_START = re.compile(r"\b(WHERE|ORDER\s+BY|LIMIT|OFFSET)\b", re.IGNORECASE)


def malformed_search(message: str) -> ApiError:
    return ApiError(400, "MALFORMED_SEARCH", message)


@dataclass(frozen=True)
class Returning:
    sobject: str
    soql: str
    """The SOQL the clause stands for (its fields, ``WHERE``, ``ORDER BY``, ``LIMIT``)."""


@dataclass(frozen=True)
class Search:
    terms: str
    scope: str  # ALL | NAME
    returning: tuple[Returning, ...]
    limit: int | None


# -- parsing ----------------------------------------------------------------------------------

def parse(text: str) -> Search:
    body = text.strip()
    head = re.match(r"FIND\s*\{", body, re.IGNORECASE)
    if head is None:
        raise malformed_search("No search term found. The search term must be enclosed in "
                               "braces.")
    at, terms = head.end(), []
    while at < len(body) and body[at] != "}":
        if body[at] == "\\" and at + 1 < len(body):
            terms.append(body[at:at + 2])
            at += 2
            continue
        terms.append(body[at])
        at += 1
    if at >= len(body):
        raise malformed_search("No search term found. The search term must be enclosed in "
                               "braces.")
    rest = body[at + 1:].strip()
    scope = "ALL"
    scoped = re.match(r"IN\s+(ALL|NAME)\s+FIELDS\b", rest, re.IGNORECASE)
    if scoped:
        scope, rest = scoped.group(1).upper(), rest[scoped.end():].strip()
    limit: int | None = None
    tail = re.search(r"\bLIMIT\s+(\d+)\s*$", rest, re.IGNORECASE)
    if tail and rest[:tail.start()].count("(") == rest[:tail.start()].count(")"):
        limit, rest = int(tail.group(1)), rest[:tail.start()].strip()
    returning: list[Returning] = []
    if rest:
        found = re.match(r"RETURNING\b", rest, re.IGNORECASE)
        if found is None:
            raise malformed_search(f"unexpected token: {rest.split()[0]}")
        returning = _returning(rest[found.end():])
    return Search("".join(terms), scope, tuple(returning), limit)


def _returning(text: str) -> list[Returning]:
    specs: list[Returning] = []
    at = 0
    while True:
        match = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*").match(text, at)
        if match is None:
            raise malformed_search(f"unexpected token: {text[at:at + 20].strip() or '<EOF>'}")
        sobject, at = match.group(1), match.end()
        inner = ""
        if at < len(text) and text[at] == "(":
            depth, start = 0, at
            for i in range(at, len(text)):
                depth += {"(": 1, ")": -1}.get(text[i], 0)
                if depth == 0:
                    inner, at = text[start + 1:i], i + 1
                    break
            else:
                raise malformed_search("unexpected token: <EOF>")
        specs.append(Returning(sobject, _soql(sobject, inner)))
        rest = text[at:].lstrip()
        if not rest:
            return specs
        if not rest.startswith(","):
            raise malformed_search(f"unexpected token: {rest.split()[0]}")
        at = len(text) - len(rest) + 1


def _soql(sobject: str, inner: str) -> str:
    clause = _CLAUSE_START.search(inner)
    fields = (inner[:clause.start()] if clause else inner).strip() or "Id"
    rest = inner[clause.start():].strip() if clause else ""
    return f"SELECT {fields} FROM {sobject} {rest}".strip()


# -- matching ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Term:
    words: tuple[re.Pattern[str], ...]
    """One word, or a phrase's words in order."""
    negated: bool = False


def _terms(text: str) -> list[list[_Term]]:
    """The terms as alternatives (split at ``OR``), each a conjunction of terms."""
    tokens = re.findall(r'-?"[^"]*"|\S+', text)
    groups: list[list[_Term]] = [[]]
    negate = False
    for token in tokens:
        upper = token.upper()
        if upper == "OR":
            groups.append([])
            continue
        if upper == "AND":
            continue
        if upper == "NOT":
            negate = True
            continue
        if token.startswith("-") and len(token) > 1:
            negate, token = True, token[1:]
        found = [_word_pattern(w) for w in re.split(r"\s+", token.strip('"')) if w]
        patterns = tuple(p for p in found if p is not None)
        if patterns:
            groups[-1].append(_Term(patterns, negate))
        negate = False
    return [g for g in groups if g]


def _word_pattern(word: str) -> re.Pattern[str] | None:
    """A whole-word pattern (``*``: any ending, ``?``: one character, ``\\x``: ``x``
    itself); ``None`` for a word of punctuation or wildcards only."""
    out, literal, at = "", False, 0
    while at < len(word):
        char = word[at]
        if char == "\\" and at + 1 < len(word):
            char, at = word[at + 1], at + 1
            out += re.escape(char)
            literal = literal or char.isalnum()
        elif char in "*?":
            out += r"\w*" if char == "*" else r"\w"
        elif char.isalnum() or char == "_":
            out += re.escape(char)
            literal = True
        at += 1
    return re.compile(out, re.IGNORECASE) if literal else None


def _matches(term: _Term, words: list[str]) -> bool:
    n = len(term.words)
    return any(all(term.words[k].fullmatch(words[i + k]) for k in range(n))
               for i in range(len(words) - n + 1))


def _score(groups: list[list[_Term]], record: Record, texts: list[tuple[str, bool]]) -> int:
    """0 when the record does not match, else how many term hits (title hits count 3)."""
    split = [(_WORD.findall(text), title) for text, title in texts]
    every = [w for words, _ in split for w in words]
    best = 0
    for group in groups:
        if any(_matches(t, every) == t.negated for t in group):
            continue
        hits = sum((3 if title else 1) * sum(_matches(t, words) for t in group if not t.negated)
                   for words, title in split)
        best = max(best, hits or 1)
    return best


# -- running ----------------------------------------------------------------------------------

def execute(org: Org, search: Search, version: str) -> list[dict[str, Any]]:
    meaningful = re.sub(r"[\s*?\"\\()&|!{}\[\]^~:'+-]", "", search.terms)
    if len(meaningful) < 2:
        raise malformed_search("search term must be longer than one character: "
                               f"{search.terms.strip()}")
    groups = _terms(search.terms)
    if not groups:
        raise malformed_search(f"invalid search term: {search.terms.strip()}")
    returning = search.returning or tuple(
        Returning(name, f"SELECT Id FROM {name}") for name in ("Case", "Contact", "Lead"))
    out: list[dict[str, Any]] = []
    for clause in returning:
        out += _run(org, clause, groups, search.scope, version)
    return out[:search.limit] if search.limit is not None else out[:2000]


def _run(org: Org, clause: Returning, groups: list[list[_Term]], scope: str,
         version: str) -> list[dict[str, Any]]:
    try:
        query = soql_parse.parse(clause.soql)
    except ApiError as exc:
        raise malformed_search(exc.message.split("\n")[-1]) from exc
    limit, query.limit = query.limit, None
    wants_id = any(p.parts == ("Id",) for p in query.fields)
    if not wants_id:
        query.fields.insert(0, soql_parse.Path(("Id",), 0))
    _, rows = soql_eval.execute(org.store, query, include_deleted=False, version=version)
    kind = org.store.sobject(clause.sobject)
    scored: list[tuple[int, int, dict[str, Any]]] = []
    for position, row in enumerate(rows):
        record = org.store.by_id(str(row["Id"]))
        if record is None:
            continue
        if scope == "NAME":
            texts = [(str(record.fields.get(kind.name_field) or ""), True)]
        else:
            texts = [(str(value), name == kind.name_field) for name, value in
                     record.fields.items() if value is not None and name in kind.fields
                     and kind.fields[name].type in _TEXT_TYPES
                     and not security.hidden(kind.name, name)]
        score = _score(groups, record, texts)
        if score:
            if not wants_id:
                row.pop("Id", None)
            scored.append((score, position, row))
    if not query.order:
        scored.sort(key=lambda s: (-s[0], s[1]))
    else:
        scored.sort(key=lambda s: s[1])
    found = [row for _, _, row in scored]
    return found[:limit] if limit is not None else found


@resource("GET", "search")
def search(org: Org, req: ApiRequest, _: dict[str, str]) -> ApiResponse:
    text = req.query.get("q")
    if not text:
        raise malformed_search("A search string has to be specified")
    records = execute(org, parse(text), req.version)
    if float(req.version) >= SEARCH_RECORDS_SINCE:
        return ApiResponse(200, {"searchRecords": records})
    return ApiResponse(200, records)

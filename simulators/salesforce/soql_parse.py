"""SOQL, the subset telecase uses: tokens and a recursive-descent parser into a small AST.

::

    SELECT f1, f2, Rel.Field | COUNT()  FROM Object
      [WHERE condition]  [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], ...]
      [LIMIT n]  [OFFSET n]

    condition  := term ((AND term)* | (OR term)*)     -- mixing AND and OR needs parentheses
    term       := NOT term | '(' condition ')' | path op literal
                | path [NOT] IN '(' literal, ... ')' | path LIKE 'pattern'
    op         := = | != | <> | < | <= | > | >=
    literal    := 'string' | number | TRUE | FALSE | NULL | 2026-01-01T00:00:00Z | 2026-01-01

Keywords are case-insensitive. Anything else (subqueries, aggregates other than ``COUNT()``,
date literals such as ``TODAY``, ``GROUP BY``, ``FOR UPDATE``...) is answered with
``MALFORMED_QUERY``, spelled like Salesforce's (``ERROR at Row:1:Column:N`` with a caret under
the offending token). Field and object names are checked later, against the schema.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from simulators.salesforce.errors import ApiError, malformed_query

KEYWORDS = frozenset({
    "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "ASC", "DESC",
    "NULLS", "FIRST", "LAST", "LIMIT", "OFFSET", "TRUE", "FALSE", "NULL", "COUNT", "GROUP",
    "HAVING", "FOR", "WITH", "USING", "INCLUDES", "EXCLUDES", "TYPEOF"})
OPERATORS = frozenset({"=", "!=", "<>", "<", "<=", ">", ">="})

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2}(?![\dT]))
  | (?P<number>[+-]?\d+(?:\.\d+)?)
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<op>!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),])
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
""", re.VERBOSE)

_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "'": "'", '"': '"',
            "\\": "\\", "_": "_", "%": "%"}


@dataclass(frozen=True)
class Token:
    kind: str  # datetime date number string op punct ident eof
    text: str
    pos: int

    @property
    def upper(self) -> str:
        return self.text.upper()


@dataclass(frozen=True)
class Path:
    """A field path as written: ``Subject`` or ``Owner.Name``."""

    parts: tuple[str, ...]
    pos: int

    @property
    def text(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True)
class Literal:
    kind: str  # string number boolean null datetime date
    value: Any
    raw: str = ""


@dataclass(frozen=True)
class Compare:
    path: Path
    op: str
    literal: Literal


@dataclass(frozen=True)
class InList:
    path: Path
    literals: tuple[Literal, ...]
    negated: bool


@dataclass(frozen=True)
class Like:
    path: Path
    pattern: Literal


@dataclass(frozen=True)
class Junction:
    op: str  # AND | OR
    terms: tuple[Condition, ...]


@dataclass(frozen=True)
class Negation:
    term: Condition


Condition = Compare | InList | Like | Junction | Negation


@dataclass(frozen=True)
class OrderItem:
    path: Path
    descending: bool
    nulls_last: bool


@dataclass
class Query:
    """A parsed SELECT."""

    text: str
    sobject: str
    sobject_pos: int
    fields: list[Path] = field(default_factory=list)
    count: bool = False
    where: Condition | None = None
    order: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None


def located_error(text: str, pos: int, message: str, code: str = "MALFORMED_QUERY") -> ApiError:
    """An error spelled like Salesforce's, with a caret under column ``pos``."""
    line = " ".join(text.splitlines())
    return ApiError(400, code, f"\n{line}\n{' ' * pos}^\nERROR at Row:1:Column:{pos + 1}\n"
                    f"{message}")


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise located_error(text, pos, f"unexpected token: {text[pos]}")
        kind = match.lastgroup or "ws"
        if kind != "ws":
            tokens.append(Token(kind, match.group(), pos))
        pos = match.end()
    tokens.append(Token("eof", "<EOF>", len(text)))
    return tokens


def unescape(quoted: str) -> str:
    """The value of a SOQL string literal (quotes removed, escapes resolved)."""
    body = quoted[1:-1]
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), body)


def parse(text: str) -> Query:
    """Parse one SOQL query (``MALFORMED_QUERY`` on anything outside the subset)."""
    if not text or not text.strip():
        raise malformed_query("unexpected token: <EOF>")
    return _Parser(text).query()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.at = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.at]

    def fail(self, token: Token | None = None) -> ApiError:
        token = token or self.token
        return located_error(self.text, token.pos, f"unexpected token: {token.text}")

    def next(self) -> Token:
        token = self.token
        self.at += 1
        return token

    def keyword(self, *words: str) -> bool:
        """Consume the next token if it is one of ``words``."""
        if self.token.kind == "ident" and self.token.upper in words:
            self.at += 1
            return True
        return False

    def expect_keyword(self, word: str) -> None:
        if not self.keyword(word):
            raise self.fail()

    def expect_punct(self, char: str) -> None:
        if self.token.kind != "punct" or self.token.text != char:
            raise self.fail()
        self.at += 1

    def query(self) -> Query:
        self.expect_keyword("SELECT")
        fields: list[Path] = []
        count = False
        if self.token.kind == "ident" and self.token.upper == "COUNT":
            self.next()
            self.expect_punct("(")
            self.expect_punct(")")
            count = True
        else:
            fields.append(self.path())
            while self.token.kind == "punct" and self.token.text == ",":
                self.next()
                fields.append(self.path())
        self.expect_keyword("FROM")
        target = self.token
        if target.kind != "ident" or target.upper in KEYWORDS or "." in target.text:
            raise self.fail()
        self.next()
        query = Query(self.text, target.text, target.pos, fields, count)
        if self.keyword("WHERE"):
            query.where = self.condition()
        if self.keyword("ORDER"):
            self.expect_keyword("BY")
            query.order.append(self.order_item())
            while self.token.kind == "punct" and self.token.text == ",":
                self.next()
                query.order.append(self.order_item())
        if self.keyword("LIMIT"):
            query.limit = self.integer()
        if self.keyword("OFFSET"):
            query.offset = self.integer()
        if self.token.kind != "eof":
            raise self.fail()
        return query

    def path(self) -> Path:
        token = self.token
        if token.kind != "ident" or token.upper in KEYWORDS:
            raise self.fail()
        self.next()
        return Path(tuple(token.text.split(".")), token.pos)

    def integer(self) -> int:
        token = self.next()
        if token.kind != "number" or not token.text.isdigit():
            raise self.fail(token)
        return int(token.text)

    def order_item(self) -> OrderItem:
        path = self.path()
        descending = False
        if self.keyword("DESC"):
            descending = True
        else:
            self.keyword("ASC")
        nulls_last = descending
        if self.keyword("NULLS"):
            if self.keyword("LAST"):
                nulls_last = True
            elif self.keyword("FIRST"):
                nulls_last = False
            else:
                raise self.fail()
        return OrderItem(path, descending, nulls_last)

    def condition(self) -> Condition:
        terms = [self.term()]
        op: str | None = None
        while self.token.kind == "ident" and self.token.upper in {"AND", "OR"}:
            if op is not None and self.token.upper != op:
                raise self.fail()
            op = self.next().upper
            terms.append(self.term())
        return terms[0] if op is None else Junction(op, tuple(terms))

    def term(self) -> Condition:
        if self.keyword("NOT"):
            return Negation(self.term())
        if self.token.kind == "punct" and self.token.text == "(":
            self.next()
            inner = self.condition()
            self.expect_punct(")")
            return inner
        path = self.path()
        if self.keyword("LIKE"):
            pattern = self.token
            if pattern.kind != "string":
                raise self.fail()
            self.next()
            return Like(path, Literal("string", unescape(pattern.text), pattern.text))
        negated = self.keyword("NOT")
        if self.keyword("IN"):
            return InList(path, self.literal_list(), negated)
        if negated or self.token.kind != "op":
            raise self.fail()
        op = self.next().text
        return Compare(path, "!=" if op == "<>" else op, self.literal())

    def literal_list(self) -> tuple[Literal, ...]:
        self.expect_punct("(")
        literals = [self.literal()]
        while self.token.kind == "punct" and self.token.text == ",":
            self.next()
            literals.append(self.literal())
        self.expect_punct(")")
        return tuple(literals)

    def literal(self) -> Literal:
        token = self.next()
        if token.kind == "string":
            return Literal("string", unescape(token.text), token.text)
        if token.kind == "number":
            number = float(token.text) if "." in token.text else int(token.text)
            return Literal("number", number, token.text)
        if token.kind in {"datetime", "date"}:
            return Literal(token.kind, token.text, token.text)
        if token.kind == "ident" and token.upper in {"TRUE", "FALSE"}:
            return Literal("boolean", token.upper == "TRUE", token.text)
        if token.kind == "ident" and token.upper == "NULL":
            return Literal("null", None, token.text)
        raise self.fail(token)

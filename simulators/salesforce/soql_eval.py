"""Running a parsed SOQL query against the store: name checks, filtering, order, projection.

Semantics follow SOQL where they differ from SQL:

- text comparisons (``=``, ``!=``, ``<``..., ``LIKE``, ``IN``) ignore case; ids compare in their
  18-character form whichever form the literal uses;
- ``!=`` and ``NOT IN`` match records whose field is null (``= null`` / ``!= null`` test for
  null explicitly); ``<``, ``>``... never match null;
- ``ORDER BY`` puts nulls first ascending and last descending unless ``NULLS`` says otherwise;
  without ``ORDER BY`` records come in creation order;
- a datetime field must be compared with an unquoted datetime literal, a date field with a
  date literal, a boolean with ``TRUE``/``FALSE``, text with a quoted string (else
  ``INVALID_FIELD`` "value of filter criterion ... must be of type ...");
- a parent reached through a relationship (``Owner.Name``) is a nested object with its own
  ``attributes``, or ``null`` when the reference is empty;
- a query on ContentDocumentLink must filter on ``Id``, ``ContentDocumentId`` or
  ``LinkedEntityId`` (``=`` one id, or ``IN`` ids) in its top-level ``AND``, else
  ``MALFORMED_QUERY`` "Implementation restriction": the Object Reference's ContentDocumentLink
  page
  (https://developer.salesforce.com/docs/platform/object-reference/references/standard-objects/object-contentdocumentlink.html)
  allows a query without such a filter only with the Query All Files permission (API 59.0 and
  later, needs View All Data), which the simulated integration user does not have.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from simulators.salesforce import ids
from simulators.salesforce.errors import malformed_query
from simulators.salesforce.schema import ANY, Field, SObjectType, find_type
from simulators.salesforce.soql_parse import (
    Compare,
    Condition,
    InList,
    Junction,
    Literal,
    Negation,
    Path,
    Query,
    located_error,
)
from simulators.salesforce.store import Record, Store
from simulators.salesforce.timefmt import parse_datetime

_EXPECTED = {"datetime": ("datetime", "dateTime"), "date": ("date", "date"),
             "boolean": ("boolean", "boolean"), "int": ("number", "number"),
             "double": ("number", "number")}
LINK_RESTRICTION = ("Implementation restriction: ContentDocumentLink requires a filter by a "
                    "single Id on ContentDocumentId or LinkedEntityId using the equals operator "
                    "or multiple Id's using the IN operator.")
_LINK_KEYS = frozenset({"id", "contentdocumentid", "linkedentityid"})


def _filters_by_id(where: Condition | None) -> bool:
    """``where`` (or a term of its top-level ``AND``) picks ContentDocumentLinks by id."""
    terms = where.terms if isinstance(where, Junction) and where.op == "AND" else (where,)
    return any(_by_key(t) for t in terms)


def _by_key(term: Condition | None) -> bool:
    """``term`` is ``<key> = id`` or ``<key> IN (ids)``."""
    picks = ((isinstance(term, Compare) and term.op == "=")
             or (isinstance(term, InList) and not term.negated))
    path = term.path if isinstance(term, Compare | InList) else None
    return picks and path is not None and len(path.parts) == 1 \
        and path.parts[0].lower() in _LINK_KEYS


@dataclass(frozen=True)
class Resolved:
    """A checked field path: the relationships to walk, the leaf name and its type."""

    path: Path
    steps: tuple[str, ...]
    leaf: str
    leaf_type: str
    filterable: bool = True


def execute(store: Store, query: Query, *, include_deleted: bool,
            version: str) -> tuple[int, list[dict[str, Any]]]:
    """``(totalSize, records)`` of ``query``; records are empty for ``COUNT()``."""
    return _Run(store, query, version).run(include_deleted)


class _Run:
    def __init__(self, store: Store, query: Query, version: str) -> None:
        self.store = store
        self.query = query
        self.version = version
        kind = find_type(store.types, query.sobject)
        if kind is None:
            raise located_error(
                query.text, query.sobject_pos,
                f"sObject type '{query.sobject}' is not supported. If you are attempting to "
                "use a custom object, be sure to append the '__c' after the entity name. "
                "Please reference your WSDL or the describe call for the appropriate names.",
                "INVALID_TYPE")
        self.kind = kind
        self._resolved: dict[Path, Resolved] = {}
        self.selected = [self.resolve(p) for p in query.fields]
        self.order = [(item, self.resolve(item.path)) for item in query.order]
        if query.where is not None:
            self.check(query.where)
        if kind.name == "ContentDocumentLink" and not _filters_by_id(query.where):
            raise malformed_query(LINK_RESTRICTION)

    # -- checking ------------------------------------------------------------------------

    def resolve(self, path: Path) -> Resolved:
        """The checked form of ``path`` (``INVALID_FIELD`` for unknown names); cached."""
        known = self._resolved.get(path)
        if known is None:
            known = self._resolved[path] = self._resolve(path)
        return known

    def _resolve(self, path: Path) -> Resolved:
        candidates: list[SObjectType] = [self.kind]
        steps: list[str] = []
        for part in path.parts[:-1]:
            reference = next((r for c in candidates if (r := c.relationship(part))), None)
            if reference is None:
                raise located_error(
                    self.query.text, path.pos,
                    f"Didn't understand relationship '{part}' in field path. If you are "
                    "attempting to use a custom relationship, be sure to append the '__r' "
                    "after the custom relationship name. Please reference your WSDL or the "
                    "describe call for the appropriate names.", "INVALID_FIELD")
            steps.append(reference.relationship or part)
            candidates = self._targets(reference)
        leaf = path.parts[-1]
        if not candidates:
            return Resolved(path, tuple(steps), leaf, "any")
        for candidate in candidates:
            found = self._leaf_field(candidate, leaf, polymorphic=bool(steps))
            if found is not None:
                return Resolved(path, tuple(steps), leaf, found.type, found.filterable)
        entity = candidates[0].name if len(candidates) == 1 else "Name"
        raise located_error(
            self.query.text, path.pos,
            f"No such column '{leaf}' on entity '{entity}'. If you are attempting to use a "
            "custom field, be sure to append the '__c' after the custom field name. Please "
            "reference your WSDL or the describe call for the appropriate names.",
            "INVALID_FIELD")

    def _targets(self, reference: Field) -> list[SObjectType]:
        if ANY in reference.reference_to:
            return list(self.store.types.values())
        return [self.store.types[t] for t in reference.reference_to if t in self.store.types]

    @staticmethod
    def _leaf_field(kind: SObjectType, leaf: str, *, polymorphic: bool) -> Field | None:
        found = kind.field(leaf)
        if found is None and polymorphic and leaf.lower() == "name":
            found = kind.fields.get(kind.name_field)
        return found

    def check(self, condition: Condition) -> None:
        if isinstance(condition, Junction):
            for term in condition.terms:
                self.check(term)
        elif isinstance(condition, Negation):
            self.check(condition.term)
        elif isinstance(condition, Compare):
            self._check_literal(condition.path, condition.literal)
        elif isinstance(condition, InList):
            for literal in condition.literals:
                self._check_literal(condition.path, literal)
        else:
            self._check_literal(condition.path, condition.pattern)

    def _check_literal(self, path: Path, literal: Literal) -> None:
        resolved = self.resolve(path)
        if not resolved.filterable:
            raise located_error(self.query.text, path.pos,
                                f"field '{path.parts[-1]}' can not be filtered in a query "
                                "call", "INVALID_FIELD")
        field_type = resolved.leaf_type
        if literal.kind == "null" or field_type == "any":
            return
        wanted, spelled = _EXPECTED.get(field_type, ("string", "string"))
        if literal.kind != wanted:
            quoting = ("be enclosed in quotes" if wanted == "string"
                       else "not be enclosed in quotes")
            raise located_error(
                self.query.text, path.pos,
                f"value of filter criterion for field '{path.parts[-1]}' must be of type "
                f"{spelled} and should {quoting}", "INVALID_FIELD")

    # -- running -------------------------------------------------------------------------

    def run(self, include_deleted: bool) -> tuple[int, list[dict[str, Any]]]:
        records = self.store.all(self.kind.name, include_deleted=include_deleted)
        where = self.query.where
        if where is not None:
            records = [r for r in records if self.matches(r, where)]
        if self.order:
            records.sort(key=functools.cmp_to_key(self._compare_records))
        start = self.query.offset or 0
        stop = None if self.query.limit is None else start + self.query.limit
        records = records[start:stop]
        if self.query.count:
            return len(records), []
        return len(records), [self.project(r) for r in records]

    def value(self, record: Record, resolved: Resolved) -> Any:
        current: Record | None = record
        for step in resolved.steps:
            current = self._parent(current, step) if current else None
        if current is None:
            return None
        kind = self.store.types[current.sobject]
        found = self._leaf_field(kind, resolved.leaf, polymorphic=bool(resolved.steps))
        return None if found is None else current.fields.get(found.name)

    def _parent(self, record: Record, relationship: str) -> Record | None:
        reference = self.store.types[record.sobject].relationship(relationship)
        target_id = record.fields.get(reference.name) if reference else None
        parent = self.store.by_id(target_id) if target_id else None
        return None if parent is None or parent.deleted else parent

    def matches(self, record: Record, condition: Condition) -> bool:
        if isinstance(condition, Junction):
            results = (self.matches(record, t) for t in condition.terms)
            return all(results) if condition.op == "AND" else any(results)
        if isinstance(condition, Negation):
            return not self.matches(record, condition.term)
        resolved = self.resolve(condition.path)
        value = self.value(record, resolved)
        if isinstance(condition, Compare):
            return _compare(value, condition.op, condition.literal, resolved.leaf_type)
        if isinstance(condition, InList):
            found = any(_compare(value, "=", lit, resolved.leaf_type)
                        for lit in condition.literals)
            return found != condition.negated
        return value is not None and _like(condition.pattern.raw).fullmatch(str(value)) is not None

    def _compare_records(self, a: Record, b: Record) -> int:
        for item, resolved in self.order:
            left, right = self.value(a, resolved), self.value(b, resolved)
            if left is None or right is None:
                if left is None and right is None:
                    continue
                return (1 if item.nulls_last else -1) * (1 if left is None else -1)
            lk, rk = _sort_key(left), _sort_key(right)
            result = (lk > rk) - (lk < rk)
            if result:
                return -result if item.descending else result
        return 0

    def project(self, record: Record) -> dict[str, Any]:
        out = self.attributes(record)
        for resolved in self.selected:
            self._place(out, record, resolved.steps, resolved.leaf)
        return out

    def attributes(self, record: Record) -> dict[str, Any]:
        url = f"/services/data/v{self.version}/sobjects/{record.sobject}/{record.id}"
        return {"attributes": {"type": record.sobject, "url": url}}

    def _place(self, out: dict[str, Any], record: Record, steps: tuple[str, ...],
               leaf: str) -> None:
        kind = self.store.types[record.sobject]
        if not steps:
            found = self._leaf_field(kind, leaf, polymorphic=False)
            if found is not None:
                out[found.name] = record.fields.get(found.name)
            return
        reference = kind.relationship(steps[0])
        key = reference.relationship if reference and reference.relationship else steps[0]
        parent = self._parent(record, steps[0])
        if parent is None:
            out.setdefault(key, None)
            return
        nested = out.get(key) or self.attributes(parent)
        out[key] = nested
        if len(steps) == 1:
            parent_kind = self.store.types[parent.sobject]
            found = self._leaf_field(parent_kind, leaf, polymorphic=True)
            name = found.name if found and found.name.lower() == leaf.lower() else leaf
            nested[name] = parent.fields.get(found.name) if found else None
        else:
            self._place(nested, parent, steps[1:], leaf)


def _compare(value: Any, op: str, literal: Literal, field_type: str) -> bool:
    if literal.kind == "null":
        return (value is None) if op == "=" else (value is not None) if op == "!=" else False
    if value is None:
        return op == "!="
    left, right = _comparable(value, literal, field_type)
    if left is None or right is None:
        return op == "!="
    if op == "=":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    try:
        return bool({"<": left < right, "<=": left <= right, ">": left > right,
                     ">=": left >= right}[op])
    except TypeError:
        return False


def _comparable(value: Any, literal: Literal, field_type: str) -> tuple[Any, Any]:
    if literal.kind == "datetime":
        return parse_datetime(str(value)), parse_datetime(str(literal.value))
    if literal.kind == "date":
        return str(value)[:10], literal.value
    if literal.kind == "number":
        try:
            return float(value), float(literal.value)
        except (TypeError, ValueError):
            return None, None
    if literal.kind == "boolean":
        flag = value if isinstance(value, bool) else str(value).lower() == "true"
        return flag, literal.value
    text = str(literal.value)
    if field_type in {"id", "reference"}:
        return ids.normalize(value) or value, ids.normalize(text) or text
    if isinstance(value, bool):
        value = str(value).lower()
    return str(value).casefold(), text.casefold()


def _sort_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, bool):
        return 0, int(value)
    if isinstance(value, int | float):
        return 1, value
    return 2, str(value).casefold()


@functools.lru_cache(maxsize=256)
def _like(raw: str) -> re.Pattern[str]:
    body = raw[1:-1]
    pattern = ""
    index = 0
    while index < len(body):
        char = body[index]
        if char == "\\" and index + 1 < len(body):
            index += 1
            pattern += re.escape(body[index])
        elif char == "%":
            pattern += ".*"
        elif char == "_":
            pattern += "."
        else:
            pattern += re.escape(char)
        index += 1
    return re.compile(pattern, re.IGNORECASE | re.DOTALL)

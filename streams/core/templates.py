"""Response templates (canned responses): a catalog, given to the ticket core as an input like
the SLA policy, and their expansion with a ticket's variables. Pure: no I/O, no clock.

A template is plain text with placeholders::

    Hi {{customer_first_name | there}}, this is {{agent_name}} about case {{case_number}}.

- ``{{ name }}`` is replaced by the variable ``name`` (see :data:`VARIABLES`); the ticket must
  have a value for it, else nothing is expanded (:class:`MissingVariableError`).
- ``{{ name | fallback }}`` uses ``fallback`` (literal text, may be empty) when the ticket has
  no value for ``name``.
- Salesforce merge fields, as Quick Text writes them, are read too: ``{!Contact.FirstName}``,
  ``{!Case.CaseNumber}``... (:data:`MERGE_FIELDS` maps each to a variable), so Quick Text
  written for the Service Console works unchanged.

Every ``{{`` opens a placeholder and every ``{!`` a merge field: a template whose placeholder
is not closed, or names a variable telecase does not have, is invalid (a file's templates are
checked when telecase starts; a Quick Text when it is used). Expansion is one pass: a value is
inserted as it is and never expanded again, so a customer called ``{{agent_name}}`` stays
``{{agent_name}}``.

Errors::

    TemplateError
    ├── TemplateSyntaxError      a malformed placeholder, or an unknown variable
    ├── UnknownTemplateError     no template of that name in the catalog
    └── MissingVariableError     the ticket has no value for a variable the template needs
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

TemplateSource = Literal["file", "quick_text"]

VARIABLES: dict[str, str] = {
    "customer_name": "the customer's full name (or @username)",
    "customer_first_name": "the customer's first name",
    "customer_username": "the customer's Telegram username, without @",
    "agent_name": "the name of the agent using the template",
    "agent_first_name": "the agent's first name",
    "case_number": "the Salesforce CaseNumber (once the Case exists)",
    "subject": "the ticket's subject (the topic's name)",
    "tier": "the SLA tier (once the SLA clocks started)",
    "queue": "the queue the desk routed the ticket to",
    "ticket_id": "telecase's ticket id",
}
"""The variables a template may use, and what each is."""

MERGE_FIELDS: dict[str, str] = {
    "contact.name": "customer_name", "contact.firstname": "customer_first_name",
    "lead.name": "customer_name", "lead.firstname": "customer_first_name",
    "case.casenumber": "case_number", "case.subject": "subject",
    "user.name": "agent_name", "user.firstname": "agent_first_name",
}
"""Salesforce merge fields (``{!Object.Field}``, compared case-insensitively) and the variable
each stands for."""

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_OPEN = re.compile(r"\{\{|\{!")
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\|([^{}]*))?\}\}")
_MERGE_FIELD = re.compile(r"\{!\s*([A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*)\s*\}")


class TemplateError(ValueError):
    """A template cannot be used; the message is written for the agent who tried."""


class TemplateSyntaxError(TemplateError):
    pass


class UnknownTemplateError(TemplateError):
    def __init__(self, name: str, known: Iterable[str]) -> None:
        names = sorted(known)
        hint = f" Templates: {', '.join(names[:20])}." if names else " No templates are set up."
        super().__init__(f"There is no template called {name!r}.{hint}")
        self.name = name


class MissingVariableError(TemplateError):
    def __init__(self, template: str, variables: list[str]) -> None:
        listed = ", ".join("{{" + v + "}}" for v in variables)
        super().__init__(f"Template {template!r} needs {listed}, which this ticket does not "
                         "have yet; nothing was sent.")
        self.variables = variables


@dataclass(frozen=True)
class _Slot:
    variable: str
    fallback: str | None


Segment = str | _Slot


def name_of(title: str) -> str:
    """The command name of a template title: lower case, runs of anything but letters,
    digits, ``_`` and ``-`` made one ``-`` (Quick Text "Refund Policy" is ``refund-policy``)."""
    return re.sub(r"[^a-z0-9_-]+", "-", title.strip().lower()).strip("-")[:64]


def parse(text: str) -> tuple[Segment, ...]:
    """``text`` as literal runs and slots; :class:`TemplateSyntaxError` when a placeholder
    is malformed or names an unknown variable."""
    segments: list[Segment] = []
    at = 0
    for opening in _OPEN.finditer(text):
        if opening.start() < at:
            continue
        start = opening.start()
        if opening.group() == "{{":
            match = _PLACEHOLDER.match(text, start)
            variable = match.group(1).lower() if match else None
            fallback = match.group(2) if match else None
        else:
            match = _MERGE_FIELD.match(text, start)
            spelled = match.group(1).lower() if match else None
            variable = MERGE_FIELDS.get(spelled or "")
            if match and variable is None:
                raise TemplateSyntaxError(f"unknown merge field {{!{match.group(1)}}}; "
                                          f"telecase knows {', '.join(sorted(MERGE_FIELDS))}")
            fallback = None
        if match is None or variable is None:
            snippet = text[start:start + 30].splitlines()[0] if text[start:] else ""
            raise TemplateSyntaxError(f"malformed placeholder at {snippet!r} (write "
                                      "{{variable}} or {{variable | fallback}})")
        if variable not in VARIABLES:
            raise TemplateSyntaxError(f"unknown variable {{{{{variable}}}}}; telecase knows "
                                      f"{', '.join(VARIABLES)}")
        if start > at:
            segments.append(text[at:start])
        segments.append(_Slot(variable, None if fallback is None else fallback.strip()))
        at = match.end()
    if at < len(text):
        segments.append(text[at:])
    return tuple(segments)


@dataclass(frozen=True)
class Template:
    """One template: its command name, text, and where it came from (``id``: the Quick Text's
    record id). Its text is parsed on construction; a template whose text is invalid keeps the
    reason in ``problem`` and refuses to expand (a Quick Text an admin got wrong is reported to
    the agent who uses it; a file's templates are checked at start with :meth:`make`)."""

    name: str
    text: str
    source: TemplateSource = "file"
    id: str | None = None
    description: str = ""
    segments: tuple[Segment, ...] = field(default=(), init=False, compare=False, repr=False)
    problem: str | None = field(default=None, init=False, compare=False)

    def __post_init__(self) -> None:
        segments: tuple[Segment, ...] = ()
        problem: str | None = None
        if not self.text.strip():
            problem = "it has no text"
        else:
            try:
                segments = parse(self.text)
            except TemplateSyntaxError as exc:
                problem = str(exc)
        object.__setattr__(self, "segments", segments)
        object.__setattr__(self, "problem", problem)

    @classmethod
    def make(cls, name: str, text: str, source: TemplateSource = "file",
             id: str | None = None, description: str = "") -> Template:
        """A checked template (:class:`TemplateSyntaxError` when its name or text is
        invalid)."""
        if not NAME.match(name):
            raise TemplateSyntaxError(f"template name {name!r}: use lower-case letters, "
                                      "digits, '-' and '_'")
        template = cls(name, text, source, id, description)
        if template.problem is not None:
            raise TemplateSyntaxError(template.problem)
        return template

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.variable for s in self.segments if isinstance(s, _Slot)))


def expand(template: Template, values: Mapping[str, str | None]) -> str:
    """The template's text with every placeholder replaced. All or nothing: when a variable
    without a fallback has no value (missing, ``None`` or blank), :class:`MissingVariableError`
    names every such variable and no text is produced; an invalid template raises
    :class:`TemplateSyntaxError`."""
    if template.problem is not None:
        raise TemplateSyntaxError(template.problem)
    missing = [s.variable for s in template.segments if isinstance(s, _Slot)
               and s.fallback is None and not (values.get(s.variable) or "").strip()]
    if missing:
        raise MissingVariableError(template.name, list(dict.fromkeys(missing)))
    out: list[str] = []
    for segment in template.segments:
        if isinstance(segment, str):
            out.append(segment)
            continue
        value = (values.get(segment.variable) or "").strip()
        out.append(value if value else (segment.fallback or ""))
    return "".join(out).strip()


@dataclass(frozen=True)
class TemplateCatalog:
    """The templates an agent may use, by name. ``merged`` puts two together (the first one's
    template wins a name both have)."""

    templates: Mapping[str, Template] = field(default_factory=dict)

    def get(self, name: str) -> Template:
        found = self.templates.get(name.lower())
        if found is None:
            raise UnknownTemplateError(name, self.templates)
        return found

    def __len__(self) -> int:
        return len(self.templates)

    def merged(self, other: TemplateCatalog) -> TemplateCatalog:
        return TemplateCatalog({**other.templates, **self.templates})

    @classmethod
    def of(cls, templates: Iterable[Template]) -> TemplateCatalog:
        return cls({t.name: t for t in templates})

    @classmethod
    def from_mapping(cls, document: Mapping[str, Any]) -> TemplateCatalog:
        """The ``[templates.<name>]`` tables of a templates file (each with ``text`` and an
        optional ``description``). Every problem is reported, one line each, in a
        :class:`TemplateSyntaxError`."""
        tables = document.get("templates")
        if not isinstance(tables, Mapping) or not tables:
            raise TemplateSyntaxError("no [templates.<name>] tables")
        found: list[Template] = []
        problems: list[str] = []
        for name, table in tables.items():
            if not isinstance(table, Mapping) or not isinstance(table.get("text"), str):
                problems.append(f"[templates.{name}]: needs text = \"...\"")
                continue
            unknown = sorted(set(table) - {"text", "description"})
            if unknown:
                problems.append(f"[templates.{name}]: unknown keys {', '.join(unknown)}")
                continue
            try:
                found.append(Template.make(str(name), table["text"],
                                           description=str(table.get("description", ""))))
            except TemplateSyntaxError as exc:
                problems.append(f"[templates.{name}]: {exc}")
        if problems:
            raise TemplateSyntaxError("\n".join(problems))
        return cls.of(found)


NO_TEMPLATES = TemplateCatalog()

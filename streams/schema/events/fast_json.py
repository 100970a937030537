"""An event's JSON written by msgspec wherever msgspec writes pydantic's own bytes (issue 19).

pydantic-core's serializer takes about 3 us for an SLA breach; through a plan, msgspec writes
the same bytes in about 2 (the plan's conversion half of it). The two agree byte for byte on
strings (the same escapes), integers, booleans, ``null``, arrays, objects, and datetimes whose
UTC offset is whole minutes (RFC 3339's; msgspec rounds an offset with seconds, pydantic drops
them). They differ on durations (pydantic's ``PT2H``, msgspec's
``PT7200S``) and on some floats (``1e+22`` against ``1e22``): those values are written by
pydantic's own serializer and embedded as they are (``msgspec.Raw``).

A model gets a :class:`Plan` when pydantic would write each of its fields as its value's type
says, with nothing configured to change that (no alias, no excluded or computed field, no
custom serializer, no JSON option), and each field's type is one of: ``str``, ``int``,
``bool``, ``None``, a ``Literal`` of those, ``datetime``, ``timedelta``, ``float``, a model
with a plan, a tuple of any of them, or a union of them. Anything else keeps pydantic's
serializer. At run time a value the plan cannot vouch for (a datetime whose offset has
seconds, an instance holding other fields than its model's) falls back to pydantic for the
whole event. Like pydantic, msgspec writes the fields in the order the instance holds them.
A test holds every event type with a plan to ``model_dump_json`` on random values.
"""

from __future__ import annotations

import operator
import types
import typing
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any, Literal

import msgspec
from pydantic import BaseModel, TypeAdapter
from pydantic_core import TzInfo

__all__ = ["WRITE", "Fallback", "Plan", "plan_of"]

_DURATION_JSON = TypeAdapter(timedelta).serializer.to_json
_FLOAT_JSON = TypeAdapter(float).serializer.to_json
_DURATIONS: dict[timedelta, msgspec.Raw] = {}
_DURATIONS_MAX = 4096
_PLAIN = (str, int, bool, type(None))
_FIELDS = operator.attrgetter("__dict__")
_CONFIG_KEYS = {"frozen", "extra", "title"}
"""``model_config`` keys that do not change what pydantic writes."""

Convert = Callable[[Any], Any]
Converted = dict[str, Any] | msgspec.Raw
"""What msgspec writes for a model: its fields converted, or their JSON already written."""


class Fallback(Exception):
    """A value this plan cannot vouch for: encode the event with pydantic."""


def _instant(value: datetime) -> datetime:
    tz = value.tzinfo
    if tz is not None and tz is not UTC:
        whole = _WHOLE_MINUTES.get(tz)
        if whole is None:
            # ``offset % timedelta(minutes=1)`` is falsy, read from the offset's fields
            # (``seconds`` is 0 to 86,399 whatever its sign).
            offset = value.utcoffset()
            whole = offset is None or not (offset.seconds % 60 or offset.microseconds)
            if type(tz) in _FIXED_OFFSETS:  # one offset at every instant: remembered
                if len(_WHOLE_MINUTES) >= _OFFSETS_MAX:
                    _WHOLE_MINUTES.clear()
                _WHOLE_MINUTES[tz] = whole
        if not whole:
            raise Fallback
    return value


_FIXED_OFFSETS = (timezone, TzInfo)
_WHOLE_MINUTES: dict[tzinfo, bool] = {}
"""Whether a fixed offset is whole minutes, by the offset (equal offsets hash alike). Every
instant pydantic parsed has its own ``TzInfo`` (a tick's, in every event the tick fires),
whose ``utcoffset`` is about 0.3 us a call (issue 19)."""
_OFFSETS_MAX = 1024
"""Offsets remembered at most (cleared when full; real ones are a few dozen)."""


def _duration(value: timedelta) -> msgspec.Raw:
    raw = _DURATIONS.get(value)
    if raw is None:  # SLA targets: a few values, written again and again
        if len(_DURATIONS) >= _DURATIONS_MAX:
            _DURATIONS.clear()
        raw = _DURATIONS[value] = msgspec.Raw(_DURATION_JSON(value))
    return raw


def _number(value: float) -> msgspec.Raw:
    return msgspec.Raw(_FLOAT_JSON(value))


def _scalar(value: Any) -> Any:
    """A value of a union of plain types and ``float``: converted by its own type."""
    kind = type(value)
    if kind is float:
        return _number(value)
    if kind in _PLAIN:
        return value
    raise Fallback


def _nested(value: Any) -> Any:
    """msgspec's hook for what it does not write itself: a nested model with a plan."""
    plan = _PLANS.get(type(value))
    if plan is None:
        raise Fallback
    return plan.convert(value)


class Plan:
    """How to turn one model's instance into what msgspec writes as pydantic would: its
    fields (a copy where a value is converted, a nested model by its own plan); models in a
    tuple or a union are left to msgspec's hook (:data:`WRITE`), which does the same. A
    frozen model's plan remembers the last instance it converted, and when that instance comes
    again, its JSON (a :class:`msgspec.Raw`): a tick's events share one ``source``.
    :attr:`convert` is the conversion itself, a function made for the model's fields (calling
    the plan calls it): a plan's own ``__call__`` with its attributes looked up at each event
    took 1.75 us of an SLA breach's 2.9 where converting the fields takes 0.5 (issue 19)."""

    def __init__(self, names: tuple[str, ...], instants: tuple[str, ...],
                 converts: tuple[tuple[str, Convert], ...], frozen: bool) -> None:
        self.names, self.instants, self.converts = frozenset(names), instants, converts
        self.frozen = frozen
        self.convert: Callable[[BaseModel], Converted] = _converter(
            self.names, instants, converts, frozen)

    def __call__(self, model: BaseModel) -> Converted:
        return self.convert(model)


def _converter(names: frozenset[str], instants: tuple[str, ...],
               converts: tuple[tuple[str, Convert], ...], frozen: bool
               ) -> Callable[[BaseModel], Converted]:
    # A frozen model's last instance, its fields converted, and (once it came again) their
    # JSON: a tick's events share one ``source`` and the SLA clock's ``actor``, written once
    # for all of them (about 0.13 us an event at a restart, issue 19).
    last: list[Any] = [None, None, None]
    size = len(names)

    def convert(model: BaseModel) -> Converted:
        if model is last[0]:
            written = last[2]
            if written is None:
                written = last[2] = msgspec.Raw(WRITE(last[1]))
            return written  # type: ignore[no-any-return]
        fields = model.__dict__
        # pydantic writes the fields it knows, in this order: the same keys (as many, all
        # known; ``keys() == names`` hashed each key twice, about 0.1 us more an event)
        if len(fields) != size or not names.issuperset(fields):
            raise Fallback
        for name in instants:
            value = fields[name]
            if value is not None and value.tzinfo is not UTC:
                _instant(value)
        out = fields
        if converts:
            out = dict(fields)
            for name, how in converts:
                value = fields[name]
                if value is not None:
                    out[name] = how(value)
        if frozen:
            last[0], last[1], last[2] = model, out, None
        return out

    return convert


WRITE: Callable[[Any], bytes] = msgspec.json.Encoder(enc_hook=_nested).encode
"""msgspec's JSON of what a plan returns (raises :class:`Fallback` where it cannot vouch)."""
_PLANS: dict[type[BaseModel], Plan | None] = {}


def plan_of(model: type[BaseModel]) -> Plan | None:
    """The model's plan; ``None`` when pydantic's serializer must write it (see the module)."""
    if model not in _PLANS:
        _PLANS[model] = None  # a model that holds itself gets none
        _PLANS[model] = _build(model)
    return _PLANS[model]


def _build(model: type[BaseModel]) -> Plan | None:
    decorators = model.__pydantic_decorators__
    if (set(model.model_config) - _CONFIG_KEYS or model.model_computed_fields
            or decorators.field_serializers or decorators.model_serializers):
        return None
    instants: list[str] = []
    converts: list[tuple[str, Convert]] = []
    for name, field in model.model_fields.items():
        if field.alias or field.serialization_alias or field.exclude:
            return None
        convert = _convert_of(field.annotation)
        if convert is False:
            return None
        if convert is _instant:
            instants.append(name)
        elif isinstance(convert, Plan):
            converts.append((name, convert.convert))
        elif convert is not None and convert is not _nested:  # the hook's: left as it is
            converts.append((name, convert))
    return Plan(tuple(model.model_fields), tuple(instants), tuple(converts),
                frozen=model.model_config.get("frozen") is True)


def _convert_of(annotation: Any) -> Convert | Literal[False] | None:
    """How a field of this type is converted (``None``: written as it is; ``False``: not by
    msgspec)."""
    if annotation in _PLAIN:
        return None
    if annotation is datetime:
        return _instant
    if annotation is timedelta:
        return _duration
    if annotation is float:
        return _number
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Literal:
        return None if all(type(a) in _PLAIN for a in args) else False
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        plan = plan_of(annotation)
        if plan is None:
            return False
        # A model with nothing to convert or check is its fields (pydantic keeps them in
        # their order), read without a Python call.
        return _FIELDS if not plan.instants and not plan.converts else plan
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        item = _convert_of(args[0])
        if item is None or item is False:
            return item
        if isinstance(item, Plan) or item is _FIELDS:
            return _nested  # msgspec's hook, each model by its plan
        return lambda values: [item(v) for v in values]
    if origin in (types.UnionType, typing.Union):
        members = [_convert_of(a) for a in args if a is not type(None)]
        if all(m is None for m in members):
            return None
        if len(members) == 1:
            return members[0]  # ``X | None``: None is written as it is
        if all(m is None or m is _FIELDS or isinstance(m, Plan) for m in members):
            return _nested  # msgspec's hook, each model by its own plan
        if all(m is None or m is _number for m in members):
            return _scalar
        return False
    return False

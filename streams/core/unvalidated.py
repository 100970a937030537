"""Building a pydantic model from values already what it declares, without validating them.

The core builds every event of a customer's message from values that were validated once
already: the Telegram update's (ids, names, dates), instances of the models the event holds,
strings and integers it composes. Validating them again in each model's ``__init__`` was
about 6 of a customer message's 12.5 us of ``decide`` (issue 19). :func:`unvalidated` makes
the instance ``model.model_validate(given)`` would make for such values (timeit: the event
1.05 us against 2.5, ``Customer`` 0.89 against 1.27, ``SourceRef`` 0.79 against 1.15,
``Actor`` 0.76 against 0.95; pydantic's own ``model_construct`` took 7 for the event): the
model's fields in its order, each ``given`` value as it is, the defaults for the others, and
the fields set those ``given``. Validating a value of a field's own type gives that value
back (a ``str``, an ``int``, a ``datetime``, an instance of the field's model), so the two
instances are equal, field by field, and write the same JSON; the callers' tests hold them so.

Only for models whose validation changes nothing else: no validators, no default factories,
no private attributes, no extra fields kept (checked when a model is first built).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel

__all__ = ["unvalidated", "whole_builder"]

_Model = TypeVar("_Model", bound=BaseModel)
_TEMPLATES: dict[type[BaseModel], dict[str, Any]] = {}
_set = object.__setattr__


def unvalidated(model: type[_Model], given: dict[str, Any]) -> _Model:
    """``model(**given)``, for ``given`` values of the fields' own types that name every
    required field (see the module)."""
    template = _TEMPLATES.get(model)
    if template is None:
        template = _TEMPLATES[model] = _template(model)
    fields = template.copy()  # the model's order, kept by the update
    fields.update(given)
    instance = object.__new__(model)
    _set(instance, "__dict__", fields)
    _set(instance, "__pydantic_fields_set__", set(given))
    _set(instance, "__pydantic_extra__", None)
    _set(instance, "__pydantic_private__", None)
    return instance


def whole_builder(model: type[_Model], defaulted: frozenset[str] = frozenset()
                  ) -> Callable[[dict[str, Any]], _Model]:
    """:func:`unvalidated` for a caller that names every field of ``model`` in the model's
    order, those in ``defaulted`` at their defaults (not counted as given): the dict it passes
    becomes the instance's own, with no template copied nor fields set worked out at each
    call. Made once per model, and refused for the models :func:`unvalidated` refuses. The SLA
    clock's warnings, breaches and met targets are built so, one per overdue timer at a
    restart (about 0.45 us an event less than :func:`unvalidated`, issue 19)."""
    template = _TEMPLATES.get(model)
    if template is None:
        template = _TEMPLATES[model] = _template(model)
    given = set(template) - defaulted
    # A frozen model's instances share one fields set: pydantic changes an instance's set only
    # when a field is assigned, which a frozen model refuses (``model_copy`` copies the set
    # before it adds to it). A copy each was some 730 bytes an event, held with the event
    # until its batch is written: at a restart, a tick's 10,000 events made the process fault
    # in some 1,800 fresh pages more (issue 19).
    shared = model.model_config.get("frozen") is True

    def build(fields: dict[str, Any]) -> _Model:
        instance = object.__new__(model)
        _set(instance, "__dict__", fields)
        _set(instance, "__pydantic_fields_set__", given if shared else given.copy())
        _set(instance, "__pydantic_extra__", None)
        _set(instance, "__pydantic_private__", None)
        return instance

    return build


def _template(model: type[BaseModel]) -> dict[str, Any]:
    decorators = model.__pydantic_decorators__
    if (model.model_config.get("extra") == "allow" or model.__private_attributes__
            or any((decorators.validators, decorators.field_validators,
                    decorators.root_validators, decorators.model_validators))):
        raise TypeError(f"{model.__name__} changes what it validates: validate it")
    if any(f.default_factory is not None for f in model.model_fields.values()):
        raise TypeError(f"{model.__name__} has a default factory: validate it")
    return {name: f.default for name, f in model.model_fields.items()}

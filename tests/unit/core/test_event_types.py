"""Every event model is a leaf, so the core may tell events apart by their exact type."""

from __future__ import annotations

from streams.core.service_level import _NO_CLOCK_EVENTS
from streams.schema.events import EVENT_TYPES


def test_every_event_model_is_a_leaf_so_its_type_says_what_isinstance_would() -> None:
    """The core looks some events up by their exact type (``service_level._NO_CLOCK_EVENTS``),
    which is ``isinstance`` only while no event model has a subclass."""
    for model in EVENT_TYPES:
        assert model.__subclasses__() == [], model
    assert set(EVENT_TYPES) >= _NO_CLOCK_EVENTS

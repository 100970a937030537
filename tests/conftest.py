"""Session-wide servers: one real Kafka broker and one PostgreSQL server for the whole run,
started only when a test asks for them (see ``tests/infra.py`` for where they come from)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import infra


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    with infra.kafka() as servers:
        yield servers


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    with infra.postgres() as url:
        yield url

"""Reading a telecase process's ``/metrics`` endpoint (``TELECASE_METRICS_PORT``) in tests."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample


@dataclass(frozen=True)
class Scrape:
    samples: list[Sample]

    def series(self, name: str, **labels: str) -> list[Sample]:
        """The samples of ``name`` whose labels include ``labels``."""
        return [s for s in self.samples if s.name == name
                and all(s.labels.get(k) == v for k, v in labels.items())]

    def total(self, name: str, **labels: str) -> float:
        return sum(s.value for s in self.series(name, **labels))


def scrape(port: int) -> Scrape | None:
    """What the process on ``port`` serves now (``None``: it does not answer yet)."""
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    except httpx.TransportError:
        return None
    response.raise_for_status()
    return Scrape([s for family in text_string_to_metric_families(response.text)
                   for s in family.samples])

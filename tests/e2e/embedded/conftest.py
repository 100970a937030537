"""``telecase run`` (the embedded runtime) as a process, with the same inspection methods as the
Kafka deployment fixture, so the same scenarios run against both runtimes."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from streams.runtime.bus import Record
from streams.runtime.topics import TopicNames
from tests import infra
from tests.e2e.kafka.conftest import BOT_TOKEN, SimulatorThread, free_port

__all__ = ["EmbeddedDeployment", "SimulatorThread"]


@dataclass
class EmbeddedDeployment:
    data_dir: Path
    webhook_secret: str = field(default_factory=lambda: uuid.uuid4().hex)
    webhook_port: int = field(default_factory=free_port)
    processes: list[infra.Process] = field(default_factory=list)
    agent_ids: str = ""
    names: TopicNames = field(default_factory=TopicNames)

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.webhook_port}/telegram"

    def env(self, **extra: str) -> dict[str, str]:
        return {"TELECASE_DATA_DIR": str(self.data_dir),
                "TELECASE_TELEGRAM_BOT_TOKEN": BOT_TOKEN,
                "TELECASE_TELEGRAM_WEBHOOK_SECRET": self.webhook_secret,
                "TELECASE_WEBHOOK_HOST": "127.0.0.1",
                "TELECASE_WEBHOOK_PORT": str(self.webhook_port),
                "TELECASE_DATABASE_URL": "", "DATABASE_URL": "",
                "TELECASE_LOG_LEVEL": "info", "TELECASE_TELEGRAM_AGENT_IDS": self.agent_ids,
                **extra}

    def start(self, name: str, *args: str, **extra: str) -> infra.Process:
        proc = infra.Process(list(args), self.env(**extra), self.data_dir.parent, name).start()
        self.processes.append(proc)
        return proc

    def run(self, name: str = "run", *args: str, **extra: str) -> infra.Process:
        """``telecase run`` serving the webhook; returns once the port answers."""
        proc = self.start(name, "run", *args, **extra)
        if "--demo" not in args:
            infra.wait_for(lambda: infra.port_open(self.webhook_port) or not proc.alive(), 60,
                           what="webhook port")
            assert proc.alive(), proc.output()
        return proc

    def cases(self) -> list[dict[str, Any]]:
        path = self.data_dir / "projections.sqlite"
        return infra.read_cases(f"sqlite:///{path}") if path.exists() else []

    def read_topic(self, topic: str) -> list[Record]:
        path = self.data_dir / "log.sqlite"
        if not path.exists():
            return []
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        try:
            rows = db.execute("SELECT partition, offset, key, value, ts FROM records "
                              "WHERE topic = ? ORDER BY partition, offset", (topic,)).fetchall()
        finally:
            db.close()
        return [Record(topic, p, o, k, v, ts) for p, o, k, v, ts in rows]

    def position(self, group: str, topic: str) -> int:
        db = sqlite3.connect(f"file:{self.data_dir / 'log.sqlite'}?mode=ro", uri=True)
        try:
            row = db.execute("SELECT COALESCE(SUM(next_offset), 0) FROM positions "
                             "WHERE grp = ? AND topic = ?", (group, topic)).fetchone()
        finally:
            db.close()
        return int(row[0])

    def stop_all(self) -> None:
        for proc in reversed(self.processes):
            proc.stop()


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[EmbeddedDeployment]:
    dep = EmbeddedDeployment(data_dir=tmp_path / "data")
    try:
        yield dep
    finally:
        dep.stop_all()
        infra.show_outputs(dep.processes)


@pytest.fixture
def telegram() -> Iterator[SimulatorThread]:
    sim = SimulatorThread()
    try:
        yield sim
    finally:
        sim.close()

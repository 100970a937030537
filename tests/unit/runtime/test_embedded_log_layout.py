"""The embedded log's tables: new logs keep records and states in rowid tables, and a log
created with the earlier ``WITHOUT ROWID`` tables keeps them and works the same."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from streams.runtime.bus import Outgoing
from streams.runtime.embedded.log import EmbeddedLog

EARLIER = """
CREATE TABLE records (
    topic TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL,
    key BLOB, value BLOB NOT NULL, ts REAL NOT NULL,
    PRIMARY KEY (topic, partition, offset)) WITHOUT ROWID;
CREATE TABLE topics (name TEXT PRIMARY KEY, partitions INTEGER NOT NULL);
CREATE TABLE positions (
    grp TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL, PRIMARY KEY (grp, topic, partition)) WITHOUT ROWID;
CREATE TABLE kv (
    space TEXT NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL,
    PRIMARY KEY (space, key)) WITHOUT ROWID;
INSERT INTO topics VALUES ('t', 2);
INSERT INTO records VALUES ('t', 1, 0, x'6b', x'7630', 1.0);
INSERT INTO kv VALUES ('threads', x'6b', x'7330');
"""


def _without_rowid(path: Path) -> dict[str, bool]:
    db = sqlite3.connect(path)
    try:
        return {name: "WITHOUT ROWID" in sql for name, sql in db.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table'")}
    finally:
        db.close()


async def _use(log: EmbeddedLog) -> tuple[list[bytes], bytes | None]:
    """Append, overwrite a state, commit a position, and read it all back."""
    await log.append("t", [Outgoing(b"k", b"v1", partition=1), Outgoing(b"k", b"v2",
                                                                         partition=1)])
    await log.transact(lambda db: log.put_states_in(db, "threads", [(b"k", b"s1")]))
    await log.commit("g", "t", {1: 3})
    assert await log.committed("g", "t") == {1: 3}
    records = await log.read("t", 1, 0, 10)
    assert [r.offset for r in records] == list(range(len(records)))
    return [r.value for r in records], log.get_state("threads", b"k")


async def test_a_new_log_keeps_its_large_rows_in_rowid_tables(tmp_path: Path) -> None:
    log = await EmbeddedLog.open(tmp_path / "log.sqlite", 2)
    await log.create_topic("t", 2)
    assert await _use(log) == ([b"v1", b"v2"], b"s1")
    await log.close()
    assert _without_rowid(tmp_path / "log.sqlite") == {
        "records": False, "topics": False, "positions": True, "kv": False}


async def test_a_log_made_with_the_earlier_tables_works_the_same(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite"
    db = sqlite3.connect(path)
    db.executescript(EARLIER)
    db.close()
    log = await EmbeddedLog.open(path, 2)
    assert log.get_state("threads", b"k") == b"s0"
    assert await _use(log) == ([b"v0", b"v1", b"v2"], b"s1")
    await log.close()
    reopened = await EmbeddedLog.open(path, 2)  # the offsets go on from the stored ones
    assert await reopened.end_offsets("t") == {0: 0, 1: 3}
    await reopened.close()
    assert _without_rowid(path) == {
        "records": True, "topics": False, "positions": True, "kv": True}

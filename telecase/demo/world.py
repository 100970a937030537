"""The demo's simulated world kept with the log: the simulated Telegram's users, forum, topics
and messages and the simulated Salesforce org's records, in ``<data dir>/demo-world.pickle``.

``telecase run --demo`` loads it before the simulators start and saves it every few seconds, at
the end, and whenever the simulated org changed, before it answers the request that changed it
(a real org never forgets a Case it confirmed), so a restarted demo continues the same chats,
Cases and agents the log already knows (an org started empty would hand out the same Ids and
CaseNumbers again, and agents' replies would go to chats that no longer exist).
``telecase run --demo --fresh`` starts over: the data directory's log, projections and world
are removed first.

The file is Python's pickle of the simulators' own objects, written by this program into the
data directory it owns; it is never read from anywhere else. A file that cannot be read is
moved aside and the demo starts with a new world (and says so).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

if TYPE_CHECKING:
    from simulators.salesforce.org import Org
    from simulators.telegram.world import World

WORLD_FILE = "demo-world.pickle"
SAVE_INTERVAL = 5.0
"""Seconds between two saves while the demo runs (a kill loses at most this much)."""
FORUM_TITLE = "Sales desk"

log = structlog.get_logger("telecase.demo")


@dataclass
class DemoWorld:
    """What the demo's simulators know, and the demo's people in them."""

    telegram: World | None = None
    salesforce: Org | None = None
    agents: dict[str, str] = field(default_factory=dict)
    """Salesforce User Ids of the demo's agents, by name."""


def world_path(data_dir: str | Path) -> Path:
    return Path(data_dir) / WORLD_FILE


def load(data_dir: str | Path) -> DemoWorld:
    """The saved world, or an empty one (none saved, or unreadable: moved aside)."""
    path = world_path(data_dir)
    if not path.exists():
        return DemoWorld()
    try:
        loaded = pickle.loads(path.read_bytes())
        if not isinstance(loaded, DemoWorld):
            raise TypeError(type(loaded).__name__)
    except Exception as exc:
        aside = path.with_suffix(".unreadable")
        path.replace(aside)
        log.warning("demo.world_unreadable", path=str(path), moved_to=str(aside),
                    error=type(exc).__name__)
        return DemoWorld()
    if loaded.salesforce is not None:  # the org's call log is the last run's, not the world's
        loaded.salesforce.log.clear()
    return loaded


def save(data_dir: str | Path, world: DemoWorld) -> None:
    """Write ``world`` whole or not at all (a new file, then renamed over the old one)."""
    path = world_path(data_dir)
    data = pickle.dumps(world, protocol=pickle.HIGHEST_PROTOCOL)
    temporary = path.with_suffix(".tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


async def keep_saving(data_dir: str | Path, world: DemoWorld, stop: asyncio.Event) -> None:
    """Save ``world`` every :data:`SAVE_INTERVAL` seconds until ``stop``, then once more.
    The simulators change it only on the event loop, so each save is one consistent moment."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), SAVE_INTERVAL)
        save(data_dir, world)


def start_over(data_dir: str | Path) -> None:
    """``--fresh``: remove the data directory (log, projections, world), to start empty."""
    path = Path(data_dir)
    if path.exists():
        shutil.rmtree(path)


def open_topics(world: World) -> tuple[dict[str, Any] | None, list[tuple[int, int, int]]]:
    """The demo forum's chat and its open topics as the traffic continues them:
    (customer's user id, thread id, id of the customer's last message there)."""
    forums = [c for c in world.chats.values()
              if c.kind == "forum" and c.info.get("title") == FORUM_TITLE]
    if not forums:
        return None, []
    forum = forums[-1]
    topics: list[tuple[int, int, int]] = []
    for thread, topic in forum.topics.items():
        if topic.closed or topic.deleted:
            continue
        user_id = int(topic.creation["from"]["id"])
        said = [m["message_id"] for m in forum.messages.values()
                if m.get("message_thread_id") == thread and m.get("from", {}).get("id") == user_id
                and "text" in m]
        if said:
            topics.append((user_id, thread, max(said)))
    return dict(forum.info), topics

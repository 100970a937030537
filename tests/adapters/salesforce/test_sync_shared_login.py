"""One login and one connection pool per process: the sync that ``telecase run`` and the
Kafka Salesforce connector build (``telecase.bootstrap.salesforce.sync_runner``) and the
change poller beside it share one logged-in simple-salesforce client, so one HTTP session
(one pool of connections per host) and one token request, and the sync lingers as set."""

from __future__ import annotations

from pathlib import Path

from simulators.salesforce import SalesforceDriver, SalesforceSimulator
from streams.runtime.embedded.log import EmbeddedLog
from streams.runtime.topics import TopicNames
from telecase.bootstrap.salesforce import change_poller, sync_runner
from tests.adapters.salesforce.test_auth import _settings, fresh_clients, key_pair

__all__ = ["fresh_clients", "key_pair"]


async def test_the_sync_and_the_poller_share_one_login_and_one_session(
        sim: SalesforceSimulator, driver: SalesforceDriver, key_pair: tuple[Path, str],
        tmp_path: Path) -> None:
    path, public = key_pair
    await driver.register_jwt_key(sim.consumer_key, public)
    settings = _settings(sim, salesforce_consumer_key=sim.consumer_key,
                         salesforce_private_key_file=str(path),
                         salesforce_username=sim.username, data_dir=str(tmp_path),
                         salesforce_sync_linger=0.8)
    log = await EmbeddedLog.open(tmp_path / "log.sqlite")
    names = TopicNames()
    try:
        await driver.clear_requests()
        runner = await sync_runner(settings, log, names, None)
        poller = await change_poller(settings, None, log, names)  # type: ignore[arg-type]
        assert runner.sync.api.sf is poller.api.sf  # type: ignore[attr-defined]
        assert runner.sync.api.sf.session is poller.api.sf.session  # type: ignore[attr-defined]
        tokens = [c for c in await driver.requests() if "/oauth2/token" in c["path"]]
        assert len(tokens) == 1
        assert runner.linger.limits() == (0.8, runner.batch_max)
    finally:
        await log.close()

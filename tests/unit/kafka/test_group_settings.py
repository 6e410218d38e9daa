"""The worker's Faust settings: the consumer-group session (how long a dead worker's partitions
wait for a new owner, measured by bench/recovery.py) and the root logger's level."""

from dataclasses import replace

import pytest

from streams.kafka import compat
from streams.kafka.app import create_app
from streams.settings import Settings


def test_the_group_session_and_heartbeat_reach_the_worker_app(tmp_path):
    settings = replace(Settings.from_env({}), broker_flavor="kafka", data_dir=str(tmp_path), group_session_timeout_s=8.0)
    conf = create_app(settings).app.conf
    assert (conf.broker_session_timeout, conf.broker_heartbeat_interval) == (8.0, 2.0)


def test_on_the_embedded_broker_the_rebalance_timeout_follows_the_session():
    # Its joins wait about half the group's rebalance timeout (NOTES.md): Faust's 60 s default
    # made every rejoin take half a minute.
    assert compat.faust_settings(6.0) == {"broker_rebalance_timeout": 6.0}


@pytest.mark.parametrize("seconds", [0.0, -1.0])
def test_a_session_that_is_not_positive_is_refused(seconds):
    with pytest.raises(ValueError, match="CHURNGUARD_GROUP_SESSION_TIMEOUT_S"):
        Settings.from_env({"CHURNGUARD_GROUP_SESSION_TIMEOUT_S": str(seconds)})


def test_the_worker_keeps_the_root_logger_at_the_level_asked_for(tmp_path):
    # faust.Worker's terminal spinner would set it to DEBUG: every library debug line built and dropped.
    import logging

    from streams.kafka.app import Worker

    root = logging.getLogger()
    saved = root.level, list(root.handlers)
    try:
        settings = replace(Settings.from_env({}), broker_flavor="kafka", data_dir=str(tmp_path))
        Worker(create_app(settings).app, loglevel="WARNING", quiet=True, redirect_stdouts=False)._setup_logging()
        assert root.level == logging.WARNING and not logging.getLogger("faust.tables.recovery").isEnabledFor(logging.DEBUG)
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]


def test_the_life_table_reader_waits_no_longer_for_records_than_the_worker_input(tmp_path):
    """A fetch on the embedded broker waits its whole maximum even when records arrive (quirk 4 in
    streams/kafka/compat.py): with aiokafka's 500 ms a partition waiting for another worker's
    life-table record sat idle that long."""
    import asyncio

    from streams.kafka.life_tables import consumer_for

    async def made() -> int:  # aiokafka wants a running loop; nothing connects before start()
        return consumer_for(replace(Settings.from_env({}), data_dir=str(tmp_path)), "test")._fetch_max_wait_ms

    assert asyncio.run(made()) == compat.FETCH_MAX_WAIT_MS

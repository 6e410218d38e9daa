from dataclasses import replace

import pytest

from streams.kafka.broker import EmbeddedBroker, free_port
from streams.kafka.admin import create_topics
from streams.settings import Settings


@pytest.fixture
def broker():
    with EmbeddedBroker() as b:
        yield b


@pytest.fixture
def settings_for(broker, tmp_path):
    """Settings of a worker on the test's embedded broker (unique web port and data dir)."""

    def make(app_id: str = "churnguard-test", **overrides) -> Settings:
        values = {"broker": broker.bootstrap, "broker_flavor": "tansu", "app_id": app_id, "web_port": free_port(),
                  "web_debug": True,
                  "data_dir": str(tmp_path / f"data-{free_port()}"), **overrides}
        s = replace(Settings.from_env({}), **values)
        create_topics(s)
        return s

    return make

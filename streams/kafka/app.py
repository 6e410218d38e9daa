"""The Faust app: broker, topics and tables from the settings. Agents are wired in agents/."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import faust

from streams.kafka import codecs, compat, offsets, security
from streams.settings import Settings

# The stored form of the tables (UserState.to_dict, the pickled model's inputs). A change gets new
# table names, so a new worker never misreads an old changelog; it rebuilds state from the inputs.
STATE_FORMAT = 4


@dataclass
class Wiring:
    app: faust.App
    settings: Settings
    source: faust.TopicT
    user_table: faust.Table
    partition_table: faust.Table


def table_names() -> tuple[str, str]:
    """The user and partition tables' names (their changelogs are ``<app_id>-<name>-changelog``)."""
    return f"user-state-v{STATE_FORMAT}", f"partition-state-v{STATE_FORMAT}"


def changelog_topics(settings: Settings) -> tuple[str, str]:
    """The user and partition tables' changelog topics, as Faust names them."""
    return tuple(f"{settings.app_id}-{name}-changelog" for name in table_names())  # type: ignore[return-value]


def create_app(settings: Settings) -> Wiring:
    codecs.register()
    offsets.install()
    extra = {}
    if settings.broker_flavor == "tansu":
        compat.enable(settings.broker)
        extra.update(compat.FAUST_SETTINGS)
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{settings.broker}",
        store="memory://",
        topic_partitions=settings.partitions,
        topic_disable_leader=True,
        # Our engine holds events unacked until the watermark releases them; waiting for
        # "empty" on rebalance would stall. Unacked events are simply redelivered.
        stream_wait_empty=False,
        consumer_auto_offset_reset="earliest",
        processing_guarantee="at_least_once",
        web_port=settings.web_port,
        web_host=settings.web_host,
        web_bind=settings.web_host,
        datadir=settings.data_dir,
        broker_credentials=security.faust_credentials(settings),
        topic_replication_factor=settings.replication_factor,
        **extra,
    )
    raw = {"key_serializer": "raw", "value_serializer": "raw"}
    user_name, partition_name = table_names()
    user_table = app.Table(user_name, partitions=settings.partitions)
    partition_table = app.Table(partition_name, partitions=settings.partitions)
    # Faust derives table serializers from model types; ours are plain classes with orjson codecs.
    # The changelog topic (made at registration with the JSON default) is rebuilt with them, so
    # that recovery decodes what send_changelog encoded.
    for table, value_codec in ((user_table, "cg_user_state"), (partition_table, "cg_partition_state")):
        table.key_serializer = "cg_utf8"
        table.value_serializer = value_codec
        table.changelog_topic = table._new_changelog_topic()
    return Wiring(
        app=app,
        settings=settings,
        # Outcomes and erasure requests share the agent with the inputs: same partitions, same
        # worker, same user state.
        source=app.topic(*settings.input_topics, settings.topic_outcomes, settings.topic_erasure_requests, **raw),
        user_table=user_table,
        partition_table=partition_table,
    )

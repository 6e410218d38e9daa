"""The Faust app: broker, topics and tables from the settings. Agents are wired in agents/."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust

from streams.kafka import codecs, compat, drain, offsets, security
from streams.kafka.input_path import InboundMonitor, RawRecords, check_producer_buffer_directly
from streams.kafka.bulk_restore import local_tables
from streams.kafka.local_store import rocksdb_options, to_local
from streams.settings import Settings

# The stored form of the tables (UserState.to_dict, the pickled model's inputs). A change gets new
# table names, so a new worker never misreads an old changelog; it rebuilds state from the inputs.
STATE_FORMAT = 4


class RestoringTable(faust.Table):
    """A table that counts the changelog records recovery applies to it (the status page shows
    them: with local tables, a restart should read only the tail written since it stopped)."""

    records_restored = 0
    on_disk = False  # tables in RocksDB keep their records under local keys (streams/kafka/local_store.py)
    indexed = False  # ... and the user table a summary beside each

    def apply_changelog_batch(self, batch: Any) -> None:
        batch = list(batch)
        if self.on_disk:
            batch = self.newer_than_stored(batch)
        self.records_restored += len(batch)
        if self.on_disk:
            batch = to_local(batch, self.data._db_for_partition if self.indexed else None)
        super().apply_changelog_batch(batch)

    def newer_than_stored(self, batch: list[Any]) -> list[Any]:
        """The records past the offset a local database holds everything up to. Faust applies
        buffered records when a buffer fills or at a rebalance, possibly after the pipeline has
        written newer states with their offsets: applied, older records would put older states
        back and move the database's offset back (streams/kafka/local_store.py)."""
        stored: dict[Any, int | None] = {}
        newer = []
        for event in batch:
            tp = event.message.tp
            if tp not in stored:
                stored[tp] = self.data.persisted_offset(tp)
            held = stored[tp]
            if held is None or event.message.offset > held:
                newer.append(event)
        return newer


@dataclass
class Wiring:
    app: faust.App
    settings: Settings
    source: faust.TopicT
    user_table: RestoringTable
    partition_table: RestoringTable


def table_names() -> tuple[str, str]:
    """The user and partition tables' names (their changelogs are ``<app_id>-<name>-changelog``)."""
    return f"user-state-v{STATE_FORMAT}", f"partition-state-v{STATE_FORMAT}"


def changelog_topics(settings: Settings) -> tuple[str, str]:
    """The user and partition tables' changelog topics, as Faust names them."""
    return tuple(f"{settings.app_id}-{name}-changelog" for name in table_names())  # type: ignore[return-value]


class Worker(faust.Worker):
    """Faust's worker without its terminal spinner: the spinner's log handler sets the root logger
    to DEBUG for the whole run, so every debug line of Faust, mode and aiokafka (several per
    record in table recovery) was built into a record and dropped (a profile of a restore: about
    10 % of the worker's time in logging)."""

    def on_setup_root_logger(self, logger: Any, level: int) -> None:
        self.spinner = None
        super().on_setup_root_logger(logger, level)


def group_settings(settings: Settings) -> dict[str, Any]:
    """Faust's consumer-group settings, with the embedded broker's quirks handled when it is the
    broker (also for bench/bare_faust.py, so the floor runs as the worker does)."""
    session_s = settings.group_session_timeout_s
    out: dict[str, Any] = {"broker_session_timeout": session_s, "broker_heartbeat_interval": session_s / 4}
    if settings.broker_flavor == "tansu":
        compat.enable(settings.broker)
        out.update(compat.faust_settings(session_s))
    return out


def create_app(settings: Settings) -> Wiring:
    codecs.register()
    offsets.install()
    drain.install()
    extra = group_settings(settings)
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{settings.broker}",
        # Both tables (a table's own store URL "rocksdb://" is falsy to Faust and ignored).
        store="rocksdb://" if settings.table_store == "rocksdb" else "memory://",
        # Local tables far behind their changelogs catch up in bulk first (streams/kafka/bulk_restore.py).
        TableManager=local_tables(settings.broker, security.aiokafka(settings)) if settings.table_store == "rocksdb"
        else "faust.tables:TableManager",
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
        Monitor=InboundMonitor,
        **extra,
    )
    check_producer_buffer_directly(app)
    user_name, partition_name = table_names()
    def table(name: str) -> RestoringTable:
        # The store consumes its options: one dict per table.
        options = rocksdb_options(settings.rocksdb_cache_mb) if settings.table_store == "rocksdb" else None
        return app.tables.add(RestoringTable(app, name=name, partitions=settings.partitions, beacon=app.tables.beacon,
                                             options=options))

    user_table, partition_table = table(user_name), table(partition_name)
    user_table.on_disk = partition_table.on_disk = user_table.indexed = settings.table_store == "rocksdb"
    # Faust derives table serializers from model types; ours are plain classes with orjson codecs.
    # The changelog topic (made at registration with the JSON default) is rebuilt with them, so
    # that recovery decodes what the pipeline encoded. Local tables store the records as they are
    # (streams/kafka/local_store.py): their recovery decodes nothing (decoding was 38 % of a
    # restore's time).
    for table, value_codec in ((user_table, "cg_user_state"), (partition_table, "cg_partition_state")):
        table.key_serializer = "raw" if table.on_disk else "cg_utf8"
        table.value_serializer = "raw" if table.on_disk else value_codec
        table.changelog_topic = table._new_changelog_topic()
    return Wiring(
        app=app,
        settings=settings,
        # Outcomes and erasure requests share the agent with the inputs: same partitions, same
        # worker, same user state.
        source=app.topic(*settings.input_topics, settings.topic_outcomes, settings.topic_erasure_requests,
                         schema=RawRecords()),
        user_table=user_table,
        partition_table=partition_table,
    )

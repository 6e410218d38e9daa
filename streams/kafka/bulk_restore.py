"""Local tables far behind their changelogs catch up in bulk, before Faust's recovery.

Faust's recovery applies a changelog record by record through its consumer thread, conductor
and recovery loop: about 3,000 records/s on this machine (profiled: Faust's per-record path, not
the broker). A local table (``table_store=rocksdb``) that is far behind (a new volume, partitions
this worker never held) is instead read with a plain consumer in large fetches and written to
its databases in atomic batches, each with the offset it reaches (``LocalPartition.write``, as
the pipeline's own writes: never ahead of the changelog). Faust's recovery then starts from
there and reads only what is left.

It runs inside the recovery service once it knows the changelogs' ends, after the rebalance (so
the group's heartbeats go on), and within a time budget under Faust's own timeout for that step:
what it has not read by then, Faust reads as before. A rebalance meanwhile cancels it; what it
wrote stays (each batch is whole, with its offset).
"""

from __future__ import annotations

import asyncio
from typing import Any, Mapping

import structlog
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition
from faust.tables import TableManager
from faust.tables.recovery import Recovery
from faust.types import TP

from streams.kafka.local_store import LocalPartition, index_entry

log = structlog.get_logger(__name__)

MIN_BEHIND = 250  # records: about break-even (Faust's recovery reads that many in a tenth of a second, a consumer's start)
MAX_RECORDS_PER_BATCH = 5_000


async def catch_up(tables: Mapping[TP, Any], ends: Mapping[TP, int], bootstrap: str, client: Mapping[str, Any],
                   budget_s: float) -> dict[TP, int]:
    """Read each changelog partition of ``tables`` (tp -> its table) from its local offset up to
    ``ends`` (the last offset) into the local database. Returns the offset each database holds
    everything up to afterwards."""
    reached: dict[TP, int] = {}
    for tp, table in tables.items():
        persisted = LocalPartition(table, tp.partition).persisted_offset()
        reached[tp] = -1 if persisted is None else persisted
    pending = {TopicPartition(tp.topic, tp.partition): tp for tp in tables if reached[tp] < ends[tp]}
    if not pending:
        return reached
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                                max_partition_fetch_bytes=8 * 1024 * 1024, fetch_max_bytes=64 * 1024 * 1024,
                                **client)
    await consumer.start()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget_s
    try:
        consumer.assign(list(pending))
        for ktp, tp in pending.items():
            consumer.seek(ktp, reached[tp] + 1)
        while pending and loop.time() < deadline:
            fetched = await consumer.getmany(*pending, timeout_ms=500, max_records=MAX_RECORDS_PER_BATCH)
            for ktp, records in fetched.items():
                tp = pending.get(ktp)
                if tp is None or not records:
                    continue
                table = tables[tp]
                within = [r for r in records if r.offset <= ends[tp]]
                if not within:
                    del pending[ktp]
                    continue
                keyed = [r for r in within if r.key is not None]
                written = [(r.key.decode(), r.value) for r in keyed]
                entries = [index_entry(r.headers) for r in keyed] if table.indexed else None
                if not LocalPartition(table, tp.partition).write(written, within[-1].offset, entries):
                    del pending[ktp]  # revoked meanwhile: its new owner reads the changelog itself
                    continue
                reached[tp] = within[-1].offset
                table.records_restored += len(written)
            for ktp in list(pending):  # read to the end (a compacted changelog may lack its last offsets)
                if await consumer.position(ktp) > ends[pending[ktp]]:
                    del pending[ktp]
    finally:
        await consumer.stop()
    return reached


def _offset(value: int | None) -> int:
    return -1 if value is None else value


class LocalRecovery(Recovery):
    """Faust's recovery, with local tables caught up in bulk first (``catch_up``)."""

    def __init__(self, bootstrap: str, client: Mapping[str, Any], *args: Any, **kwargs: Any) -> None:
        self.bootstrap, self.client = bootstrap, client
        super().__init__(*args, **kwargs)

    async def _build_offsets(self, consumer: Any, tps: Any, destination: Any, title: str) -> None:
        # Called once the active partitions' ends are known (``active_highwaters``: last offsets),
        # with ``destination`` holding where each table's data ends (its persisted offset).
        if title == "active":
            # (This recovery runs only in apps whose tables are all local: streams/kafka/app.py.)
            behind = {tp: self.tp_to_table[tp] for tp in tps
                      if _offset(self.active_highwaters.get(tp)) - _offset(destination.get(tp)) >= MIN_BEHIND}
            if behind:
                loop = asyncio.get_running_loop()
                started, before = loop.time(), {tp: _offset(destination.get(tp)) for tp in behind}
                log.info("local_tables_catching_up", partitions=len(behind),
                         offsets_behind=sum(_offset(self.active_highwaters.get(tp)) - before[tp] for tp in behind))
                try:
                    reached = await catch_up(behind, {tp: self.active_highwaters[tp] for tp in behind}, self.bootstrap,
                                             self.client, budget_s=0.8 * float(self.app.conf.broker_request_timeout))
                except Exception as exc:  # an optimisation: Faust's recovery reads whatever is left
                    log.warning("local_tables_catch_up_failed", error=str(exc))
                    reached = {}
                for tp, offset in reached.items():
                    destination[tp] = max(before[tp], offset)
                log.info("local_tables_caught_up", partitions=len(behind),
                         offsets_read=sum(destination[tp] - before[tp] for tp in behind),
                         seconds=round(loop.time() - started, 1))
        await super()._build_offsets(consumer, tps, destination, title)

    async def on_recovery_completed(self, generation_id: int = 0) -> None:
        # Changelog records Faust has taken in (counted as read: the offsets it resumes from) may
        # still wait in its buffers, applied only when a buffer fills or when a recovery that had
        # something to read ends: after a rebalance with nothing left to read, the engines would
        # start on databases behind those offsets. Applied here, before any input is read.
        self.flush_buffers()
        await super().on_recovery_completed(generation_id)


class LocalTables(TableManager):
    """Faust's table manager with ``LocalRecovery`` (``bootstrap``, ``client``: set by
    ``local_tables``)."""

    bootstrap: str = ""
    client: Mapping[str, Any] = {}

    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = LocalRecovery(self.bootstrap, self.client, self.app, self, beacon=self.beacon, loop=self.loop)
        return self._recovery


def local_tables(bootstrap: str, client: Mapping[str, Any]) -> type[TableManager]:
    """The table manager class for an app with local tables (Faust's setting takes a class)."""
    return type("LocalTables", (LocalTables,), {"bootstrap": bootstrap, "client": dict(client)})

"""The pipeline agent: input topics -> PartitionEngine per partition -> alerts, dead letters, tables.

Ack protocol (at-least-once without losing state): an input event is acked only after every
effect it had (state changelog, alert, dead letter) has been handed to the producer. Faust
flushes the producer before committing offsets, so a committed offset never runs ahead of the
state. Events waiting in an engine's reorder buffer stay unacked and are redelivered after a
crash or rebalance; re-applied ones are recognised by the per-user ordering key.
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import importlib
import threading
import time
from collections import deque
from typing import Any, Iterator

import faust
import orjson
from faust.exceptions import ProducerSendError
from faust.types import TP
from prometheus_client import generate_latest
import structlog

from streams.kafka.app import Wiring
from streams.kafka.codecs import user_record
from streams import gc_policy
from streams.contracts import ContractError, dead_letter, decode, decode_event
from streams.core.engine import PartitionEngine, PartitionState
from streams.core.features import feature_values
from streams.core.idleness import judge_idle
from streams.core.start import StartIndex, index_stored
from streams.kafka.due_index import DiskDueIndex
from streams.kafka.local_store import (LocalPartition, UserCache, index_due, index_entry, index_headers, partition_key,
                                       partition_state_in)
from streams.kafka.partitioner import kafka_partition
from streams.kafka.start_index import StartIndexes
from streams.core.labels import SCORE
from streams.core.peers import PeerLedger, PeerRecord, exchange_own_records
from streams.kafka.life_tables import HistoryReads, encode as encode_peer_record, read_forever as read_life_tables
from streams.kafka.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE, registry_for
from streams.kafka.status_page import render_page

log = structlog.get_logger(__name__)

RATE_TICKS = 600  # timer ticks kept for the rates (a minute at 0.1 s, more at the default)
RECENT_ALERTS = 20  # kept for the status page
RECENT_ALERT_FIELDS = ("alert_id", "user_id", "ts", "tier", "previous_tier", "risk_score", "arm", "action")
USER_RECORD_BUCKETS = (256, 512, 1024, 2048, 4096, 8192, 16384, 65536)  # bytes, upper bounds

# topic, key, value, partition, timestamp, headers
Outgoing = tuple[str, "bytes | None", "bytes | None", "int | None", "float | None", "list[tuple[str, bytes]] | None"]


class PipelineShell:
    def __init__(self, wiring: Wiring) -> None:
        self.w = wiring
        s = wiring.settings
        self.kind_of_topic = {s.topic_clicks: "click", s.topic_purchases: "purchase", s.topic_tickets: "support_ticket"}
        self.cfg = s.engine_config()
        self.engines: dict[int, PartitionEngine] = {}
        self.on_disk = s.table_store == "rocksdb"
        self.start_indexes = StartIndexes(s.partitions, wiring.user_table.data.partition_path,
                                          wiring.partition_table.data.partition_path) if self.on_disk else None
        self.users_evicted = 0
        self.stream: faust.StreamT | None = None
        self.prepared = False
        self.rejected: list[tuple[Any, str, str]] = []  # decode failures: (event, reason, detail)
        self.unflushed = 0
        self.totals = {"received": 0, "outcomes_received": 0, "alerts_sent": 0, "holdout_recorded": 0,
                       "dead_letters_sent": 0, "dead_letters_failed": 0, "offset_gaps": 0, "flushes": 0,
                       "erasure_requests_received": 0, "erasures_confirmed": 0}
        self.last_seen: dict[TP, float] = {}
        self.started: dict[int, float] = {}
        self.last_offset: dict[TP, int] = {}
        self.dead_letter_reasons: dict[str, int] = {}  # sent since start, by reason
        self.received_by_topic = dict.fromkeys(s.input_topics, 0)  # every input, so "no events" is a 0 rate
        self.alerts_by_tier: dict[tuple[str, str], int] = {}  # (arm, tier) -> alerts published since start
        self.recent_alerts: deque[dict[str, Any]] = deque(maxlen=RECENT_ALERTS)
        self.changelog_bytes = {"users": 0, "partitions": 0}
        self.user_record_sizes = [0] * (len(USER_RECORD_BUCKETS) + 1)  # histogram of user records written
        self.resumed_at: dict[int, float] = {}
        self._lock = asyncio.Lock()
        self.last_tick = time.monotonic()  # the periodic timer's last run: liveness
        self.ticks: deque[tuple[float, int, int]] = deque(maxlen=RATE_TICKS)  # (time, received, alerts) per tick
        # Life-table records (streams/core/peers.py): the latest days of them, for engines started
        # later; this worker's engines' ones not yet published.
        self.peer_ledger = PeerLedger()
        self.peer_outbox: list[PeerRecord] = []
        self.peer_inbox: list[PeerRecord] = []  # read from the topic, for the engines at the next chance
        self.history_reads = HistoryReads(s)  # for engines restored from further back than the ledger keeps
        # Alerts go to the producer as soon as an engine makes them, not at the next flush: each
        # batch's sends are awaited by the flush whose user states record them (phase 1), and
        # batches enter the producer in the order they were made (one user's alerts stay in order).
        self.alert_sends: list[asyncio.Future[Any]] = []
        self._alerts_enqueued: asyncio.Future[None] | None = None

    def prepare(self) -> None:
        """What starting engines needs, read while the worker waits for its group (a first join
        takes seconds of waiting): River (about 1.5 s to import, first used to load a model) and,
        with tables on disk, the start indexes of the partitions on the volume
        (streams/kafka/start_index.py). Threads: the event loop only waits meanwhile."""
        if self.prepared:
            return
        self.prepared = True
        threading.Thread(target=importlib.import_module, args=("streams.core.learners",), daemon=True,
                         name="churnguard-import-river").start()
        if self.start_indexes:
            self.start_indexes.start()

    def engine(self, partition: int) -> PartitionEngine:
        engine = self.engines.get(partition)
        if engine is None:
            users: Any
            start: StartIndex | None
            self.started[partition] = time.monotonic()
            if self.on_disk:
                states = LocalPartition(self.w.partition_table, partition)
                state = partition_state_in(states.db(), partition) or PartitionState(partition)
                local = LocalPartition(self.w.user_table, partition)
                users = UserCache(local)
                start = self.start_indexes.take(partition, (local.persisted_offset(), states.persisted_offset()),
                                                state.epoch) if self.start_indexes else None
                read_ahead = start is not None
                start = start or index_stored(local.stored_users(), state.epoch, due_in_memory=False)
                index_due(local.db())  # a database written before due keys were kept: once
                due = DiskDueIndex(local)
            else:
                state = self.w.partition_table.data.get(partition_key(partition)) or PartitionState(partition)
                users = self.w.user_table.data
                start, read_ahead, due = None, False, None
            engine = self.engines[partition] = PartitionEngine(partition, self.cfg, state, users, start, due,
                                                               partitions=self.w.settings.partitions)
            for record in self.peer_ledger.records():  # what the partitions published, the latest days
                engine.offer_peer(*record)
            engine.peers.hold_from(self.peer_ledger.held_from)
            log.info("partition_engine_started", partition=partition, released_until=state.released_until,
                     users=engine.users_known, model_labels=sum(engine.model.labels), users_ahead=len(engine.dedupe.ahead),
                     recovered=self._tables_ready(), index_read_ahead=read_ahead,
                     seconds=round(time.monotonic() - self.started[partition], 3))
        return engine

    def users(self) -> Iterator[Any]:
        """Every user of the partitions this worker runs (reads the whole table: debug pages only)."""
        for partition, engine in self.engines.items():
            for user in engine.users.values():
                if user.partition == partition:
                    yield user

    def on_event(self, event: faust.EventT) -> None:
        msg = event.message
        self.unflushed += 1
        self._track_position(msg)
        if msg.topic == self.w.settings.topic_outcomes:
            self.on_outcome(event)
            return
        if msg.topic == self.w.settings.topic_erasure_requests:
            self.on_erasure(event)
            return
        self.totals["received"] += 1
        self.received_by_topic[msg.topic] += 1
        kind = self.kind_of_topic[msg.topic]
        try:
            decoded = decode_event(kind, msg.value)
        except ContractError as exc:
            self.reject(event, exc.reason, exc.detail, field=exc.field, rule=exc.rule)
            return
        if not self._on_its_partition(event, decoded.user_id):
            return
        record_ts = round(msg.timestamp * 1000) if msg.timestamp else -1
        engine = self.engine(msg.partition)
        if kind in engine.idle:
            self._resumed(msg.partition, engine)
        try:
            engine.offer(kind, msg.offset, decoded, event, record_ts)
        except Exception as exc:  # a bug must cost one record, not the worker: it is dead-lettered
            self.reject(event, "internal_error", f"{type(exc).__name__}: {exc}", rule=type(exc).__name__)
            log.error("engine_failed", error=type(exc).__name__, user_id=decoded.user_id, event_id=decoded.event_id,
                      topic=msg.topic, partition=msg.partition, offset=msg.offset)
        self.exchange_peer_records()
        self.publish_alerts()

    def exchange_peer_records(self) -> None:
        """Life-table records (streams/core/peers.py): those read from the topic, and this
        worker's engines' own, to its engines (at once: a waiting boundary runs now); its own to
        the other workers through the topic, at the next flush."""
        inbox, self.peer_inbox = self.peer_inbox, []
        for record in inbox:
            self._deliver(record)
        for engine in self.history_reads.completed():
            if self.engines.get(engine.partition) is engine:
                engine.peer_history_complete()
        self.peer_outbox += exchange_own_records(self.engines.values(), self._deliver)
        self.history_reads.want(self.engines.values())

    def receive_peer_record(self, record: PeerRecord) -> None:
        """A record read from the topic: delivered where the engines are otherwise advanced (an
        event, the idle check), never in the middle of a rebalance's flush."""
        self.peer_inbox.append(record)

    def _deliver(self, record: PeerRecord) -> None:
        self.peer_ledger.add(record)
        for engine in list(self.engines.values()):
            engine.offer_peer(*record)

    def on_outcome(self, event: faust.EventT) -> None:
        self.totals["outcomes_received"] += 1
        outcome = self._user_document(event, "outreach_outcome")
        if outcome is not None:
            self.engine(event.message.partition).offer_outcome(event.message.offset, outcome, event)

    def on_erasure(self, event: faust.EventT) -> None:
        msg = event.message
        self.totals["erasure_requests_received"] += 1
        request = self._user_document(event, "erasure_request")
        if request is not None:
            self.engine(msg.partition).offer_erasure(msg.offset, request, event)
            log.info("erasure_applied", request_id=request["request_id"], user_id=request["user_id"],
                     partition=msg.partition)

    def _user_document(self, event: Any, contract: str) -> dict[str, Any] | None:
        """A record of a user-keyed topic other than the inputs, decoded, or None if rejected."""
        try:
            doc = decode(contract, event.message.value)
        except ContractError as exc:
            self.reject(event, exc.reason, exc.detail, field=exc.field, rule=exc.rule)
            return None
        return doc if self._on_its_partition(event, doc["user_id"]) else None

    def reject(self, event: Any, reason: str, detail: str, field: str = "", rule: str = "") -> None:
        """To the dead-letter topic at the next flush. The log names the record and the rule it
        broke, never its content (the dead letter itself carries the payload)."""
        msg = event.message
        self.rejected.append((event, reason, detail))
        log.warning("dead_letter", reason=reason, field=field or None, rule=rule or None, topic=msg.topic,
                    partition=msg.partition, offset=msg.offset)

    def _on_its_partition(self, event: Any, user_id: str) -> bool:
        """A record must be on the partition its user_id hashes to (the key the producer should have
        used), or the user's state would be split between partitions."""
        msg = event.message
        expected = kafka_partition(user_id, self.w.settings.partitions)
        if msg.partition == expected:
            return True
        self.reject(event, "wrong_partition", f"user_id hashes to partition {expected} of {self.w.settings.partitions}; "
                    "key records by user_id with the default partitioner", rule="partition")
        return False

    def _track_position(self, msg: Any) -> None:
        """Every record counts for idleness, valid or not (a bad last record must not keep its
        source from ever being idle); a jump in offsets is logged (records never delivered)."""
        tp = msg.tp
        last = self.last_offset.get(tp)
        if last is not None and msg.offset > last + 1:
            self.totals["offset_gaps"] += 1
            log.warning("input_offset_gap", topic=msg.topic, partition=msg.partition, after=last, next=msg.offset)
        if last is None or msg.offset > last:
            self.last_offset[tp] = msg.offset
        self.last_seen[tp] = time.monotonic()

    def _resumed(self, partition: int, engine: PartitionEngine) -> None:
        """A source that was idle has records again (one arrived, or its end at the broker moved):
        the partition's other sources must prove they are quiet afresh, or a burst after a quiet
        period would run ahead of a source whose records are just arriving, and make them late."""
        self.resumed_at[partition] = time.monotonic()
        engine.set_idle(set())

    def _tables_ready(self) -> bool:
        app = self.w.app
        return bool(app.tables.recovery.completed.is_set()) and not app.rebalancing

    def _start_assigned_engines(self) -> None:
        """Every assigned input partition gets its engine once the tables are recovered, not only at
        its first record: a partition with nothing left to read (all committed before a restart)
        is then judged idle and shown in the status like the others."""
        if not self._tables_ready():
            return
        for tp in self.w.app.consumer.assignment():
            if tp.topic in self.kind_of_topic:
                self.engine(tp.partition)
        self.start_indexes = None  # what is left was read for partitions assigned elsewhere

    async def update_idle(self) -> None:
        """A source partition is idle when it is caught up and nothing arrived from it, and no source
        of the partition resumed, for ``source_idle_s`` (streams/core/idleness.py: an idle source
        whose end at the broker moved has resumed, before its records arrive). Caught up: the last
        offset we received is the last one the broker has (fetch high watermark), or, for a
        partition we received nothing from since we took it over, its committed offset (where
        redelivery starts) is at the high watermark. Not the fetch position: that runs ahead into
        records still buffered on their way to the agent, and declaring their source idle would
        let the watermark pass them. Wall clock here only decides liveness when a topic goes
        quiet; a replayed backlog is never idle, so replays stay deterministic."""
        self._start_assigned_engines()
        if self.w.app.rebalancing:
            # Records stop coming while the group rebalances, which is not quiet. And a release now
            # would run in an engine whose outputs the revoke's flush has already taken: they would
            # be dropped with it, its state changed after what the flush wrote.
            return
        now = time.monotonic()
        consumer = self.w.app.consumer
        for partition, engine in list(self.engines.items()):
            last_seen, caught_up = {}, {}
            for topic, kind in self.kind_of_topic.items():
                tp = TP(topic, partition)
                if tp in self.last_seen:
                    last_seen[kind] = self.last_seen[tp]
                highwater = consumer.highwater(tp)
                caught_up[kind] = highwater is not None and self._position(tp) >= highwater
            quiet_since = max(self.started[partition], self.resumed_at.get(partition, 0.0))
            verdict = judge_idle(now, self.w.settings.source_idle_s, quiet_since, engine.idle, last_seen, caught_up)
            if verdict.resumed:
                self._resumed(partition, engine)
            else:
                engine.set_idle(verdict.idle)
                # Caught up and quiet everywhere: the other partitions stop waiting for this one
                # (streams/core/peers.py); its next record says it is active again.
                if set(verdict.idle) >= set(self.kind_of_topic.values()):
                    engine.peers.set_idle(True)
        self.exchange_peer_records()
        self.publish_alerts()

    def publish_alerts(self) -> None:
        """Hand the alerts the engines made since the last call to the producer now (a flush comes
        every ``flush_interval_s``: waiting for it was most of an alert's latency). Synchronous up
        to the handover, so a flush collecting its cut meanwhile always finds these sends to await
        before it writes the user states that record them."""
        docs = [doc for engine in self.engines.values() for doc in engine.take_alerts()]
        if not docs:
            return
        settings = self.w.settings
        now_ms = int(time.time() * 1000)  # emission time: metadata, never logic
        records = []
        for doc in docs:
            doc["emitted_at"] = now_ms
            treated = doc["arm"] == "treatment"
            topic = settings.topic_alerts if treated else settings.topic_holdout
            records.append((topic, doc["user_id"].encode(), orjson.dumps(doc), None, doc["ts"] / 1000, None))
            self.totals["alerts_sent" if treated else "holdout_recorded"] += 1
            self.alerts_by_tier[doc["arm"], doc["tier"]] = self.alerts_by_tier.get((doc["arm"], doc["tier"]), 0) + 1
            self.recent_alerts.appendleft({k: doc[k] for k in RECENT_ALERT_FIELDS})
        previous, self._alerts_enqueued = self._alerts_enqueued, asyncio.get_running_loop().create_future()
        self.alert_sends.append(asyncio.ensure_future(self._send_alerts(records, previous, self._alerts_enqueued)))

    async def _send_alerts(self, records: list[Outgoing], previous: asyncio.Future[None] | None,
                           enqueued: asyncio.Future[None]) -> list[Any]:
        """Enqueue after the previous batch, then wait for the broker's acknowledgements."""
        send = self.w.app.producer.send
        try:
            if previous is not None:
                await previous
            futures = [await send(*record) for record in records]
        finally:
            enqueued.set_result(None)
        return await asyncio.gather(*futures)

    async def flush(self) -> None:
        """Hand all effects to the producer in three acknowledged phases, then ack the events.

        1. alerts, quality documents and dead letters, 2. user states (and tombstones of erased
        users), 3. partition states and erasure acknowledgements. The producer does not
        order writes across topic partitions, so each phase waits for the previous one to be
        acknowledged: a crash can then leave user states ahead of their partition state (the
        engine detects that by epoch), never the reverse, and never a user state that records
        an alert that was not delivered.

        Everything is taken and serialised first, without awaiting: the agent keeps processing
        while we wait, and what we write must be one consistent cut. Sends go straight to the
        transport producer (Faust's per-message producer buffer stalls the stream on thousands
        of coalesced writes); Faust still flushes that producer before it commits offsets.
        """
        async with self._lock:
            phases, dead, to_ack = self._collect()
            alert_sends, self.alert_sends = self.alert_sends, []  # every alert this cut's states record
            send = self.w.app.producer.send
            for i, phase in enumerate(phases):
                futures = [await send(topic, key, value, partition, timestamp, headers)
                           for topic, key, value, partition, timestamp, headers in phase]
                if i == 0:
                    await self._send_dead_letters(dead)
                    await asyncio.gather(*alert_sends)
                written = await asyncio.gather(*futures)
                if self.on_disk and i > 0:
                    self._store_locally(phase, written)
            if self.on_disk:
                self._evict()
            if self.stream is not None:
                for event in to_ack:
                    await self.stream.ack(event)

    def _store_locally(self, phase: list[Outgoing], written: list[Any]) -> None:
        """The table records of a phase the broker acknowledged, into the local databases with
        their changelog offsets (streams/kafka/local_store.py)."""
        tables = {t.changelog_topic.get_topic_name(): t for t in (self.w.user_table, self.w.partition_table)}
        batches: dict[tuple[str, int], tuple[list[tuple[str, bytes | None]], list[int], list[bytes | None]]] = {}
        for (topic, key, value, partition, _, headers), metadata in zip(phase, written):
            if topic in tables and partition is not None and key is not None:
                records, offsets, entries = batches.setdefault((topic, partition), ([], [], []))
                records.append((key.decode(), value))
                offsets.append(metadata.offset)
                entries.append(index_entry(headers))
        for (topic, partition), (records, offsets, entries) in batches.items():
            users = tables[topic] is self.w.user_table
            engine = self.engines.get(partition)
            if (LocalPartition(tables[topic], partition).write(records, max(offsets), entries if users else None)
                    and users and engine is not None):
                engine.users.stored(records)
                if isinstance(engine.due, DiskDueIndex):
                    engine.due.stored(records, entries)

    def _evict(self) -> None:
        """Users beyond the cache's share of each engine go back to disk (written, unchanged since)."""
        keep = max(1, self.w.settings.state_cache_users // max(1, len(self.engines)))
        for engine in self.engines.values():
            self.users_evicted += engine.users.evict(keep, engine.out.dirty_users)

    async def _send_dead_letters(self, dead: list[tuple[Any, dict[str, Any]]]) -> None:
        """Dead letters are bounded (streams/contracts.py), but one that still cannot be sent must
        not stop the worker: it is sent again without its payload, and if that fails too, logged
        (with the record's position) and counted."""
        topic = self.w.settings.topic_dead_letter
        keys = []
        for event, _ in dead:
            key = event.message.key
            keys.append(key if key is None or len(key) <= 1024 else hashlib.sha256(key).hexdigest().encode())
        failed = await self._send_all(topic, [(key, doc) for key, (_, doc) in zip(keys, dead)])
        retried = await self._send_all(topic, [(keys[i], {**dead[i][1], "payload": "", "payload_truncated": True})
                                               for i in failed])
        self.totals["dead_letters_sent"] += len(dead) - len(retried)
        self.totals["dead_letters_failed"] += len(retried)
        lost = {failed[j] for j in retried}
        for i, (_, doc) in enumerate(dead):
            if i not in lost:
                self.dead_letter_reasons[doc["reason"]] = self.dead_letter_reasons.get(doc["reason"], 0) + 1
        for i in retried:
            msg = dead[failed[i]][0].message
            log.error("dead_letter_not_sent", reason=dead[failed[i]][1]["reason"], topic=msg.topic,
                      partition=msg.partition, offset=msg.offset)

    async def _send_all(self, topic: str, records: list[tuple[Any, dict[str, Any]]]) -> list[int]:
        """Send the records; the indexes of those that failed."""
        send = self.w.app.producer.send
        futures: list[Any] = []
        for key, doc in records:
            try:
                futures.append(await send(topic, key, orjson.dumps(doc), None, None, None))
            except Exception as exc:  # e.g. larger than the producer's request limit
                futures.append(exc)
        waiting = [f for f in futures if not isinstance(f, BaseException)]
        results = iter(await asyncio.gather(*waiting, return_exceptions=True))
        outcomes = [f if isinstance(f, BaseException) else next(results) for f in futures]
        return [i for i, outcome in enumerate(outcomes) if isinstance(outcome, BaseException)]

    def _collect(self) -> tuple[list[list[Outgoing]], list[tuple[Any, dict[str, Any]]], list[Any]]:
        settings = self.w.settings
        effects: list[Outgoing] = []
        dead: list[tuple[Any, dict[str, Any]]] = []
        user_states: list[Outgoing] = []
        partition_states: list[Outgoing] = []
        to_ack: list[Any] = []
        now_ms = int(time.time() * 1000)  # emission time: metadata, never logic
        for event, reason, detail in self.rejected:
            dead.append((event, self._dead_letter(event, reason, detail)))
            to_ack.append(event)
        self.rejected = []
        user_changelog = self.w.user_table.changelog_topic.get_topic_name()
        partition_changelog = self.w.partition_table.changelog_topic.get_topic_name()
        self.publish_alerts()
        for partition, engine in self.engines.items():
            out = engine.drain()
            for doc in out.quality:
                doc["emitted_at"] = now_ms
                # Explicit partition (same count as the inputs): one engine per quality partition keeps its order.
                effects.append((settings.topic_model_quality, str(partition).encode(), orjson.dumps(doc), partition,
                                doc["ts"] / 1000, None))
                self._log_quality(doc)
            for event, reason, detail in out.dead_letters:
                msg = event.message
                log.warning("dead_letter", reason=reason, topic=msg.topic, partition=msg.partition, offset=msg.offset)
                dead.append((event, self._dead_letter(event, reason, detail)))
                to_ack.append(event)
            engine.begin_flush(out.dirty_users)
            for uid in out.dirty_users:
                user = engine.users[uid]
                record = user_record(user)
                self.user_record_sizes[bisect.bisect_left(USER_RECORD_BUCKETS, len(record))] += 1
                self.changelog_bytes["users"] += len(record)
                user_states.append((user_changelog, uid.encode(), record, partition, None, index_headers(user)))
            for uid in out.erased_users:  # a tombstone: recovery and compaction delete the key
                user_states.append((user_changelog, uid.encode(), None, partition, None, None))
            for doc in out.erasures:  # with the partition state: after the tombstones are acknowledged
                doc["emitted_at"] = now_ms
                partition_states.append((settings.topic_erasure_audit, doc["user_id"].encode(), orjson.dumps(doc),
                                         None, None, None))
                self.totals["erasures_confirmed"] += 1
            key = partition_key(partition)
            if not self.on_disk:
                self.w.partition_table.data[key] = engine.state
            record = orjson.dumps(engine.state.to_dict())
            self.changelog_bytes["partitions"] += len(record)
            partition_states.append((partition_changelog, key.encode(), record, partition, None, None))
            to_ack.extend(out.settled)
        for record in self.peer_outbox:
            key, value = encode_peer_record(record)
            effects.append((settings.topic_life_table, key, value, None, None, None))
        self.peer_outbox = []
        self.unflushed = 0
        self.totals["flushes"] += 1
        return [effects, user_states, partition_states], dead, to_ack

    @staticmethod
    def _log_quality(doc: dict[str, Any]) -> None:
        figures = doc["progressive"]
        fields = {"partition": doc["partition"], "event_ts": doc["ts"], "model_kind": doc["model"]["kind"],
                  "model_version": doc["model"]["version"], "labels_learned": doc["labels"]["learned"],
                  "roc_auc": figures["roc_auc"], "log_loss": figures["log_loss"],
                  "roc_auc_since_drift": doc["since_drift"]["roc_auc"], "drifts": doc["drifts"]}
        if doc["event"] == "drift":
            log.warning("model_drift", **fields)
        else:
            log.info("model_quality", **fields)

    @staticmethod
    def _dead_letter(event: Any, reason: str, detail: str) -> dict[str, Any]:
        msg = event.message
        return dead_letter(reason, detail, msg.topic, msg.partition, msg.offset, msg.value)

    def drop(self, partitions: set[int]) -> None:
        for p in partitions:
            if self.engines.pop(p, None) is not None:
                log.info("partition_engine_dropped", partition=p)
        # What was received from a dropped partition's sources went with its engine: the records
        # not yet acked come again from the committed offset to whichever worker gets the partition,
        # this one included. Kept, the last offset received made a source look caught up before its
        # records came again, so a new engine judged it idle and its watermark passed them: they were
        # dead-lettered as late (3 of 72,343 events lost in a takeover, tests/faults/test_takeover.py).
        for received in (self.last_offset, self.last_seen):
            for tp in [tp for tp in received if tp.partition in partitions]:
                del received[tp]
        for p in partitions:
            self.resumed_at.pop(p, None)

    def _position(self, tp: TP) -> int:
        """The next offset of ``tp`` to receive (Faust's committed offsets follow Kafka's meaning)."""
        last = self.last_offset.get(tp)
        return last + 1 if last is not None else (self.w.app.consumer._committed_offset.get(tp) or 0)

    def source_lag(self) -> list[dict[str, Any]]:
        """Every assigned input partition: position, end (highwater) and lag in records."""
        consumer = self.w.app.consumer
        out = []
        for tp in sorted(consumer.assignment()):
            if tp.topic in self.kind_of_topic:
                highwater, position = consumer.highwater(tp), self._position(tp)
                out.append({"topic": tp.topic, "partition": tp.partition, "position": position, "highwater": highwater,
                            "lag": max(highwater - position, 0) if highwater is not None else None})
        return out

    def readiness(self) -> dict[str, Any]:
        """Ready to serve its share: input partitions assigned, tables recovered, not rebalancing.
        A worker that owns no partition (more workers than partitions) is alive, not ready."""
        app = self.w.app
        assigned = sorted(tp.partition for tp in app.consumer.assignment() if tp.topic in self.kind_of_topic)
        recovered = bool(app.tables.recovery.completed.is_set())
        checks = {"partitions_assigned": bool(assigned), "tables_recovered": recovered,
                  "not_rebalancing": not app.rebalancing}
        return {"ready": all(checks.values()), **checks, "partitions": sorted(set(assigned))}

    def tick(self) -> None:
        self.last_tick = time.monotonic()
        self.ticks.append((self.last_tick, self.totals["received"],
                           self.totals["alerts_sent"] + self.totals["holdout_recorded"]))

    def rates(self, window_s: float = 60.0) -> dict[str, float | None]:
        """Events and alerts per second over about the last minute of timer ticks."""
        recent = [t for t in self.ticks if t[0] >= self.last_tick - window_s]
        if len(recent) < 2 or recent[-1][0] <= recent[0][0]:
            return {"events_per_s": None, "alerts_per_s": None}
        (t0, r0, a0), (t1, r1, a1) = recent[0], recent[-1]
        return {"events_per_s": round((r1 - r0) / (t1 - t0), 1), "alerts_per_s": round((a1 - a0) / (t1 - t0), 2)}

    def liveness(self, max_tick_age_s: float) -> dict[str, Any]:
        """Alive: the event loop runs the periodic flush timer (a blocked loop stops ticking)."""
        age = time.monotonic() - self.last_tick
        return {"alive": age <= max_tick_age_s, "seconds_since_tick": round(age, 3)}

    def status(self) -> dict[str, Any]:
        engines = self.engines.values()
        return {
            "ready": self.readiness()["ready"],
            **self.totals,
            "unflushed": self.unflushed,
            "rates": self.rates(),
            "sources": self.source_lag(),
            "dead_letters_by_reason": dict(sorted(self.dead_letter_reasons.items())),
            "received_by_topic": dict(sorted(self.received_by_topic.items())),
            "alerts_by_tier": [{"arm": arm, "tier": tier, "alerts": n} for (arm, tier), n in sorted(self.alerts_by_tier.items())],
            "recent_alerts": list(self.recent_alerts),
            "changelog_bytes": dict(self.changelog_bytes),
            "user_record_bytes": {"buckets": list(USER_RECORD_BUCKETS), "counts": list(self.user_record_sizes)},
            "partitions": {
                p: {"buffered": e.buffered, "released_until": e.state.released_until, "idle": sorted(e.idle),
                    "source_max_ts": dict(e.state.source_max_ts),
                    "model_labels": sum(e.model.labels), "model_ready": e.model.ready,
                    "model_quality": {k: v for k, v in e.model.quality.total.summary([]).items()
                                      if k in ("n", "positives", "roc_auc", "log_loss", "calibration_error")} | {"drifts": e.model.quality.drifts},
                    "counters": dict(e.state.counters)}
                for p, e in sorted(self.engines.items())
            },
            "table": {"users": sum(e.users_known for e in engines), "events_applied": sum(e.events_applied for e in engines),
                      "store": self.w.settings.table_store,
                      "users_in_memory": sum(len(e.users.live) if isinstance(e.users, UserCache) else e.users_known for e in engines),
                      "users_evicted": self.users_evicted,
                      "changelog_records_read": self.w.user_table.records_restored + self.w.partition_table.records_restored},
            "gc": gc_policy.describe(),
        }


def feature_digest(users: Any) -> str:
    """A hash of every user's event-derived state (all but the model-dependent alert fields,
    served scores and risk bins, and the journals of writes in flight): equal digests mean equal
    features, whatever the history of restarts."""
    h = hashlib.sha256()
    for user in sorted(users, key=lambda u: u.user_id):
        doc = user.to_dict()
        doc.pop("t"), doc.pop("at"), doc.pop("oa"), doc.pop("ep"), doc.pop("rl"), doc.pop("j"), doc.pop("rb")
        doc["p"] = [snap[:SCORE] for snap in doc["p"]]
        h.update(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS))
    return h.hexdigest()


def register(wiring: Wiring) -> PipelineShell:
    app, settings = wiring.app, wiring.settings
    shell = PipelineShell(wiring)

    @app.agent(wiring.source, name="churnguard-pipeline")
    async def pipeline(stream: faust.StreamT) -> None:
        manual = stream.noack()
        shell.stream = manual
        async for event in manual.events():
            shell.on_event(event)
            if shell.unflushed >= settings.flush_every_events:
                await shell.flush()

    @app.task
    async def life_tables() -> None:
        if settings.peer_lag_days > 0 and settings.partitions > 1:
            await read_life_tables(settings, shell.receive_peer_record)

    @app.timer(settings.flush_interval_s)
    async def periodic_flush() -> None:
        shell.tick()
        await shell.update_idle()
        if shell.unflushed or shell.alert_sends or any(e.out.settled for e in shell.engines.values()):
            await shell.flush()

    @app.on_partitions_revoked.connect
    async def on_revoked(app: faust.App, revoked: set[Any], **_: Any) -> None:
        shell.prepare()  # at the first join (nothing revoked yet)
        try:
            await shell.flush()
        except ProducerSendError as exc:
            # Shutting down: the producer is already closed. Nothing was acked, so the new
            # owner gets these events again.
            log.warning("flush_on_revoke_failed", error=str(exc))
        shell.drop({tp.partition for tp in revoked if tp.topic in settings.input_topics})

    # JSON for programs; the same document as a page for a browser (it asks for text/html).
    @app.page("/status/")
    async def status(web: Any, request: Any) -> Any:
        if "text/html" in request.headers.get("Accept", ""):
            return web.html(render_page(shell.status(), f"churnguard worker {settings.app_id}"))
        return web.json(shell.status())

    # Probes: 200 or 503, with the checks as JSON. Liveness allows a flush that runs long (a
    # flush of many users takes seconds) before calling the loop stuck.
    @app.page("/live/")
    async def live(web: Any, request: Any) -> Any:
        body = shell.liveness(max(30.0, 20 * settings.flush_interval_s))
        return web.json(body, status=200 if body["alive"] else 503)

    @app.page("/ready/")
    async def ready(web: Any, request: Any) -> Any:
        body = shell.readiness()
        return web.json(body, status=200 if body["ready"] else 503)

    registry = registry_for(shell.status)

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(registry), content_type=METRICS_CONTENT_TYPE)

    if not settings.web_debug:
        return shell

    @app.page("/debug/digest/")
    async def debug_digest(web: Any, request: Any) -> Any:
        # On request only: it serialises every user, too costly for the polled status page.
        return web.json({"feature_digest": feature_digest(shell.users())})

    @app.page("/debug/features/")
    async def debug_features(web: Any, request: Any) -> Any:
        # Every user's features by name at its partition's watermark (the state holds exactly the
        # events up to it): what tests compare with a recomputation from the raw events.
        out = {}
        for user in shell.users():
            engine = shell.engines[user.partition]
            if engine.state.released_until >= user.last_key[0]:
                t = engine.state.released_until
                out[user.user_id] = {"t": t, "features": feature_values(user, t)}
        return web.json(out)

    @app.page("/debug/users/")
    async def debug_users(web: Any, request: Any) -> Any:
        return web.json({u.user_id: u.events_applied for u in shell.users()})

    return shell

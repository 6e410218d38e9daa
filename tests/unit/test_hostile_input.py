"""Hostile input is normal input: any record, valid by the schemas (extremes included) or mangled
bytes, goes through decode -> validate -> engine without an exception, and ends applied, counted as
a copy, or dead-lettered (bounded, valid against its own contract): the counts add up."""

import tempfile
from dataclasses import replace

import jsonschema
import orjson
from hypothesis import HealthCheck, given, settings, strategies as st

from streams import contracts
from streams.core.engine import PartitionEngine, PartitionState
from streams.core.events import INPUT_KINDS
from streams.kafka.codecs import PartitionStateCodec, UserStateCodec
from streams.settings import Settings
from tests.schema_strategies import from_schema

CFG = replace(Settings().engine_config(), drain_when_idle=True)  # all released at the end
NOW = 1_767_225_600_000
DEAD_LETTER = jsonschema.Draft202012Validator(contracts.load_schema("dead_letter"))


def mangled(raw: bytes) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.integers(0, max(len(raw) - 1, 0)).map(lambda i: raw[:i]),  # truncated
        st.tuples(st.integers(0, max(len(raw) - 1, 0)), st.binary(min_size=1, max_size=4)).map(
            lambda t: raw[:t[0]] + t[1] + raw[t[0] + 1:]),  # bytes replaced
        st.binary(max_size=64),  # noise
        st.just(b"null"), st.just(b"[]"), st.just(b'"x"'), st.just(b"1e400"),
        st.just(raw + b"x" * 70_000),  # larger than a dead letter keeps
    )


@st.composite
def records(draw):
    kind = draw(st.sampled_from(INPUT_KINDS))
    doc = draw(from_schema(contracts.load_schema(kind)))
    if draw(st.booleans()):  # a few users and ids, so that copies and collisions happen
        # (with ids a key-value store could confuse: Faust's offset key, a NUL, the longest)
        doc["user_id"] = draw(st.sampled_from(["u1", "u2", "u3", "__faust\u0000offset__", "\u0000", "\u00e9" * 128]))
        doc["event_id"] = draw(st.sampled_from(["e1", "e2", "e3", doc["event_id"]]))
    if draw(st.booleans()):  # mostly near one time, so that events get applied, not only late
        doc["ts"] = NOW + draw(st.integers(-3 * 86_400_000, 3 * 86_400_000))
    raw = orjson.dumps(doc)
    if draw(st.integers(0, 4)) == 0:
        raw = draw(mangled(raw))
    record_ts = draw(st.one_of(st.just(-1), st.just(int(doc["ts"])), st.integers(NOW - 86_400_000, NOW + 86_400_000)))
    return kind, raw, record_ts


def run_engine(batch, users):
    """The records through an engine on ``users``: (engine, rejected, settled, dead) tokens."""
    engine = PartitionEngine(0, CFG, PartitionState(0), users)
    rejected, settled, dead = [], [], []
    offsets = dict.fromkeys(INPUT_KINDS, 0)
    for token, (kind, raw, record_ts) in enumerate(batch):
        try:
            event = contracts.decode_event(kind, raw)
        except contracts.ContractError as exc:
            doc = contracts.dead_letter(exc.reason, exc.detail, "t", 0, token, raw)
            DEAD_LETTER.validate(doc)
            assert len(orjson.dumps(doc)) < 80_000
            assert exc.field == "" or exc.field.isascii()  # a path, never the value
            rejected.append(token)
            continue
        engine.offer(kind, offsets[kind], event, token, record_ts)
        offsets[kind] += 1
        out = engine.drain()
        settled += out.settled
        dead += [t for t, _, _ in out.dead_letters]
    engine.set_idle(set(INPUT_KINDS))
    out = engine.drain()
    settled += out.settled
    dead += [t for t, _, _ in out.dead_letters]
    return engine, rejected, settled, dead


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(records(), min_size=1, max_size=60))
def test_every_record_is_applied_copied_or_dead_lettered_without_an_exception(batch):
    users: dict = {}
    engine, rejected, settled, dead = run_engine(batch, users)
    counters = engine.state.counters
    # Every record exactly once: rejected by its contract, or settled by the engine (applied or a
    # copy), or dead-lettered by it (late, future).
    assert sorted(rejected + settled + dead) == list(range(len(batch)))
    taken = len(batch) - len(rejected)
    assert counters.get("applied", 0) + counters.get("duplicates", 0) + counters.get("redelivered", 0) == len(settled)
    assert counters.get("late", 0) + counters.get("future", 0) == len(dead) == taken - len(settled)
    # The state as the worker stores it (journaled steps with their attributes included) survives
    # its codecs whatever the records carried.
    for user in users.values():
        assert UserStateCodec().loads(UserStateCodec().dumps(user)).to_dict() == user.to_dict()
    engine.begin_flush(set(users))
    assert PartitionStateCodec().loads(PartitionStateCodec().dumps(engine.state)).to_dict() == engine.state.to_dict()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(records(), min_size=1, max_size=60))
def test_four_partitions_sharing_one_life_table_take_any_records(batch):
    """The same records in arrival order (not sorted), routed to four engines that score with one
    life table (streams/core/peers.py): a year-3000 clock in one partition, 1970 in another, ids
    that collide. No exception, no partition left waiting at the end, every record once. The
    life-table records (counts and regressions) go between the engines as the topic carries them
    between workers: through its JSON."""
    from streams.kafka.life_tables import decode, encode
    from streams.kafka.partitioner import kafka_partition
    from streams.offline import runner
    from streams.offline.runner import finish_peers

    def exchange_peer_records(engines):
        runner.exchange_peer_records(engines, carry=lambda record: decode(encode(record)[1]))

    cfg = replace(CFG, peer_lag_days=1)
    users: dict = {}
    engines = [PartitionEngine(p, cfg, PartitionState(p), users, partitions=4) for p in range(4)]
    offsets, outcome = [dict.fromkeys(INPUT_KINDS, 0) for _ in range(4)], {"settled": [], "dead": []}

    def drain(engine):
        out = engine.drain()
        outcome["settled"] += out.settled
        outcome["dead"] += [t for t, _, _ in out.dead_letters]

    def flush(engine):
        engine.set_idle(set(INPUT_KINDS))
        exchange_peer_records(engines)
        drain(engine)

    rejected = []
    for token, (kind, raw, record_ts) in enumerate(batch):
        try:
            event = contracts.decode_event(kind, raw)
        except contracts.ContractError:
            rejected.append(token)
            continue
        p = kafka_partition(event.user_id, 4)
        engines[p].offer(kind, offsets[p][kind], event, token, record_ts)
        offsets[p][kind] += 1
        exchange_peer_records(engines)
        drain(engines[p])
    for engine in engines:
        flush(engine)
    finish_peers(engines, flush)
    assert not any(engine.peers.waiting for engine in engines)
    assert sorted(rejected + outcome["settled"] + outcome["dead"]) == list(range(len(batch)))


_LOCAL: list = []


def local_partition():
    """Partition 0 of a user table in RocksDB (one per test session: opening Faust's store is slow)."""
    if not _LOCAL:
        from streams.kafka.app import create_app
        from streams.kafka.local_store import LocalPartition

        wiring = create_app(replace(Settings(), table_store="rocksdb", data_dir=tempfile.mkdtemp(prefix="hostile-"),
                                    broker="127.0.0.1:1"))
        _LOCAL.append(LocalPartition(wiring.user_table, 0))
        _LOCAL[0].db()  # opened, as on assignment
    return _LOCAL[0]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(records(), min_size=1, max_size=60))
def test_local_tables_store_and_read_back_any_user(batch):
    """The same records with the users in local tables (a cache that keeps none of them): every
    state and index entry comes back as written, whatever ids and values the records carried."""
    from streams.kafka.local_store import UserCache, summary

    local = local_partition()
    users = UserCache(local)
    engine, *_ = run_engine(batch, users)
    written = set(users.live)
    engine.begin_flush(written)
    expected = {uid: users[uid].to_dict() for uid in written}
    assert local.write([(uid, UserStateCodec().dumps(users[uid])) for uid in written], 1,
                       [summary(users[uid]) for uid in written])
    users.evict(0, set())
    assert not users.live
    assert {uid: users[uid].to_dict() for uid in written} == expected
    assert {s[0]: s[1:] for s in local.stored_users()} == {
        uid: (d["ep"], d["n"], d["rb"], d["nd"]) for uid, d in expected.items()}
    assert local.persisted_offset() == 1
    local.write([(uid, None) for uid in written], 2, [None] * len(written))  # tombstones: the next example starts empty
    assert not list(local.stored_users()) and not list(local.items())

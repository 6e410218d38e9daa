"""User records: compact (zstd over the JSON document), and the plain, zlib and row-wise ones of
earlier releases still read."""

import zlib

import orjson
import zstandard
from hypothesis import given, settings, strategies as st

from streams.core.features import UserState
from streams.kafka.codecs import ZSTD_MAGIC, UserStateCodec, user_document, user_from_record, user_record
from streams.kafka.local_store import summary, summary_of_record
from streams.offline.runner import OfflineRun
from streams.offline.simulator import SimConfig, as_events, simulate
from streams.settings import Settings
from tests.factories import document_before_2026_12_06, document_before_2026_12_07


def simulated_users(users: int = 60, days: int = 60) -> list[UserState]:
    run = OfflineRun(Settings.from_env({}).engine_config(), partitions=2)
    run.feed(as_events(simulate(SimConfig(users=users, days=days, seed=3, bad_rate=0.0))[0]))
    return list(run.users.values())


def test_a_record_gives_back_the_same_state_and_is_smaller_than_its_json():
    users = simulated_users()
    records = [user_record(u) for u in users]
    documents = [orjson.dumps(u.to_dict()) for u in users]
    assert [user_from_record(r).to_dict() for r in records] == [u.to_dict() for u in users]
    assert all(r.startswith(ZSTD_MAGIC) for r in records)
    assert sum(map(len, records)) < 0.4 * sum(map(len, documents))
    # The index entry the local store keeps beside it is read from the record as stored.
    assert [summary_of_record(r) for r in records] == [summary(u) for u in users]


def test_records_of_earlier_releases_are_still_read():
    user = simulated_users(users=5)[0]
    plain = orjson.dumps(document_before_2026_12_06(user.to_dict()))  # before 2026-12-03
    deflated = zlib.compress(plain, 1)  # 2026-12-03 to 2026-12-06
    rows = zstandard.ZstdCompressor(level=1).compress(orjson.dumps(document_before_2026_12_07(user.to_dict())))  # 2026-12-06
    for earlier in (plain, deflated, rows):
        assert user_from_record(earlier).to_dict() == user.to_dict() == user_document(user_record(user))
        assert UserStateCodec().loads(earlier).to_dict() == user.to_dict()
    # A CSAT sent as 4.0 (JSON Schema counts it an integer) was kept as a float before 2026-12-07.
    floats = orjson.dumps({**user.to_dict(), "cs": 4.0, "css": 7.0})
    back = user_from_record(floats)
    assert (back.last_csat, back.csat_sum) == (4, 7) and type(back.last_csat) is type(back.csat_sum) is int


@settings(max_examples=50, deadline=None)
@given(uid=st.text(min_size=1, max_size=128), applied=st.integers(min_value=0, max_value=2**53))
def test_any_user_id_and_count_survive_the_codec(uid, applied):
    user = UserState(uid, 0, events_applied=applied)
    codec = UserStateCodec()
    back = codec.loads(codec.dumps(user))
    assert (back.user_id, back.events_applied) == (uid, applied)

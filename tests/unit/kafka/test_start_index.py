"""Start indexes read ahead from a worker's local databases (streams/kafka/start_index.py): used
only for databases unchanged since they were read."""

from streams.core.engine import PartitionState
from streams.core.features import UserState
from streams.kafka.codecs import PartitionStateCodec, UserStateCodec
from streams.kafka.local_store import LocalPartition, summary
from streams.kafka.start_index import StartIndexes
from tests.unit.kafka.test_local_store import local_tables


def test_indexes_are_read_from_the_volume_and_used_only_if_nothing_was_written_since(tmp_path):
    wiring = local_tables(tmp_path)
    users, states = LocalPartition(wiring.user_table, 1), LocalPartition(wiring.partition_table, 1)
    users.db(), states.db()  # opened for writing, as Faust holds them: reading ahead does not need the lock
    a = UserState("a", 1, events_applied=5, epoch=3, risk_bin=7, next_due_day=20)
    b = UserState("b", 1, events_applied=2, epoch=4)  # written by a flush whose partition state was lost
    users.write([("a", UserStateCodec().dumps(a)), ("b", UserStateCodec().dumps(b))], 10, [summary(a), summary(b)])
    states.write([("p1", PartitionStateCodec().dumps(PartitionState(1, epoch=3)))], 5)

    def read() -> StartIndexes:
        indexes = StartIndexes(4, wiring.user_table.data.partition_path, wiring.partition_table.data.partition_path)
        indexes.start()
        return indexes

    indexes = read()
    index = indexes.take(1, (10, 5), 3)
    assert index is not None and (index.users_known, index.events_applied, index.ahead) == (2, 7, ["b"])
    assert index.population.counts[7] == 1 and index.due is None  # kept on disk (streams/kafka/due_index.py)
    assert indexes.take(1, (10, 5), 3) is None  # taken once
    assert indexes.take(0, (None, None), 0) is None  # no database on the volume for that partition
    assert read().take(1, (11, 5), 3) is None  # recovery wrote a changelog tail since
    assert read().take(1, (10, 6), 3) is None
    assert read().take(1, (10, 5), 4) is None  # another partition state


def test_a_database_that_cannot_be_read_costs_only_the_head_start(tmp_path):
    (tmp_path / "users-1.db").mkdir()  # not a database
    (tmp_path / "states-1.db").mkdir()
    indexes = StartIndexes(2, lambda p: tmp_path / f"users-{p}.db", lambda p: tmp_path / f"states-{p}.db")
    assert indexes.take(1, (None, None), 0) is None

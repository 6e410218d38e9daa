"""Tables on local disk (``table_store=rocksdb``): the engine's users through a bounded cache.

Faust's RocksDB store keeps one database per table partition under the data directory and, at
start or takeover, reads only the changelog written after the offset persisted in it (a database
far behind catches up in bulk first: streams/kafka/bulk_restore.py). The
pipeline writes the changelog itself (agents/pipeline.py), so it also writes here what the broker
acknowledged, with the highest acknowledged offset, in one atomic batch: never ahead of the
changelog (a crash between the two leaves the database behind, and recovery reads the tail).

The engine works on live objects: ``UserCache`` hands it the user, loaded from the database on
first use and kept until it is evicted after a flush that wrote it (least recently used first,
down to the setting). Between flushes the cache can grow by the users touched in one flush.

Keys: a table's record under ``RECORD_PREFIX`` + its changelog key (so no user id, whatever it
is, meets Faust's offset key), and beside each user record a summary under ``INDEX_PREFIX`` + user
id: what the engine's start needs (start.StoredUser), written in the same batch as the record,
whether the record came from a flush or from the changelog during recovery (app.RestoringTable
passes recovery's records through ``to_local``; bulk_restore.py writes its own). A start then reads
a few bytes per user instead of decoding every state. The pipeline sends each user record with its
index entry in a header (``INDEX_HEADER``), so a restore need not decompress and parse every
record to index it (half of a restore's time otherwise); a record without it (written before
2026-12-03) is summarised from its value.

The user table also keeps the partition's due-time index (streams/kafka/due_index.py): a key under
``DUE_PREFIX`` + day + user id for each user whose stored state is due at that day boundary. Each
write moves a user's key from the day their stored summary recorded to the day the new one does,
in the same batch, so the keys always match the stored states.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Callable, Iterable, Iterator, Mapping, MutableMapping

import orjson

from streams.core.engine import PartitionState
from streams.core.features import UserState
from streams.core.start import StoredUser
from streams.kafka.codecs import PartitionStateCodec, UserStateCodec, user_document

USERS, PARTITIONS = UserStateCodec(), PartitionStateCodec()  # the changelogs' codecs: one stored form

# Faust's RocksDB Store.offset_key: the changelog offset this database holds everything up to.
OFFSET_KEY = b"__faust\x00offset__"
RECORD_PREFIX = b"r"
INDEX_PREFIX = b"i"
DUE_PREFIX = b"d"
# Present once every stored user has their due key: written into a database that has no users yet,
# and by ``index_due`` into one written before due keys were kept (before 2026-12-04).
DUE_INDEXED = b"_due-indexed"
INDEX_HEADER = "cg-index"  # a user record's header: its index entry (``summary``)


def summary(user: UserState) -> bytes:
    """The index entry of a user (start.StoredUser without the id, which is in the key)."""
    return orjson.dumps([user.epoch, user.events_applied, user.risk_bin, user.next_due_day])


def index_headers(user: UserState) -> list[tuple[str, bytes]]:
    """The headers of ``user``'s changelog record."""
    return [(INDEX_HEADER, summary(user))]


def index_entry(headers: Any) -> bytes | None:
    """The index entry a changelog record's headers carry, if any (a list of pairs, or a mapping)."""
    for name, value in (headers.items() if isinstance(headers, Mapping) else headers or ()):
        if name == INDEX_HEADER:
            return value  # type: ignore[no-any-return]
    return None


def summary_of_record(record: bytes) -> bytes:
    """The index entry of a stored user record (a changelog value, codecs.user_record)."""
    doc = user_document(record)
    return orjson.dumps([doc["ep"], doc["n"], doc.get("rb", -1), doc["nd"]])


def due_day_of(entry: bytes | None) -> int:
    """The next due day an index entry records (-1: none, or no entry)."""
    return int(orjson.loads(entry)[3]) if entry is not None else -1


def due_key(day: int, uid: str) -> bytes:
    """A user's key in the due-time index: by day (big-endian, so keys sort by day), then id."""
    return DUE_PREFIX + day.to_bytes(8, "big") + uid.encode()


def due_key_parts(key: bytes) -> tuple[int, str]:
    return int.from_bytes(key[1:9], "big"), key[9:].decode()


class DueKeyMoves:
    """The due-key changes of one batch of a user table partition's database: each user's key
    moves from the day the stored (or, earlier in the batch, written) summary recorded."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self.days: dict[str, int] = {}  # as the batch leaves them

    def changes(self, uid: str, entry: bytes | None) -> list[tuple[bytes, bytes | None]]:
        """(key, value or None to delete) for writing ``entry`` (None: a tombstone) for ``uid``."""
        old = self.days.get(uid)
        if old is None:
            old = due_day_of(self.db.get(INDEX_PREFIX + uid.encode()))
        new = self.days[uid] = due_day_of(entry)
        if old == new:
            return []
        return ([(due_key(old, uid), None)] if old >= 0 else []) + ([(due_key(new, uid), b"")] if new >= 0 else [])

    def marker(self) -> list[tuple[bytes, bytes]]:
        """The marker, if the database has no users yet: every user it gets will have a due key."""
        if self.db.get(DUE_INDEXED) is not None or any(True for _ in under(self.db, INDEX_PREFIX)):
            return []
        return [(DUE_INDEXED, b"1")]


def index_due(db: Any, batch_size: int = 50_000) -> int:
    """Give every stored user of a database written before due keys were kept their due key (once;
    then the marker). The number of keys written."""
    if db.get(DUE_INDEXED) is not None:
        return 0
    from rocksdict import WriteBatch

    written = 0
    batch = WriteBatch(raw_mode=True)
    for uid, *_, due_day in stored_users(db):
        if due_day >= 0:
            batch.put(due_key(due_day, uid), b"")
            written += 1
            if written % batch_size == 0:
                db.write(batch)
                batch = WriteBatch(raw_mode=True)
    batch.put(DUE_INDEXED, b"1")
    db.write(batch)
    return written


def under(db: Any, prefix: bytes) -> Iterator[tuple[str, bytes]]:
    """The keys (without the prefix) and values under ``prefix`` of a partition's database."""
    for key, value in db.items(from_key=prefix):
        if not key.startswith(prefix):
            return
        yield key[len(prefix):].decode(), value


def stored_users(db: Any) -> Iterator[StoredUser]:
    """The index of a user table partition's database."""
    for uid, value in under(db, INDEX_PREFIX):
        yield (uid, *orjson.loads(value))


def offset_in(db: Any) -> int | None:
    """The changelog offset a partition's database holds everything up to (as Faust's store reads it)."""
    raw = db.get(OFFSET_KEY)
    return int(raw) if raw is not None else None


def rocksdb_options(cache_mb: int) -> dict[str, Any]:
    """Table options for Faust's RocksDB store: bounded caches (its defaults reserve a 2 GB block
    cache and three 64 MB write buffers per partition), rocksdict as the binding."""
    size = cache_mb * 1024 * 1024
    return {"driver": "rocksdict", "block_cache_size": size, "block_cache_compressed_size": 0,
            "write_buffer_size": size, "max_write_buffer_number": 2}


class LocalPartition:
    """One table partition's database, as Faust's store opened it. Looked up at each use: Faust
    drops it on revocation and opens it again on assignment (it allows one handle per path)."""

    def __init__(self, table: Any, partition: int) -> None:
        self.store = table.data
        self.partition = partition

    def db(self) -> Any:
        return self.store._db_for_partition(self.partition)

    def get(self, key: str) -> bytes | None:
        return self.db().get(RECORD_PREFIX + key.encode())

    def items(self) -> Iterator[tuple[str, bytes]]:
        return self._under(RECORD_PREFIX)

    def stored_users(self) -> Iterator[StoredUser]:
        return stored_users(self.db())

    def _under(self, prefix: bytes) -> Iterator[tuple[str, bytes]]:
        return under(self.db(), prefix)

    def persisted_offset(self) -> int | None:
        return offset_in(self.db())

    def write(self, records: list[tuple[str, bytes | None]], offset: int, entries: list[bytes | None] | None = None) -> bool:
        """The records the changelog acknowledged up to ``offset``, atomically with it and, for
        the user table, with each record's index entry (``entries``, one per record, as the
        record's header carries it; None: summarised from the record). False if the partition was
        revoked meanwhile (its new owner reads them from the changelog)."""
        db = self.store._dbs.get(self.partition)
        if db is None:
            return False
        from rocksdict import WriteBatch  # only with this store: a worker on memory tables needs no RocksDB

        batch = WriteBatch(raw_mode=True)
        moves = DueKeyMoves(db) if entries is not None else None
        for i, (key, value) in enumerate(records):
            changes: list[tuple[bytes, bytes | None]] = [(RECORD_PREFIX + key.encode(), value)]
            if moves is not None:
                entry = None if value is None else entries[i] or summary_of_record(value)  # type: ignore[index]
                changes += [(INDEX_PREFIX + key.encode(), entry), *moves.changes(key, entry)]
            _put(batch, changes)
        if moves is not None:
            _put(batch, moves.marker())
        batch.put(OFFSET_KEY, str(offset).encode())
        db.write(batch)
        return True


def _put(batch: Any, changes: Iterable[tuple[bytes, bytes | None]]) -> None:
    for key, value in changes:
        if value is None:
            batch.delete(key)
        else:
            batch.put(key, value)


def to_local(batch: Iterable[Any], db_of: Callable[[int], Any] | None) -> Iterator[Any]:
    """Changelog records as recovery applies them to a local table: under the record prefix and,
    for the user table (``db_of``: a partition's database), each followed by its summary and the
    move of its due key (records of the same offset), so Faust's store writes them in one batch."""
    moves: dict[int, DueKeyMoves] = {}
    for event in batch:
        msg = event.message
        changes: list[tuple[bytes, bytes | None]] = [(RECORD_PREFIX + msg.key, msg.value)]
        if db_of is not None:
            partition_moves = moves.get(msg.partition)
            if partition_moves is None:
                partition_moves = moves[msg.partition] = DueKeyMoves(db_of(msg.partition))
                changes += partition_moves.marker()
            entry = None if msg.value is None else index_entry(msg.headers) or summary_of_record(msg.value)
            changes += [(INDEX_PREFIX + msg.key, entry), *partition_moves.changes(msg.key.decode(), entry)]
        for key, value in changes:
            yield SimpleNamespace(message=SimpleNamespace(tp=msg.tp, offset=msg.offset, partition=msg.partition,
                                                          key=key, value=value))


def partition_key(partition: int) -> str:
    """The partition table's key (and its changelog's) of a partition's state."""
    return f"p{partition}"


def partition_state_in(db: Any, partition: int) -> PartitionState | None:
    """The state a partition table partition's database holds, if any."""
    raw = db.get(RECORD_PREFIX + partition_key(partition).encode())
    return PARTITIONS.loads(raw) if raw is not None else None


class UserCache(MutableMapping[str, UserState]):
    """One partition's users for its engine: live objects in front of the local database."""

    def __init__(self, local: LocalPartition) -> None:
        self.local = local
        self.live: dict[str, UserState] = {}  # insertion order = least recently used first
        self.erased: set[str] = set()  # removed, until the database has their tombstones

    def __getitem__(self, uid: str) -> UserState:
        user = self.live.pop(uid, None)
        if user is None:
            if uid in self.erased:
                raise KeyError(uid)
            raw = self.local.get(uid)
            if raw is None:
                raise KeyError(uid)
            user = USERS.loads(raw)
        self.live[uid] = user  # most recently used
        return user

    def get(self, uid: str, default: Any = None) -> Any:  # the engine's hot path: no exception per miss
        try:
            return self[uid]
        except KeyError:
            return default

    def __contains__(self, uid: object) -> bool:
        return isinstance(uid, str) and (uid in self.live or (uid not in self.erased and self.local.get(uid) is not None))

    def __setitem__(self, uid: str, user: UserState) -> None:
        self.live.pop(uid, None)
        self.live[uid] = user
        self.erased.discard(uid)

    def __delitem__(self, uid: str) -> None:
        present = uid in self
        self.live.pop(uid, None)
        self.erased.add(uid)
        if not present:
            raise KeyError(uid)

    def __iter__(self) -> Iterator[str]:
        for uid, _ in self._all():
            yield uid

    def values(self) -> Iterator[UserState]:  # type: ignore[override]
        """Every user, the live ones as they are, the others decoded one at a time and not kept."""
        for uid, raw in self._all():
            yield self.live.get(uid) or USERS.loads(raw)

    def __len__(self) -> int:
        return sum(1 for _ in self._all())

    def _all(self) -> Iterator[tuple[str, bytes]]:
        for uid in list(self.live):
            yield uid, b""
        for uid, raw in self.local.items():
            if uid not in self.live and uid not in self.erased:
                yield uid, raw

    def stored_users(self) -> Iterator[StoredUser]:
        """Every stored user as the engine's start needs it (the cache is empty then)."""
        return self.local.stored_users()

    def stored(self, records: list[tuple[str, bytes | None]]) -> None:
        """The database now holds these records: tombstoned users are gone from it."""
        for uid, value in records:
            if value is None:
                self.erased.discard(uid)

    def evict(self, keep: int, pinned: set[str]) -> int:
        """Drop least recently used users beyond ``keep``, except those changed since they were
        last written (``pinned``): their latest state is only here. The number dropped."""
        excess = len(self.live) - keep
        if excess <= 0:
            return 0
        dropped = [uid for uid in self.live if uid not in pinned][:excess]
        for uid in dropped:
            del self.live[uid]
        return len(dropped)

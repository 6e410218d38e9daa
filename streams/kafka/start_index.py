"""The start indexes of a restarted worker's local partitions, read while it waits for its group.

A worker restarted on its volume (``table_store=rocksdb``) first waits seconds for its consumer
group (about 4.5 s on the embedded broker, the dead member's session on Kafka), then starts an
engine per assigned partition, which reads the index of the partition's users (about 0.7 s per
250,000 users: streams/core/start.py). The index is on the volume already, so a thread reads it,
for every partition found there, while the group forms. An engine starts from it only if nothing
was written to that partition's databases since (their persisted offsets unchanged: recovery
read no changelog tail) and the partition state's epoch is the one it was read against; else the
index is read again, as without this.

The thread opens the databases read-only (Faust opens them for writing when the partitions are
assigned, which a read-only handle does not block); whatever goes wrong there only costs the
saving: the engine reads the index itself.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

import structlog

from streams.core.start import StartIndex, index_stored
from streams.kafka.local_store import offset_in, partition_state_in, stored_users

log = structlog.get_logger(__name__)

Offsets = tuple["int | None", "int | None"]  # persisted offsets of the user and the partition databases


class StartIndexes:
    def __init__(self, partitions: int, user_db: Callable[[int], Path], partition_db: Callable[[int], Path]) -> None:
        """``user_db``/``partition_db``: the path of a partition's database of each table."""
        self._ready: dict[int, tuple[Offsets, StartIndex]] = {}
        self._thread = threading.Thread(target=self._read_all, args=(partitions, user_db, partition_db),
                                        name="churnguard-start-indexes", daemon=True)

    def start(self) -> None:
        """Begin reading (once): when the worker begins waiting for its group."""
        if not self._thread.is_alive() and self._thread.ident is None:
            self._thread.start()

    def take(self, partition: int, offsets: Offsets, epoch: int) -> StartIndex | None:
        """The partition's index if it was read from databases at these persisted offsets, with
        the partition state at ``epoch`` (waits for the thread: reading again would take longer)."""
        self.start()
        self._thread.join()
        offsets_read, index = self._ready.pop(partition, (None, None))
        if index is None or offsets_read != offsets or index.epoch != epoch:
            return None
        return index

    def _read_all(self, partitions: int, user_db: Callable[[int], Path], partition_db: Callable[[int], Path]) -> None:
        for partition in range(partitions):
            if not user_db(partition).exists() or not partition_db(partition).exists():
                continue
            try:
                self._ready[partition] = _read(partition, user_db(partition), partition_db(partition))
            except Exception as exc:  # the engine reads the index itself
                log.warning("start_index_not_read", partition=partition, error=f"{type(exc).__name__}: {exc}")


def _read(partition: int, user_path: Path, partition_path: Path) -> tuple[Offsets, StartIndex]:
    from rocksdict import AccessType, Options, Rdict  # only with tables on disk

    def open_read_only(path: Path) -> Rdict:
        return Rdict(str(path), options=Options(raw_mode=True), access_type=AccessType.read_only())

    states = open_read_only(partition_path)
    try:
        state = partition_state_in(states, partition)
        epoch = state.epoch if state is not None else 0
        partition_offset = offset_in(states)
    finally:
        states.close()
    users = open_read_only(user_path)
    try:
        return (offset_in(users), partition_offset), index_stored(stored_users(users), epoch, due_in_memory=False)
    finally:
        users.close()

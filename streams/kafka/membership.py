"""A restarted worker rejoins its consumer group as the member it replaces.

A worker killed without leaving its group stays a member until its session times out. A new
worker that joins meanwhile starts a rebalance in which the dead member may be kept, even elected
leader: the new one then waits for an assignment that never comes until the broker gives up
(measured on the embedded broker: about 13 s instead of 5 s, in about half the restarts that
joined within a second or two of the kill). A worker restarted on its data directory therefore
joins with the member id its predecessor last had there: the group sees that member come back and
makes it leader at once (a broker that has already dropped the id answers UNKNOWN_MEMBER_ID, and
the client joins as a new member).

The id is reused only under an exclusive lock on the data directory, held for the life of the
process (released by the kernel when it dies, even by SIGKILL): a second live worker on the same
directory never takes over the first's membership. Then it joins as a new member; its tables
would wait for the first's RocksDB lock anyway. The lock is this host's only, so the id is also
reused only on the host that recorded it (a StatefulSet pod keeps its hostname across restarts):
a copy of the volume restored for another worker must not make two live workers one member.
"""

from __future__ import annotations

import fcntl
import socket
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger(__name__)

LOCK_FILE = "worker.lock"
MEMBER_FILE = "group-member"  # "<group id> <member id> <host>": the last member id this directory's worker had

_lock: Any = None  # the open lock file, held for the life of the process


def rejoin_as_predecessor(data_dir: str, group_id: str) -> str | None:
    """Take the data directory's lock and make this process's consumer of ``group_id`` join with
    the member id its predecessor there last had, and record its own. Returns the id reused, if
    any. Without the lock (another live worker on the directory) nothing changes."""
    global _lock
    directory = Path(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    lock = open(directory / LOCK_FILE, "a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.close()
        log.warning("data_dir_in_use", data_dir=data_dir, reason="another worker holds it: joining as a new member")
        return None
    _lock = lock
    member_file = directory / MEMBER_FILE
    stored = member_file.read_text().split() if member_file.exists() else []
    previous = stored[1] if len(stored) == 3 and (stored[0], stored[2]) == (group_id, socket.gethostname()) else None
    _patch_coordinator(group_id, previous, member_file)
    return previous


def _patch_coordinator(group_id: str, previous: str | None, member_file: Path) -> None:
    from aiokafka.consumer.group_coordinator import GroupCoordinator

    init, joined = GroupCoordinator.__init__, GroupCoordinator._on_join_complete

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        if previous and self.group_id == group_id:
            self.member_id = previous  # the first JoinGroup is sent later, from the coordination task

    async def _on_join_complete(self: Any, generation: int, member_id: str, *args: Any) -> Any:
        if self.group_id == group_id:
            written = member_file.with_suffix(".new")  # replaced whole: a crash mid-write leaves the old one
            written.write_text(f"{group_id} {member_id} {socket.gethostname()}\n")
            written.replace(member_file)
        return await joined(self, generation, member_id, *args)

    GroupCoordinator.__init__ = __init__  # type: ignore[method-assign]
    GroupCoordinator._on_join_complete = _on_join_complete  # type: ignore[method-assign]

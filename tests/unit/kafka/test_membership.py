"""A restarted worker rejoins its group as the member it replaces, only while it holds its data
directory (streams/kafka/membership.py). Real processes: the lock is the kernel's."""

import socket
import subprocess
import sys

CLAIM = ("import sys, time; from streams.kafka.membership import rejoin_as_predecessor; "
         "print(rejoin_as_predecessor(sys.argv[1], sys.argv[2]), flush=True); time.sleep(float(sys.argv[3]))")


def claim(data_dir, group, hold_s=0.0):
    return subprocess.Popen([sys.executable, "-c", CLAIM, str(data_dir), group, str(hold_s)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def reused(data_dir, group):
    process = claim(data_dir, group)
    out, _ = process.communicate(timeout=60)
    return out.strip().splitlines()[-1]  # after the warning logged when the directory is held


def test_the_member_id_is_reused_only_by_the_one_worker_holding_the_directory(tmp_path):
    assert reused(tmp_path, "g") == "None"  # nothing recorded yet
    (tmp_path / "group-member").write_text("g member-1 another-host\n")
    assert reused(tmp_path, "g") == "None"  # recorded on another host (a restored copy of the volume)
    (tmp_path / "group-member").write_text(f"g member-1 {socket.gethostname()}\n")
    assert reused(tmp_path, "other-group") == "None"
    first = claim(tmp_path, "g", hold_s=60)
    try:
        assert first.stdout.readline().strip() == "member-1"
        assert reused(tmp_path, "g") == "None"  # the first is alive: never take its membership
    finally:
        first.kill()  # SIGKILL: the kernel releases the lock
        first.wait()
    assert reused(tmp_path, "g") == "member-1"

"""The command line as an operator meets it."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_the_broker_command_stops_its_broker_on_a_signal(sig):
    proc = subprocess.Popen([sys.executable, "-m", "streams.cli", "broker"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    brokers: list[int] = []
    try:
        bootstrap = proc.stdout.readline().strip()
        assert bootstrap.startswith("127.0.0.1:"), bootstrap
        brokers = _children(proc.pid)
        assert brokers, "no broker process"
        proc.send_signal(sig)
        assert proc.wait(30) == 0
        deadline = time.monotonic() + 10
        while any(_alive(b) for b in brokers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(b) for b in brokers), "the broker outlived its command"
    finally:  # whatever happened, nothing we started outlives the test
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for b in brokers:
            if _alive(b):
                os.kill(b, signal.SIGKILL)


def test_version_and_every_command_has_an_example():
    out = subprocess.run([sys.executable, "-m", "streams.cli", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("churnguard ")
    for command in ("broker", "topics", "worker", "simulate", "replay", "evaluate", "horizon", "settings", "demo"):
        text = subprocess.run([sys.executable, "-m", "streams.cli", command, "--help"], capture_output=True, text=True,
                              check=True).stdout
        assert "Example" in text, command

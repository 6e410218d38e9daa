"""The command line as an operator meets it."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import orjson
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


def _one_line_failure(argv: list[str], env: dict[str, str], timeout_s: float) -> tuple[str, float]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "streams.cli", *argv], capture_output=True, text=True,
                          env={"PATH": os.environ["PATH"], "CHURNGUARD_LOG_FORMAT": "json", **env}, timeout=timeout_s)
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, (done.returncode, lines[-5:])
    return lines[0], time.monotonic() - started


@pytest.mark.parametrize("address", ["127.0.0.1:1", "no-such-host.invalid:9092"])
def test_an_unreachable_broker_is_one_line_within_the_timeout(address):
    line, seconds = _one_line_failure(["topics", "--broker", address], {"CHURNGUARD_BROKER_CONNECT_TIMEOUT_S": "3"}, 60)
    assert "broker_unreachable" in line and f"CHURNGUARD_BROKER={address}" in line
    assert seconds < 30  # the configured 3 s and the interpreter's start, not 40 s of retries


def test_a_taken_web_port_is_one_line_naming_the_setting():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line, _ = _one_line_failure(["worker", "--broker", "127.0.0.1:1"], {"CHURNGUARD_WEB_PORT": str(port)}, 60)
    assert "web_port_taken" in line and f"CHURNGUARD_WEB_PORT={port}" in line


def test_the_backfill_command_runs_its_engines_under_the_workers_collector_policy(tmp_path):
    from streams.gc_policy import YOUNG_THRESHOLD
    from tests.golden import INPUTS

    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "streams.cli", "replay", *map(str, INPUTS), "--backfill", "--out", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={"PATH": os.environ["PATH"], "CHURNGUARD_LOG_FORMAT": "json",
                               "CHURNGUARD_DATA_DIR": str(tmp_path / "data")})
    assert done.returncode == 0, done.stderr[-2000:]
    summary = orjson.loads((out / "summary.json").read_bytes())
    assert summary["replay"]["input_records"] == 5071
    assert summary["gc"]["thresholds"][0] == YOUNG_THRESHOLD and summary["gc"]["frozen_objects"] > 0

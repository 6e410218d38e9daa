"""Worker processes driven by the tools and the tests: start, ask for status, wait, stop."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable

import orjson

from streams.kafka.produce import produce
from streams.settings import Settings


def start_worker(settings: Settings, log_path: Path, command: list[str] | None = None,
                 cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """A worker process (``command``: how to run churnguard, this interpreter's by default)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **settings.to_env(), "CHURNGUARD_LOG_FORMAT": "json"}
    with open(log_path, "ab") as sink:
        # Own session: a Ctrl-C on the terminal reaches only us, and we stop the worker in order.
        return subprocess.Popen([*(command or [sys.executable, "-m", "streams.cli"]), "worker"], env=env, cwd=cwd,
                                stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)


def stop_process(proc: subprocess.Popen[bytes], sig: int = 15, timeout_s: float = 30.0) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def worker_status(settings: Settings) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://{settings.web_host}:{settings.web_port}/status/", timeout=2) as r:
            return orjson.loads(r.read())  # type: ignore[no-any-return]
    except OSError:
        return None


def _get(settings: Settings, path: str, accept: str = "*/*") -> bytes:
    request = urllib.request.Request(f"http://{settings.web_host}:{settings.web_port}{path}", headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=60) as r:
        return r.read()  # type: ignore[no-any-return]


def debug_json(settings: Settings, path: str) -> Any:
    """A worker web endpoint's JSON answer (``/debug/users/``, ``/debug/digest/``...)."""
    return orjson.loads(_get(settings, path))


def feature_digest(settings: Settings) -> str:
    return str(debug_json(settings, "/debug/digest/")["feature_digest"])


def run_worker_on(settings: Settings, records: list[tuple[str, str, int, bytes]], log_path: Path,
                  timeout_s: float, outcomes: list[tuple[str, str, int, bytes]] | None = None,
                  command: list[str] | None = None, cwd: Path | None = None) -> dict[str, Any]:
    """Start a worker, produce ``outcomes`` and wait until it read them, then produce ``records``,
    wait until it processed them, stop it cleanly. Returns the worker's last status (with the
    table's feature digest, its /metrics text and its status page) and its exit code."""
    worker = start_worker(settings, log_path, command, cwd)
    try:
        if outcomes:
            asyncio.run(produce(settings, outcomes))
            if not wait_until(lambda: (worker_status(settings) or {}).get("outcomes_received", 0) >= len(outcomes),
                              timeout_s):
                raise TimeoutError(f"worker did not read {len(outcomes)} outcomes in {timeout_s}s")
        asyncio.run(produce(settings, records))
        status = wait_processed(settings, len(records), timeout_s)
        status["table"]["feature_digest"] = feature_digest(settings)
        status["metrics"] = _get(settings, "/metrics").decode()
        status["page"] = _get(settings, "/status/", accept="text/html").decode()
    finally:
        stop_process(worker)
    status["returncode"] = worker.returncode
    return status


def wait_until(predicate: Callable[[], bool], timeout_s: float, interval_s: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return False


def wait_processed(settings: Settings, expected: int, timeout_s: float) -> dict[str, Any]:
    """Wait until the worker has received ``expected`` records, every source of its partitions is
    idle (so the watermarks passed what they can: a source with few records, the support tickets,
    holds its partition back until then) and it flushed everything it can."""
    last: dict[str, Any] = {}

    def done() -> bool:
        nonlocal last
        status = worker_status(settings)
        if status is None:
            return False
        last = status
        parts = status["partitions"].values()
        return (status["received"] >= expected and status["unflushed"] == 0 and len(parts) == settings.partitions
                and all(len(p["idle"]) == 3 for p in parts))

    if not wait_until(done, timeout_s):
        raise TimeoutError(f"worker did not process {expected} records in {timeout_s}s; last status {last}")
    time.sleep(2 * settings.flush_interval_s)
    return worker_status(settings) or last

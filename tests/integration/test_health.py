"""Honest health, through a rebalance: liveness (the event loop runs) and readiness (partitions
assigned, tables recovered, not rebalancing) are separate probes, answered by real workers."""

import time
import urllib.error
import urllib.request

import orjson
import pytest

from streams.offline.workers import start_worker, stop_process

pytestmark = pytest.mark.integration


def probe(settings, path: str) -> tuple[int, dict]:
    """(HTTP status, body) of a probe; (0, {}) while nothing listens."""
    url = f"http://{settings.web_host}:{settings.web_port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, orjson.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, orjson.loads(e.read())
    except OSError:
        return 0, {}


def watch_until(settings, predicate, timeout_s: float) -> list[tuple[int, dict]]:
    """Every /ready/ answer, polled quickly, until ``predicate(answers)`` holds."""
    answers: list[tuple[int, dict]] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        answers.append(probe(settings, "/ready/"))
        if predicate(answers):
            return answers
        time.sleep(0.05)
    raise TimeoutError(f"{settings.web_port}: last answers {answers[-3:]}")


def test_readiness_follows_assignment_and_rebalances_while_liveness_stays(settings_for, tmp_path):
    first = settings_for("churnguard-health", source_idle_s=1.0)
    second = settings_for("churnguard-health", source_idle_s=1.0)  # same group, own port and data
    a = start_worker(first, tmp_path / "a.log")
    b = None
    try:
        answers = watch_until(first, lambda ans: ans[-1][0] == 200, 180)
        served = [code for code, _ in answers if code]
        assert served[0] == 503 and served[-1] == 200, served  # up, but not ready before its assignment
        assert answers[-1][1]["partitions"] == list(range(first.partitions))
        assert probe(first, "/live/")[0] == 200

        b = start_worker(second, tmp_path / "b.log")
        during = watch_until(first, lambda ans: any(c == 503 for c, _ in ans) and ans[-1][0] == 200
                             and probe(second, "/ready/")[0] == 200, 240)
        rebalancing = [body for code, body in during if code == 503]
        assert rebalancing and not all(body["not_rebalancing"] for body in rebalancing)
        assert probe(first, "/live/")[0] == 200  # a rebalance is not death: liveness never flips
        mine, theirs = during[-1][1]["partitions"], probe(second, "/ready/")[1]["partitions"]
        assert mine and theirs and sorted(mine + theirs) == list(range(first.partitions))
    finally:
        for worker in (b, a):
            if worker is not None:
                stop_process(worker)

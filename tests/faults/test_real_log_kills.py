"""A real business export, not our simulator: one customer in eight of Ta Feng's grocery receipts
(about 103,000 lines of 4,000 customers, four months; streams/offline/public_logs.py fetches it
through the package registry, pinned), its rows shuffled (an export in any order), replayed through
the product's own import path into topics. A worker on local tables, killed five times (SIGKILL and
SIGTERM) at growing shares of the export on a busy machine, then run to the end, ends exactly where
an uninterrupted run of the same records ends: the same events per customer, features, labels and
alerts, and every alert published again carries the same id and content. Real baskets differ from
the simulator's: many lines per customer in the same second, bursts around holidays, long silences."""

import random
import signal
import time
from dataclasses import replace
from pathlib import Path

import pytest

from streams.kafka.admin import create_topics
from streams.offline.backfill import run_settings
from streams.offline.public_logs import DATASETS, fetch
from streams.offline.replay import Replay
from streams.offline.workers import start_worker, stop_process, wait_until, worker_status
from tests.faults.harness import LOCAL, assert_ends_as, contended, log_tail, run_to_the_end

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
KILLS = (signal.SIGKILL, signal.SIGTERM, signal.SIGKILL, signal.SIGTERM, signal.SIGKILL)
SHARE = 8  # customers whose id is a multiple of 8


def shuffled_share(log: Path, out: Path) -> int:
    """The export's lines of one customer in SHARE, in a shuffled order (header and byte-order mark kept)."""
    header, *rows = log.read_text(encoding="utf-8-sig").splitlines()
    rows = [row for row in rows if int(row.split(",")[1].strip('"')) % SHARE == 0]
    random.Random(3).shuffle(rows)
    out.write_text("\ufeff" + header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return len(rows)


def applied(settings) -> int:
    """Events the worker has applied so far (its engines' counts, restored ones included)."""
    return ((worker_status(settings) or {}).get("table") or {}).get("events_applied", 0)


def test_a_real_export_in_any_order_survives_kills_exactly(settings_for, tmp_path):
    ds = DATASETS["ta_feng"]
    export = tmp_path / "ta_feng_share.csv"
    lines = shuffled_share(fetch(ds, ROOT / "out" / "real-data"), export)
    assert lines > 100_000
    base = settings_for("churnguard-real-log", source_idle_s=1.0, label_horizon_days=ds.horizon_days)

    results = {}
    for name, store in (("reference", {}), ("crashing", LOCAL)):
        settings = replace(run_settings(base, name), **store)
        create_topics(settings)
        stats = Replay(settings, [export], kind="purchase", mapping=str(ROOT / ds.mapping),
                       checkpoint_dir=tmp_path / f"checkpoint-{name}").run()
        assert stats.records == lines
        if name == "crashing":
            rng = random.Random(5)
            with contended(2):
                for i, sig in enumerate(KILLS):
                    log_path = tmp_path / f"victim-{i}.log"
                    victim = start_worker(settings, log_path)
                    # Killed in the middle, however fast the machine: once it has applied a share of
                    # the export (a sixth more each time), after a random part of a second more.
                    reached = wait_until(lambda: applied(settings) >= lines * (i + 1) // 6, 300, 0.05)
                    time.sleep(rng.uniform(0.0, 1.0))
                    killed_at = applied(settings)
                    stop_process(victim, sig=sig)
                    assert reached, log_tail(log_path)
                    assert killed_at < lines, "killed after the end: nothing left to lose"
        results[name] = run_to_the_end(settings, tmp_path / f"{name}.log")

    expected, got = results["reference"], results["crashing"]
    assert sum(expected["users"].values()) > 100_000 and len(expected["alerts"]) > 100
    assert_ends_as(got, expected)

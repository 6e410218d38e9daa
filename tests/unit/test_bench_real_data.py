"""The real-data benchmark runs on a log it does not ship (what a user, or a reviewer, brings):
the files, kind and mapping as ``churnguard replay`` takes them, the horizon proposed from the
log and the cut placed so a whole horizon follows it."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import orjson

from streams.core.events import DAY_MS

ROOT = Path(__file__).parents[2]
MAPPING = """
[purchase]
[purchase.fields]
user_id = "customer"
ts = { column = "date", format = "%Y-%m-%d" }
amount = "amount"
event_id = { hash = "row" }
order_id = { template = "{customer}-{date}" }
currency = { constant = "EUR" }
status = { constant = "completed" }
"""
START_DAY = 19_000  # 2022-01-08


def _export(tmp_path: Path) -> list[Path]:
    """Customers who buy every few days until they leave, sorted by customer (as exports are); and
    tickets, one of them from a customer who never bought."""
    rng = random.Random(3)
    rows = ["customer,date,amount"]
    for c in range(300):
        day, leaves = rng.randrange(60), rng.randrange(20, 400)
        while day < min(leaves, 240):
            when = time.strftime("%Y-%m-%d", time.gmtime((START_DAY + day) * DAY_MS // 1000))
            rows.append(f"c{c},{when},{rng.randrange(5, 90)}.{rng.randrange(100):02d}")
            day += 1 + int(rng.expovariate(1 / (3 + c % 10)))
    purchases = tmp_path / "purchases.csv"
    purchases.write_text("\n".join(rows) + "\n")
    tickets = tmp_path / "tickets.jsonl"
    tickets.write_bytes(b"".join(orjson.dumps({
        "event_id": f"t{i}", "user_id": user, "ts": (START_DAY + 30 + i) * DAY_MS, "ticket_id": f"k{i}",
        "status": "opened", "category": "question", "priority": "low"}) + b"\n"
        for i, user in enumerate(("c1", "only-a-ticket"))))
    return [purchases, tickets]


def test_the_benchmark_runs_on_an_export_it_does_not_ship(tmp_path: Path) -> None:
    files = _export(tmp_path)
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(MAPPING)
    out = tmp_path / "result.json"
    subprocess.run([sys.executable, str(ROOT / "bench" / "real_data.py"), *map(str, files), "--mapping", str(mapping),
                    "--json", str(out)], check=True, capture_output=True, timeout=600)
    (result,) = orjson.loads(out.read_bytes())
    assert result["dataset"] == "purchases.csv, tickets.jsonl" and result["rejected"] == 0 and result["partitions"] == 4
    assert 7 <= result["horizon_days"] <= 120  # proposed from the log's gaps
    # The cut leaves a whole horizon: the last purchase day is at most 239 days after the first.
    cut = date.fromisoformat(result["cut"])
    assert (cut - date(2022, 1, 8)).days + result["horizon_days"] <= 240
    # Every customer who bought before the cut is judged, the ticket-only one is not.
    assert 0 < result["customers_at_cut"] <= 300
    ranking = result["ranking"]
    assert {"churnguard", "recency", "BG/NBD P(no purchase in H)"} <= set(ranking)
    assert ranking["churnguard"]["roc_auc"] > 0.6 and ranking["recency"]["roc_auc"] > 0.6
    assert 0 < result["base_rate"] < 1


def test_a_split_past_the_end_of_the_log_is_refused_in_words(tmp_path: Path) -> None:
    files = _export(tmp_path)
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(MAPPING)
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "real_data.py"), str(files[0]), "--mapping",
                           str(mapping), "--horizon-days", "100", "--cut-days", "200"], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 1 and "runs past the log's" in done.stderr


def test_a_log_where_nearly_everyone_churns_is_judged_without_the_ceiling_it_cannot_fit(tmp_path: Path) -> None:
    """One purchase per customer, a few come back once: the out-of-sample ceiling needs five of each
    outcome and is left out; every other scorer is still judged."""
    rng = random.Random(1)
    rows = ["customer,date,amount"]
    for c in range(500):
        day = rng.randrange(200)
        for later in (0, rng.randrange(1, 60)) if c % 25 == 0 else (0,):
            rows.append(f"c{c},{time.strftime('%Y-%m-%d', time.gmtime((START_DAY + day + later) * DAY_MS // 1000))},10")
    (tmp_path / "purchases.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "mapping.toml").write_text(MAPPING)
    out = tmp_path / "result.json"
    subprocess.run([sys.executable, str(ROOT / "bench" / "real_data.py"), str(tmp_path / "purchases.csv"), "--mapping",
                    str(tmp_path / "mapping.toml"), "--json", str(out)], check=True, capture_output=True, timeout=600)
    (result,) = orjson.loads(out.read_bytes())
    assert result["base_rate"] > 0.98
    assert "churnguard" in result["ranking"] and not any("gradient boosting" in name for name in result["ranking"])
    # A small shop: the daily contact budget is a share of each partition's customers, not a whole
    # alert a day per partition (which reached over a third of such a shop in a month).
    assert result["busiest_30_days_alerted_share"] < 0.2


def test_the_partitions_to_run_are_a_choice_of_the_benchmark(tmp_path: Path) -> None:
    """Each partition learns from its own customers only: a small shop measures what one costs."""
    files = _export(tmp_path)
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(MAPPING)
    out = tmp_path / "result.json"
    subprocess.run([sys.executable, str(ROOT / "bench" / "real_data.py"), str(files[0]), "--mapping", str(mapping),
                    "--partitions", "1", "--json", str(out)], check=True, capture_output=True, timeout=600)
    (result,) = orjson.loads(out.read_bytes())
    assert result["partitions"] == 1 and result["ranking"]["churnguard"]["roc_auc"] > 0.6

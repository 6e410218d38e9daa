"""The golden backfill fixture: tests/fixtures/golden/{clicks,purchases,tickets}.jsonl and the exact
alerts (treatment and control, without the emission time) they must produce: expected_alerts.jsonl.

The inputs came from ``churnguard simulate --users 30 --days 50 --seed 5 --bad-rate 0.002``.
After an intended change of behaviour, regenerate the expectation with ``python -m tests.golden``
and review the diff like code.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import orjson

from streams.core.events import Event
from streams.offline.runner import OfflineRun
from streams.settings import Settings
from streams.offline.sources import kind_of_file, merged

GOLDEN = Path(__file__).resolve().parent / "fixtures" / "golden"
INPUTS = [GOLDEN / "clicks.jsonl", GOLDEN / "purchases.jsonl", GOLDEN / "tickets.jsonl"]
EXPECTED = GOLDEN / "expected_alerts.jsonl"


def canonical(docs: list[dict]) -> list[bytes]:
    """Alerts without ``emitted_at``, keys sorted, in (event time, alert id) order."""
    out = []
    for doc in docs:
        doc = {k: v for k, v in doc.items() if k != "emitted_at"}
        out.append(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS))
    return sorted(out, key=lambda b: (orjson.loads(b)["ts"], orjson.loads(b)["alert_id"]))


def for_golden(settings: Settings) -> Settings:
    """The settings the fixture's expectation was made with: 30 users are no population, so half of
    them may be alerted and the tiers are low risks (the defaults would alert one user in four
    partitions), and the daily budget does not bind (tests/unit/core/test_snapshots.py tests it)."""
    return replace(settings, alert_tiers=(("watch", 0.1), ("high", 0.15), ("critical", 0.2)), alert_population_share=0.5,
                   alert_daily_budget_share=1.0)


def offline_alerts() -> list[bytes]:
    """The fixture through the pure engine (four partitions, backfill mode), as the workers would."""
    events = []
    for r in merged([(p, kind_of_file(p)) for p in INPUTS], {}):
        if r.error is None:
            doc = orjson.loads(r.value)
            events.append(Event(r.kind, doc["event_id"], doc["user_id"], doc["ts"], doc))
    cfg = replace(for_golden(Settings()).engine_config(), drain_when_idle=True)
    return canonical(OfflineRun(cfg).feed(events).alerts)


def expected_alerts() -> list[bytes]:
    return EXPECTED.read_bytes().splitlines()


if __name__ == "__main__":
    EXPECTED.write_bytes(b"".join(line + b"\n" for line in offline_alerts()))

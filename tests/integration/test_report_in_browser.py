"""The evaluation report, opened in headless Chromium: every chart drawn, no text on another, no
horizontal scrolling. The report is the one a simulated population's backfill gets (the engine run
offline, as backfills produce the same alerts), with churners at its cuts, so no chart is empty.
"""

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from streams.core.events import Event
from streams.offline.report import write_report
from streams.offline.runner import OfflineRun
from streams.offline.simulator import SimConfig, serialise, simulate
from streams.offline.sources import kind_of_file, merged, write_events, write_truth
from streams.settings import Settings
from tests.browser import chart_layout, chromium_page, outside, overlapping, screenshot


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    cfg = SimConfig(users=300, days=120, seed=11, bad_rate=0.0)
    simulated, truths = simulate(cfg)
    write_events(out / "inputs", serialise(simulated, cfg))
    write_truth(out / "ground_truth.jsonl", truths)
    settings = Settings()
    events = [Event(e["_kind"], e["event_id"], e["user_id"], e["ts"], {k: v for k, v in e.items() if k != "_kind"})
              for e in simulated]
    alerts = OfflineRun(settings.engine_config(), partitions=settings.partitions).feed(events).alerts
    backfill = out / "backfill"
    backfill.mkdir()
    for name, arm in (("alerts", "treatment"), ("holdout", "control")):
        (backfill / f"{name}.jsonl").write_bytes(b"".join(orjson.dumps(a) + b"\n" for a in alerts if a["arm"] == arm))
    inputs = sorted((out / "inputs").glob("*.jsonl"))
    records = merged([(p, kind_of_file(p)) for p in inputs], {})
    summary = write_report(records, [str(p) for p in inputs], backfill, out / "report", settings, out / "ground_truth.jsonl")
    assert summary["point_in_time"]["pooled"]["churned"] > 0 and summary["alerts"]["treatment"] > 0
    return out / "report" / "report.html"


def _check_page(html: Path, expected_charts: int) -> None:
    with chromium_page() as page:
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(html.as_uri())
        charts = chart_layout(page)
        page_width = page.evaluate("document.documentElement.scrollWidth")
        viewport = page.viewport_size["width"]

    assert errors == []
    assert len(charts) == expected_charts
    for chart in charts:
        left, top, right, bottom = chart["frame"]
        assert right - left > 100 and bottom - top > 100, chart["title"]
        assert chart["marks"] > 0, f"{chart['title']}: nothing drawn"
        boxes = [(t["text"], t["box"]) for t in chart["texts"]]
        assert overlapping(boxes) == [], chart["title"]
        assert outside(boxes, chart["frame"]) == [], chart["title"]
    assert page_width <= viewport  # no horizontal scrolling


def test_every_chart_of_the_report_is_drawn_and_no_text_overlaps(report):
    _check_page(report, 8)


def test_the_horizon_chart_is_drawn_and_no_text_overlaps(report, tmp_path):
    inputs = sorted((report.parent.parent / "inputs").glob("*.jsonl"))
    subprocess.run([sys.executable, "-m", "streams.cli", "horizon", *map(str, inputs), "--out", str(tmp_path)],
                   check=True, capture_output=True)
    _check_page(tmp_path / "horizon.html", 1)


def test_a_screenshot_of_the_report(report, tmp_path):
    png = tmp_path / "report.png"
    screenshot(report, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000

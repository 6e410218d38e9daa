from dataclasses import replace
from html.parser import HTMLParser

import orjson

from streams.offline.report import write_report
from streams.offline.sources import kind_of_file, merged
from streams.settings import Settings
from tests.golden import INPUTS, expected_alerts


def test_the_report_on_the_golden_backfill(tmp_path):
    alerts = [orjson.loads(line) for line in expected_alerts()]
    backfill = tmp_path / "backfill"
    backfill.mkdir()
    for name, arm in (("alerts", "treatment"), ("holdout", "control")):
        (backfill / f"{name}.jsonl").write_bytes(b"".join(orjson.dumps(a) + b"\n" for a in alerts if a["arm"] == arm))
    records = merged([(p, kind_of_file(p)) for p in INPUTS], {})
    summary = write_report(records, [str(p) for p in INPUTS], backfill, tmp_path / "report", replace(Settings(), partitions=4))
    assert summary["alerts"]["treatment"] + summary["alerts"]["control"] == len(alerts)
    assert sum(summary["alerts"]["by_tier"][t]["treatment"]["alerts"] for t in ("watch", "high", "critical")) == \
        summary["alerts"]["treatment"]
    assert [c["cut"] for c in summary["point_in_time"]["cuts"]] == ["2026-01-16"]  # 50 days: one cut with a horizon after it
    # Beside the model, the same users ranked by their silence alone: the baseline a score must beat.
    (cut,) = summary["point_in_time"]["cuts"]
    assert cut["churned"] == 0 and cut["recency_roc_auc"] is None  # nobody to rank (tests/unit/offline/test_evaluation.py)
    assert "by their silence alone: None" in (tmp_path / "report" / "report.html").read_text()
    assert summary["progressive"]["n"] > 0
    assert orjson.loads((tmp_path / "report" / "report.json").read_bytes()) == orjson.loads(orjson.dumps(summary))

    class Tags(HTMLParser):
        def __init__(self):
            super().__init__()
            self.svgs = 0

        def handle_starttag(self, tag, attrs):
            self.svgs += tag == "svg"

    parser = Tags()
    parser.feed((tmp_path / "report" / "report.html").read_text())
    assert parser.svgs == 8

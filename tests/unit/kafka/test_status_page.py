from html.parser import HTMLParser

from streams.kafka.status_page import render_page
from tests.unit.kafka.test_metrics import STATUS


class _Texts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.texts: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        if data.strip():
            self.texts.append(data.strip())


def parsed(html: str) -> _Texts:
    parser = _Texts()
    parser.feed(html)
    return parser


def test_stream_values_are_escaped_and_extreme_times_shown_as_numbers():
    hostile = "<script>alert(1)</script>"
    alert = {"alert_id": "a" * 32, "user_id": hostile, "ts": 10**17, "tier": "<b>high</b>", "previous_tier": "none",
             "risk_score": 0.5, "arm": "treatment", "action": {"kind": "x<y", "channel": "email"}}
    html = render_page({**STATUS, "recent_alerts": [alert]}, title="t")
    page = parsed(html)
    assert "script" not in page.tags and "<b>high" not in html
    assert hostile in page.texts and "<b>high</b>" in page.texts and "x<y (email)" in page.texts
    assert str(10**17) in page.texts  # beyond the calendar


def test_every_section_says_when_it_is_empty():
    empty = {**STATUS, "ready": False, "sources": [], "partitions": {}, "dead_letters_by_reason": {}, "recent_alerts": []}
    page = parsed(render_page(empty))
    assert "table" not in page.tags
    assert {"not ready", "no input partition assigned", "no engine running", "none", "no alert since start"} <= set(page.texts)


def test_partitions_and_figures_are_shown():
    page = parsed(render_page(STATUS))
    assert page.tags.count("table") == 3  # inputs, engines, dead letters (no alert yet)
    assert "1970-01-01 00:00:01" in page.texts  # partition 0's watermark, 1000 ms
    assert "0.75" in page.texts and "cold start" in page.texts and "learned" in page.texts

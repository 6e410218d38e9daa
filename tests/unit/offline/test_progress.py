import io

import structlog

from streams.offline import progress
from streams.offline.progress import Progress, tracked


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_bar_with_count_rate_and_eta():
    out = Terminal()
    items = list(tracked(range(5000), "replay", 5000, every=100, stream=out))
    assert items == list(range(5000))
    text = out.getvalue()
    assert "replay" in text and "5000/5000" in text and "/s" in text and "eta" in text


def test_elsewhere_progress_is_logged_with_rate_and_eta_not_drawn(monkeypatch):
    monkeypatch.setattr(progress, "LOG_EVERY_S", 0.0)
    out = io.StringIO()  # not a terminal
    with structlog.testing.capture_logs() as logs:
        with Progress("backfill", 100, stream=out) as p:
            p.update(40)
    assert out.getvalue() == ""
    first, last = logs[0], logs[-1]
    assert first["event"] == "backfill_progress" and first["done"] == 40 and first["total"] == 100
    assert first["per_s"] > 0 and first["eta_s"] is not None and last["done"] == 40
    assert len(logs) == 1  # the end is not logged again when nothing moved since the last line


def test_an_unknown_total_has_no_eta():
    with structlog.testing.capture_logs() as logs:
        list(tracked(iter(range(10)), "evaluate", None, stream=io.StringIO()))
    assert logs[-1]["done"] == 10 and logs[-1]["eta_s"] is None

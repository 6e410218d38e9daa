"""The whole product on a real broker: embedded Tansu, a real worker process, a simulated population."""

import runpy
from pathlib import Path

import jsonschema
import orjson
import pytest

from streams import contracts
from streams.gc_policy import YOUNG_THRESHOLD
from tests.browser import chromium_page
from streams.offline.workers import run_worker_on
from streams.kafka.admin import topic_messages
from streams.offline.evaluation import alert_figures
from streams.offline.simulator import SimConfig, serialise, simulate

pytestmark = pytest.mark.integration


def test_alerts_arrive_validate_and_mostly_name_real_churners(settings_for, tmp_path):
    # The simulated shop loses a fifth of its 400 users in three months, about 100 per partition:
    # its contact budget is sized for that (the default, 0.5 % of the customers a day, would reach
    # fewer than half of the churners in time by design, whatever the scores).
    settings = settings_for("churnguard-e2e", alert_daily_budget_share=0.01)
    cfg = SimConfig(users=400, days=90, seed=21, bad_rate=0.001)
    events, truths = simulate(cfg)
    records = serialise(events, cfg)
    # Downstream reports that some users (churners, who would be alerted) unsubscribed.
    unsubscribed = sorted(t.user_id for t in truths if t.churned)[:15]
    outcomes = [("outreach_outcome", u, events[0]["ts"], orjson.dumps(
        {"schema": "outreach_outcome.v1", "alert_id": "0" * 32, "user_id": u, "status": "unsubscribed",
         "ts": events[0]["ts"], "channel": "email"})) for u in unsubscribed]
    status = run_worker_on(settings, records, tmp_path / "worker.log", timeout_s=600, outcomes=outcomes)
    assert status["returncode"] == 0, (tmp_path / "worker.log").read_text()[-3000:]

    treated = list(topic_messages(settings, settings.topic_alerts))
    held_out = list(topic_messages(settings, settings.topic_holdout))
    alerts = treated + held_out
    schema = contracts.load_schema("outreach_alert")
    alert_schema = jsonschema.Draft202012Validator(schema)
    for alert in alerts:
        alert_schema.validate(alert)
        assert set(alert) <= set(schema["properties"]), "emitted a field the contract does not name"
    assert len({a["alert_id"] for a in alerts}) == len(alerts)
    # The control group is recorded on the holdout topic only.
    assert {a["arm"] for a in treated} == {"treatment"} and {a["arm"] for a in held_out} == {"control"}
    assert 0.03 < len({a["user_id"] for a in held_out}) / len({a["user_id"] for a in alerts}) < 0.25
    # Silent users are rescored as event time passes: most alerts come from day-boundary rescoring.
    assert sum(1 for a in alerts if a["ts"] % 86_400_000 == 0) > len(alerts) / 2

    # Unsubscribed users get nothing, in either arm; their crossings are counted as suppressed.
    assert not {a["user_id"] for a in alerts} & set(unsubscribed)
    counters = {}
    for p in status["partitions"].values():
        for name, value in p["counters"].items():
            counters[name] = counters.get(name, 0) + value
    assert counters["outcome_unsubscribed"] == len(unsubscribed) and counters["suppressed_unsubscribed"] > 0
    assert 'reason="unsubscribed"' in status["metrics"]
    # The worker froze its start-up heap and collects young objects less often (streams/gc_policy.py).
    assert status["gc"]["frozen_objects"] > 10_000 and status["gc"]["thresholds"][0] == YOUNG_THRESHOLD
    assert "python_gc_collections_total{" in status["metrics"] and "process_resident_memory_bytes " in status["metrics"]
    assert "churnguard_winback_share{" in status["metrics"]
    # /metrics is valid Prometheus text; every input partition reports its lag (0: all received),
    # under its topic name and partition number, as /status/ does.
    from prometheus_client.parser import text_string_to_metric_families

    lag = {(s.labels["topic"], s.labels["partition"]): s.value for f in text_string_to_metric_families(status["metrics"])
           for s in f.samples if s.name == "churnguard_consumer_lag_records"}
    assert lag == {(t, str(p)): 0 for t in settings.input_topics for p in range(settings.partitions)}
    by_reason = {s.labels["reason"]: s.value for f in text_string_to_metric_families(status["metrics"])
                 for s in f.samples if s.name == "churnguard_dead_letters_total"}
    assert by_reason and sum(by_reason.values()) == status["dead_letters_sent"] > 0
    assert {(s["topic"], s["partition"]) for s in status["sources"]} == \
        {(t, p) for t in settings.input_topics for p in range(settings.partitions)}
    samples = [s for f in text_string_to_metric_families(status["metrics"]) for s in f.samples]

    def total(name: str, **labels: str) -> float:
        return sum(s.value for s in samples if s.name == name and labels.items() <= s.labels.items())

    assert total("churnguard_events_received_total") == status["received"] == len(records)
    assert {s.labels["topic"] for s in samples if s.name == "churnguard_events_received_total"} == set(settings.input_topics)
    assert total("churnguard_alerts_total", arm="treatment") == len(treated) == status["alerts_sent"]
    assert total("churnguard_alerts_total", arm="control") == len(held_out)
    assert total("churnguard_labels_resolved_total") == sum(p["model_labels"] for p in status["partitions"].values()) > 0
    assert total("churnguard_user_record_bytes_count") >= status["table"]["users"]
    assert total("churnguard_changelog_bytes_total", table="users") == total("churnguard_user_record_bytes_sum")
    assert all(0 <= s.value <= 1 for s in samples if s.name == "churnguard_model_calibration_error")
    assert any(s.name == "churnguard_model_calibration_error" for s in samples)
    check_status_page(status, settings, tmp_path / "status.html", treated + held_out)

    # Model quality is published per partition at event-time day boundaries, valid and progressing.
    quality = list(topic_messages(settings, settings.topic_model_quality))
    quality_schema = jsonschema.Draft202012Validator(contracts.load_schema("model_quality"))
    for doc in quality:
        quality_schema.validate(doc)
    assert {d["partition"] for d in quality} == set(range(settings.partitions))
    latest = {d["partition"]: d for d in sorted(quality, key=lambda d: d["ts"])}
    assert all(d["progressive"]["n"] == d["labels"]["learned"] > 0 for d in latest.values())
    assert "churnguard_model_roc_auc{" in status["metrics"]

    truth = {t.user_id: t.to_dict() for t in truths}
    figures = alert_figures(alerts, truth, settings.label_horizon_ms, ("watch", "high", "critical"))
    alerted, churners = figures["alerted_users"], figures["alerted_users_churned"]
    assert figures["churners_caught_in_time"] > figures["churners"] / 2
    assert alerted >= 30
    assert churners / alerted >= 0.6, f"{churners}/{alerted} alerted users churned"
    # The cold start serves until a partition's model beats it on recent labels (docs/model.md).
    assert "heuristic" in {a["model"]["kind"] for a in alerts} <= {"heuristic", "river_logreg"}

    # The documented consumer example works against what we emit.
    example = runpy.run_path(str(Path(__file__).resolve().parents[2] / "docs/examples/consume_alerts.py"))
    handled = []
    consume = example["consume"]
    assert consume(settings.broker, "downstream", handled.append, idle_timeout_ms=60_000, max_alerts=len(treated)) == len(treated)
    assert sorted(a["alert_id"] for a in handled) == sorted(a["alert_id"] for a in treated)

    # Bad input never stops the worker and is never silently dropped.
    bad = sum(1 for kind, _, _, raw in records if _invalid(kind, raw))
    dead = list(topic_messages(settings, settings.topic_dead_letter))
    dead_schema = jsonschema.Draft202012Validator(contracts.load_schema("dead_letter"))
    for d in dead:
        dead_schema.validate(d)
    assert bad > 0 and len(dead) == bad == status["dead_letters_sent"]
    applied = sum(p["counters"].get("applied", 0) for p in status["partitions"].values())
    buffered = sum(p["buffered"] for p in status["partitions"].values())
    assert applied + buffered + bad == len(records)


def _invalid(kind, raw):
    try:
        contracts.decode_event(kind, raw)
        return False
    except contracts.ContractError:
        return True


def check_status_page(status: dict, settings, html: Path, alerts: list[dict]) -> None:
    """The worker's /status/ page as a browser shows it: ready, every input partition with its lag,
    every engine, the latest alerts first; nothing wider than the window."""
    html.write_text(status["page"])
    with chromium_page(width=900) as page:
        page.goto(html.resolve().as_uri())
        assert page.locator(".state").inner_text() == "ready"
        tables = page.locator("table")
        assert tables.count() == 4  # inputs, engines, dead letters, alerts
        inputs = tables.nth(0).locator("tbody tr")
        assert inputs.count() == len(settings.input_topics) * settings.partitions
        assert {inputs.nth(i).locator("td").nth(4).inner_text() for i in range(inputs.count())} == {"0"}
        assert tables.nth(1).locator("tbody tr").count() == settings.partitions
        shown = tables.nth(3).locator("tbody tr")
        assert shown.count() == min(20, len(alerts))
        assert {shown.nth(i).locator("td").nth(1).inner_text() for i in range(shown.count())} <= {a["user_id"] for a in alerts}
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

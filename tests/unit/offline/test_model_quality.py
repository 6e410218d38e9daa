"""The learned model, judged point in time on a simulated population (a regression guard for the
figures in docs/model.md, at a size CI affords)."""

from dataclasses import replace

from streams.offline.evaluation import activity_index, point_in_time
from streams.offline.runner import OfflineRun
from streams.settings import Settings
from streams.core.events import DAY_MS
from streams.offline.simulator import SimConfig, as_events, simulate


def test_point_in_time_auc_after_warm_up_reaches_0_80_and_the_model_serves_only_when_it_is_better():
    raw, _ = simulate(SimConfig(users=700, days=110, seed=13, bad_rate=0.0))
    events = as_events(raw)
    cut = (events[0].ts // DAY_MS + 80) * DAY_MS
    settings = Settings()
    # 700 users instead of thousands: a partition reaches the production warm-up later, so it starts earlier here.
    cfg = replace(settings.engine_config(), min_labels=1000)
    run = OfflineRun(cfg, cuts=(cut,)).feed(events)
    assert all(e.model.trained for e in run.engines)
    for e in run.engines:  # the model replaces the cold start only while its recent log loss is lower
        assert e.model.ready == (e.model.log_loss["model"] < e.model.log_loss["cold_start"])
    figures = point_in_time(run.scores[cut], activity_index(events), settings.label_horizon_ms)["recently_active"]
    assert figures["churned"] >= 40
    assert figures["roc_auc"] >= 0.80
    assert figures["roc_auc"] >= figures["heuristic_roc_auc"] - 0.01
    progressive = run.progressive()
    assert progressive.n == sum(sum(e.model.labels) for e in run.engines)

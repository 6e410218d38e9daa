from tests.golden import expected_alerts, offline_alerts


def test_the_golden_fixture_gives_exactly_the_expected_alerts():
    expected = expected_alerts()
    assert len(expected) == 13  # one life table for all partitions (the branch): 29 before
    assert offline_alerts() == expected


def test_days_skipped_because_nothing_happened_change_nothing():
    """The worker skips day boundaries at which nobody is due; the evaluation runs every one (it
    observes them). The population's figures are taken at the start of a boundary's work, so both
    give the same alerts."""
    import orjson
    from dataclasses import replace

    from streams.core.events import Event
    from streams.offline.runner import OfflineRun
    from streams.offline.sources import kind_of_file, merged
    from streams.settings import Settings
    from tests.golden import INPUTS, canonical, for_golden

    events = [Event(r.kind, r.event_id, r.user_id, r.ts, orjson.loads(r.value))
              for r in merged([(p, kind_of_file(p)) for p in INPUTS], {}) if r.error is None]
    cfg = replace(for_golden(Settings()).engine_config(), drain_when_idle=True)
    skipping = OfflineRun(cfg)
    for engine in skipping.engines:
        engine.boundary_observers.clear()
    assert canonical(skipping.feed(events).alerts) == canonical(OfflineRun(cfg).feed(events).alerts) == expected_alerts()

"""The idle verdict: quiet and caught up, and a source whose end moves has resumed."""

from streams.core.engine import PartitionEngine, PartitionState
from streams.core.events import INPUT_KINDS
from streams.core.idleness import judge_idle
from streams.settings import Settings
from tests.factories import at, click, purchase, ticket

IDLE_S = 2.0
ALL_UP = {kind: True for kind in INPUT_KINDS}


def test_a_source_is_idle_when_caught_up_and_quiet_since_its_last_record_or_the_last_resume():
    seen = {"click": 9.0, "purchase": 5.0}
    v = judge_idle(10.0, IDLE_S, 0.0, set(), seen, ALL_UP)
    assert (v.idle, v.resumed) == ({"purchase", "support_ticket"}, False)
    v = judge_idle(10.0, IDLE_S, 8.5, set(), seen, ALL_UP)  # a source resumed at 8.5: all prove it afresh
    assert v.idle == set()
    v = judge_idle(10.0, IDLE_S, 0.0, set(), seen, {**ALL_UP, "support_ticket": False})
    assert v.idle == {"purchase"}  # quiet, but records are waiting at the broker


def test_an_idle_source_whose_end_moved_has_resumed_before_its_records_arrive():
    was = set(INPUT_KINDS)
    v = judge_idle(10.0, IDLE_S, 0.0, was, {}, {**ALL_UP, "click": False})
    assert (v.idle, v.resumed) == (set(), True)
    # Nothing moved: still idle. A source not idle before that is not caught up changes nothing.
    assert judge_idle(10.0, IDLE_S, 0.0, was, {}, ALL_UP) == judge_idle(10.0, IDLE_S, 0.0, set(), {}, ALL_UP)
    v = judge_idle(10.0, IDLE_S, 0.0, {"purchase"}, {}, {**ALL_UP, "click": False})
    assert (v.idle, v.resumed) == ({"purchase", "support_ticket"}, False)


def test_a_burst_after_a_quiet_period_makes_no_event_late_whichever_topic_the_worker_sees_move_first():
    """The shell's loop over one partition, as agents/pipeline.py runs it: after a quiet period every
    source is idle; then the clicks' end moves at the broker (the burst's clicks are there), the
    purchases' does not yet. Had the purchases stayed idle, the clicks (days ahead in event time)
    would move the watermark past the purchases sent with them, which then arrive late (6 events
    in a CI run of tests/integration/test_integrity.py)."""
    engine = PartitionEngine(0, Settings().engine_config(), PartitionState(0), {})
    offsets = dict.fromkeys(INPUT_KINDS, 0)

    def offer(kind, event):
        engine.offer(kind, offsets[kind], event, (kind, offsets[kind]), record_ts=event.ts)
        offsets[kind] += 1

    offer("click", click("u1", at(0)))
    offer("purchase", purchase("u2", at(0)))
    offer("support_ticket", ticket("u3", at(0)))
    v = judge_idle(10.0, IDLE_S, 0.0, engine.idle, {kind: 1.0 for kind in INPUT_KINDS}, ALL_UP)
    engine.set_idle(v.idle)
    assert engine.idle == set(INPUT_KINDS)  # the quiet period
    # The burst: the timer runs after the clicks' end moved and before any record arrived.
    v = judge_idle(12.0, IDLE_S, 0.0, engine.idle, {kind: 1.0 for kind in INPUT_KINDS}, {**ALL_UP, "click": False})
    engine.set_idle(set() if v.resumed else v.idle)
    for day in range(1, 10):
        offer("click", click("u1", at(day)))
    for day in range(1, 10):  # the purchases sent with the clicks, a moment later
        offer("purchase", purchase("u2", at(day)))
    out = engine.drain()
    assert out.dead_letters == [] and engine.state.counters.get("late", 0) == 0

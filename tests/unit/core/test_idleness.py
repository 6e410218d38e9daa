"""The idle verdict: quiet and caught up, and a source whose end moves has resumed."""

from hypothesis import given, settings, strategies as st

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


BURST = {"click": [click("u1", at(day, hour)) for day in range(1, 7) for hour in (8, 14, 20)],
         "purchase": [purchase("u2", at(day, 11)) for day in range(1, 7)],
         "support_ticket": [ticket("u3", at(2, 9)), ticket("u3", at(5, 16))]}
STEPS = st.one_of(st.tuples(st.sampled_from(["append", "deliver"]), st.sampled_from(INPUT_KINDS)), st.just(("tick",)))


@settings(max_examples=300, deadline=None)
@given(st.lists(STEPS, max_size=30))
def test_a_burst_whose_records_reach_the_broker_within_the_idle_time_makes_no_event_late_in_any_order(steps):
    """Any order of the burst's records reaching the broker (each topic in its own order), reaching
    the worker, and the timer judging, as agents/pipeline.py does (a record of an idle source
    resumes the partition; the timer judges with judge_idle), all within ``source_idle_s``."""
    engine = PartitionEngine(0, Settings().engine_config(), PartitionState(0), {})
    for kind, event in (("click", click("u1", at(0))), ("purchase", purchase("u2", at(0))),
                        ("support_ticket", ticket("u3", at(0)))):
        engine.offer(kind, 0, event, kind, record_ts=event.ts)
    clock = {"now": 10.0, "resumed": 0.0}
    seen = dict.fromkeys(INPUT_KINDS, 1.0)
    appended, delivered = dict.fromkeys(INPUT_KINDS, 0), dict.fromkeys(INPUT_KINDS, 0)

    def tick():
        caught_up = {kind: delivered[kind] >= appended[kind] for kind in INPUT_KINDS}
        v = judge_idle(clock["now"], IDLE_S, clock["resumed"], engine.idle, seen, caught_up)
        if v.resumed:
            clock["resumed"] = clock["now"]
        engine.set_idle(set() if v.resumed else v.idle)

    def deliver(kind):
        if delivered[kind] < appended[kind]:
            if kind in engine.idle:
                clock["resumed"] = clock["now"]
                engine.set_idle(set())
            event = BURST[kind][delivered[kind]]
            delivered[kind] += 1
            engine.offer(kind, delivered[kind], event, (kind, delivered[kind]), record_ts=event.ts)
            seen[kind] = clock["now"]

    tick()
    assert engine.idle == set(INPUT_KINDS)  # the quiet period
    for step in steps:
        clock["now"] += 0.05
        if step[0] == "tick":
            tick()
        elif step[0] == "append":
            appended[step[1]] = min(appended[step[1]] + 1, len(BURST[step[1]]))
        else:
            deliver(step[1])
    clock["now"] += 0.05
    for kind in INPUT_KINDS:  # the rest of the burst reaches the broker, then the worker
        appended[kind] = len(BURST[kind])
    for kind in INPUT_KINDS:
        while delivered[kind] < appended[kind]:
            deliver(kind)
    assert clock["now"] - 10.0 < IDLE_S
    tick()
    assert engine.drain().dead_letters == [] and engine.state.counters.get("late", 0) == 0

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.reorder import ReorderBuffer
from tests.factories import at, click, purchase


def test_events_leave_in_event_time_then_kind_then_id_order_up_to_the_given_time():
    buf = ReorderBuffer()
    late_click = click("u", at(0, 13), event_id="c2")
    tie_click = click("u", at(0, 12), event_id="c1")
    tie_purchase = purchase("u", at(0, 12), event_id="p9")
    future = click("u", at(1), event_id="c3")
    for i, e in enumerate([late_click, future, tie_click, tie_purchase]):
        buf.push(e, i)
    assert ("u", "c3") in buf and ("v", "c3") not in buf and len(buf) == 4
    released = []
    while (first := buf.first_ts()) is not None and first <= at(0, 13):
        released.append(buf.pop())
    assert [e.event_id for e, _ in released] == ["p9", "c1", "c2"]  # purchases sort before clicks at one instant
    assert [token for _, token in released] == [3, 2, 0]
    assert len(buf) == 1 and ("u", "c2") not in buf and ("u", "c3") in buf


# Arrivals: (minutes after a start, kind, id, user), mostly in order (a partition), some early,
# some late, repeated keys and ids; purges of a user in between.
arrivals = st.lists(st.one_of(
    st.tuples(st.integers(0, 30), st.sampled_from(["click", "purchase"]), st.sampled_from(["a", "b", "c", "d"]),
              st.sampled_from(["u", "v"])),
    st.just("purge"), st.just("pop")), max_size=80)


@settings(max_examples=400, deadline=None)
@given(arrivals, st.booleans())
def test_events_leave_in_the_sort_key_order_then_arrival_whatever_the_arrival_order(steps, drift):
    """The buffer keeps an in-order run and a heap for the rest: what leaves is the order of the
    sort key, ties in arrival order, as one sorted list of everything waiting would give."""
    buf, waiting, now = ReorderBuffer(), [], 0
    for n, step in enumerate(steps):
        if step == "pop":
            if waiting:
                expected = min(waiting, key=lambda w: (w[0].sort_key, w[1]))
                waiting.remove(expected)
                assert buf.first_ts() == expected[0].ts
                assert buf.pop() == expected
            continue
        if step == "purge":
            gone = [w for w in waiting if w[0].user_id == "u"]
            waiting = [w for w in waiting if w[0].user_id != "u"]
            assert buf.purge("u") == [token for _, token in gone]  # in arrival order
            continue
        minutes, kind, event_id, user = step
        now += drift  # a run that moves forward in time, or keys drawn anywhere
        make = click if kind == "click" else purchase
        event = make(user, at(0, 1) + (now + minutes) * 60_000, event_id=f"{kind[0]}{event_id}")
        buf.push(event, n)
        waiting.append((event, n))
        assert len(buf) == len(waiting)
    while waiting:
        expected = min(waiting, key=lambda w: (w[0].sort_key, w[1]))
        waiting.remove(expected)
        assert buf.first_ts() == expected[0].ts and buf.pop() == expected
    assert buf.first_ts() is None and len(buf) == 0

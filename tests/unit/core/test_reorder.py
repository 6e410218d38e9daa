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

"""An erasure request removes everything held for the user and the user id is not processed again."""

from streams.core.engine import PartitionEngine, PartitionState
from streams.core.events import INPUT_KINDS
from streams.kafka.codecs import PartitionStateCodec
from streams.settings import Settings
from tests.factories import at, click

CFG = Settings().engine_config()


def request(uid):
    return {"schema": "erasure_request.v1", "request_id": f"r-{uid}", "user_id": uid, "requested_at": at(9)}


def test_erasure_removes_state_buffer_and_schedule_and_later_events_are_dropped():
    users = {}
    engine = PartitionEngine(0, CFG, PartitionState(0), users)
    engine.set_idle({"purchase", "support_ticket"})
    for day in range(8):
        engine.offer("click", day * 2, click("gone", at(day)), ("gone", day))
        engine.offer("click", day * 2 + 1, click("kept", at(day)), ("kept", day))
    waiting = click("gone", at(8, 11), event_id="waiting")
    engine.offer("click", 16, waiting, "waiting")  # still in the reorder buffer (inside the lateness)
    engine.drain()
    assert "gone" in users and users["gone"].pending and "gone" in engine.due
    engine.offer_erasure(0, request("gone"), "request")
    out = engine.drain()
    assert "gone" not in users and "gone" not in engine.due and ("gone", "waiting") not in engine.buffer
    assert out.erased_users == {"gone"} and "gone" not in out.dirty_users
    assert {"waiting", "request"} <= set(out.settled)
    [audit] = out.erasures
    assert audit["state_removed"] and audit["pending_labels_removed"] > 0 and audit["buffered_events_discarded"] == 1
    engine.offer("click", 17, click("gone", at(9)), "after")  # the user id is not processed again
    engine.offer_outcome(0, {"user_id": "gone", "status": "opened"}, "outcome")
    engine.set_idle(set(INPUT_KINDS))
    out = engine.drain()
    assert "gone" not in users and {"after", "outcome"} <= set(out.settled) and out.dead_letters == []
    assert engine.state.counters["erased_user_events"] == 1 and engine.state.counters["erasures"] == 1
    # After a restart from the partition state, the user is still recognised as erased.
    restored = PartitionStateCodec().loads(PartitionStateCodec().dumps(engine.state))
    again = PartitionEngine(0, CFG, restored, users)
    again.offer("click", 18, click("gone", at(10)), "later")
    assert "gone" not in users and "gone" not in restored.erased  # by hash, not in clear
    assert again.drain().settled == ["later"]

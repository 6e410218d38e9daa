from streams.core.dedupe import ID_HORIZON_MS, MAX_IDS, DuplicateFilter, remember
from streams.core.events import id_hash
from streams.core.features import UserState, apply_event
from tests.factories import HOUR, at, click


def filter_with(applied, ahead=()):
    user = UserState("u", 0)
    for e in applied:
        apply_event(user, e)
        remember(user, e)
    return DuplicateFilter({}, {"u": user}, ahead), user


def test_a_repeated_id_is_a_duplicate_whatever_its_event_time():
    first = click("u", at(0), event_id="e1")
    f, _ = filter_with([first])
    assert f.classify("click", 0, click("u", at(0), event_id="e1"), buffered=False) == "duplicate"
    # Redelivered by the producer with a later timestamp: still the same event.
    assert f.classify("click", 1, click("u", at(0, 15), event_id="e1"), buffered=False) == "duplicate"
    assert f.max_seen_offset == {"click": 1}
    assert f.classify("click", 2, click("u", at(0, 15), event_id="e2"), buffered=False) == ""


def test_two_users_events_never_collide_whatever_their_ids():
    # A grocery export whose line items carry the product barcode as their id.
    f, _ = filter_with([click("u", at(0), event_id="4006381333931")])
    assert f.classify("click", 5, click("someone_else", at(0), event_id="4006381333931"), buffered=False) == ""
    assert f.classify("click", 6, click("someone_else", at(0), event_id="4006381333931"), buffered=True) == "duplicate"


def test_our_own_redelivery_is_told_apart_from_a_producer_duplicate():
    first, second = click("u", at(0), event_id="a"), click("u", at(1), event_id="b")
    f, _ = filter_with([first, second])
    f.classify("click", 9, click("u", at(2)), buffered=False)  # the partition has taken offsets up to 9
    assert f.classify("click", 4, second, buffered=False) == "redelivered"
    # Applied long ago (its id forgotten) but at or before the user's latest event: redelivered.
    assert f.classify("click", 3, click("u", at(0), event_id="forgotten"), buffered=False) == "redelivered"
    # A new offset, an unknown id, before the user's latest event: not a copy (the engine calls it late).
    assert f.classify("click", 10, click("u", at(0), event_id="unknown"), buffered=False) == ""


def test_users_written_ahead_of_the_partition_state_take_their_applied_events_as_redelivered():
    f, _ = filter_with([click("u", at(0)), click("u", at(1))], ahead={"u"})
    assert f.classify("click", 0, click("u", at(0), event_id="other-id"), buffered=False) == "redelivered"


def test_ids_are_remembered_within_the_horizon_and_up_to_the_cap():
    user = UserState("u", 0)
    for i in range(10):
        e = click("u", at(0) + i * HOUR, event_id=f"e{i}")
        apply_event(user, e)
        remember(user, e)
    late = click("u", at(0) + ID_HORIZON_MS + 5 * HOUR, event_id="late")
    apply_event(user, late)
    remember(user, late)
    assert id_hash("e4") not in user.seen_ids and id_hash("e5") in user.seen_ids  # e0-e4 older than a day
    for i in range(2 * MAX_IDS):
        e = click("u", late.ts + i, event_id=f"burst{i}")
        apply_event(user, e)
        remember(user, e)
    assert len(user.seen_ids) == MAX_IDS and id_hash(f"burst{2 * MAX_IDS - 1}") in user.seen_ids

from streams.core.dedupe import DuplicateFilter, users_ahead
from streams.core.features import UserState, apply_event
from tests.factories import at, click


def filter_with(applied, ahead=()):
    user = UserState("u", 0)
    for e in applied:
        apply_event(user, e)
    return DuplicateFilter({}, {"u": user}, ahead), user


def test_an_event_at_or_before_the_users_last_one_is_a_duplicate_given_evidence_of_a_copy():
    first, second = click("u", at(0)), click("u", at(1))
    f, _ = filter_with([first, second])
    assert f.is_duplicate("click", 7, second, buffered=False)  # a new offset, but one of the user's latest ids
    assert f.max_seen_offset == {"click": 7}
    assert f.is_duplicate("click", 3, click("u", at(0), event_id="unknown"), buffered=False)  # an old offset
    # A new offset and an unknown id before the user's last event: not a copy (the engine calls it late).
    assert not f.is_duplicate("click", 8, click("u", at(0), event_id="unknown"), buffered=False)


def test_a_new_event_after_the_users_last_event_is_never_a_duplicate():
    f, _ = filter_with([click("u", at(0))])
    assert not f.is_duplicate("click", 0, click("u", at(1)), buffered=False)
    assert not f.is_duplicate("click", 1, click("someone_new", at(0)), buffered=False)


def test_a_copy_waiting_in_the_buffer_is_a_duplicate():
    f, _ = filter_with([])
    assert f.is_duplicate("click", 5, click("new_user", at(0)), buffered=True)


def test_users_written_ahead_of_the_partition_state_take_their_applied_events_as_duplicates():
    old = click("u", at(0))
    f, user = filter_with([old, click("u", at(1))], ahead={"u"})
    assert f.is_duplicate("click", 0, click("u", at(0), event_id="other-id"), buffered=False)
    user.epoch = 3
    assert users_ahead([user], 2) == {"u"} and users_ahead([user], 3) == set()

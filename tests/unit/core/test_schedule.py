from streams.core.features import UserState
from streams.core.schedule import MAX_RESCORE_INTERVAL_DAYS, first_day_at_or_after, next_due_day, next_rescore_day
from streams.core.events import DAY_MS

H = 30 * DAY_MS


def ladder(last_activity_ts, gap_days, today, until):
    days, day = [], next_rescore_day(last_activity_ts, gap_days, today)
    while day <= until:
        days.append(day)
        day = next_rescore_day(last_activity_ts, gap_days, day)
    return days


def test_rescores_follow_the_silence_to_gap_ratio_not_the_calendar():
    noon_day_0 = DAY_MS // 2
    assert ladder(noon_day_0, 1.0, 0, 44) == [2, 3, 4, 5, 7, 9, 12, 15, 19, 24, 30, 37, 44]
    assert ladder(noon_day_0, 7.0, 0, 44) == [7, 9, 12, 15, 19, 24, 30, 37, 44]


def test_rescores_are_at_most_daily_and_at_least_weekly_within_two_horizons():
    for gap in (1.0, 2.5, 7.0, 40.0):
        days = ladder(0, gap, 0, 60)  # two horizons of 30 days
        steps = [b - a for a, b in zip([0, *days], days)]
        assert min(steps) >= 1 and max(steps) <= MAX_RESCORE_INTERVAL_DAYS


def test_due_day_is_the_earliest_of_label_win_back_and_rescore():
    user = UserState("u")
    assert next_due_day(user, H) == -1
    user.rescore_day = 50
    assert next_due_day(user, H) == 50
    user.pending = [[10 * DAY_MS + 5, 0, []], [12 * DAY_MS, 0, []]]
    assert next_due_day(user, H) == 41  # the first boundary at or after t + H
    user.open_alerts = [[5 * DAY_MS, 1]]
    assert next_due_day(user, H) == 35
    assert first_day_at_or_after(35 * DAY_MS) == 35 and first_day_at_or_after(35 * DAY_MS + 1) == 36


def test_the_due_index_moves_users_between_days_and_is_rebuilt_from_their_states():
    from streams.core.schedule import DueIndex

    user = UserState("u", 0)
    user.rescore_day = 10
    index = DueIndex()
    index.reschedule(user, H)
    assert user.next_due_day == 10 and "u" in index
    user.rescore_day = 12
    index.reschedule(user, H)
    assert index.pop(10) == [] and user.next_due_day == 12
    assert "u" in DueIndex([user])  # after a restart: from the stored next due day
    assert index.pop(12) == ["u"] and "u" not in index


def test_a_silence_of_centuries_costs_hundreds_of_rescores_not_tens_of_thousands():
    """Weekly while the silence is within two horizons or three years (a score is current when at
    most a week old), then every tenth of the silence: 1,000 years of silence (the contracts'
    times span 1970 to 3000) cost about 250 rescores, not 52,000."""
    last = 0
    days, day = [], next_rescore_day(last, 1.0, 0, horizon_days=30)
    while day < 1000 * 365:
        days.append(day)
        day = next_rescore_day(last, 1.0, day, horizon_days=30)
    assert len(days) < 300
    assert all(b - a <= MAX_RESCORE_INTERVAL_DAYS for a, b in zip(days, days[1:]) if b <= 3 * 365)
    assert any(b - a > MAX_RESCORE_INTERVAL_DAYS for a, b in zip(days, days[1:]) if a > 4 * 365)

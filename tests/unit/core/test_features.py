"""Hand-computed examples for each feature family, the lifecycle rules, windows and the state's
size. (Random histories against a brute-force recomputation: test_feature_properties.py.)"""

import math
import struct
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings, strategies as st

from streams.core.catalog import CATALOG, DRIVERS, FEATURE_NAMES, markdown_table
from streams.core.dedupe import MAX_IDS
from streams.core.features import (
    BUCKET_WIDTH, DAY_STRIDE, FEATURE_DECIMALS, KEEP_DAYS, MAX_CATEGORIES, MAX_OPEN_TICKETS, RESOLUTION_MS, RESPONSE_MS, SPEND,
    UserState, apply_event, day_buckets, feature_state_bytes, feature_values, feature_vector, lifecycle_stage, round_feature,
)
from streams.core.events import DAY_MS, id_hash
from tests.factories import (
    at, click, document_before_2026_12_06, document_before_2026_12_07, document_with_day_columns, document_with_float_counts,
    purchase, ticket,
)

MINUTE = 60_000
WORST_CASE_FEATURE_STATE_BYTES = 57_000  # quoted in docs/features.md


def build(events):
    state = UserState("u1", 0)
    for e in events:
        apply_event(state, e)
    return state


def ewma(samples, prior):
    for s in samples:
        prior += 0.3 * (s - prior)
    return prior


def r4(x):
    return round(x, 4)


def test_activity_windows_with_gap_based_sessions():
    t0 = at(0, 10)
    events = [
        click("u1", t0, category="home"),
        click("u1", t0 + 20 * MINUTE, action="like", category="books"),
        click("u1", t0 + 50 * MINUTE, category="home"),  # exactly 30 min after the last click: same session
        click("u1", t0 + 81 * MINUTE, action="error", category="toys"),  # 31 min: a new, one-click session
        click("u1", at(5, 9), category="garden", session="same-client-session"),  # client session ids are not used
        click("u1", at(9, 12), action="search", category="home"),
        click("u1", at(9, 12) + 10 * MINUTE, action="share", category="sports"),
    ]
    f = feature_values(build(events), at(9, 18))
    assert {k: f[f"{k}_1"] for k in ("active_days", "sessions", "pages_per_session", "bounce_rate", "interactions",
                                     "categories", "errors")} == {
        "active_days": 1, "sessions": 1, "pages_per_session": 2, "bounce_rate": 0, "interactions": 1, "categories": 2,
        "errors": 0}
    assert f["log_clicks_1"] == r4(math.log1p(2))
    # 7 days = days 3..9: the day-5 bounce and the day-9 session
    assert (f["active_days_7"], f["sessions_7"], f["pages_per_session_7"], f["bounce_rate_7"], f["categories_7"]) == (2, 2, 1.5, 0.5, 3)
    # 30 and 90 days: everything; 4 sessions, 2 of them single clicks, 5 categories
    for w in (30, 90):
        assert (f[f"active_days_{w}"], f[f"sessions_{w}"], f[f"pages_per_session_{w}"], f[f"bounce_rate_{w}"]) == (3, 4, 1.75, 0.5)
        assert (f[f"interactions_{w}"], f[f"categories_{w}"], f[f"errors_{w}"]) == (2, 5, 1)
        assert f[f"log_clicks_{w}"] == r4(math.log1p(7))


def test_recency_against_the_users_own_rhythm():
    events = [click("u1", at(0, 10)), click("u1", at(0, 11.5)), click("u1", at(4, 10)),
              purchase("u1", at(4, 11)), purchase("u1", at(24, 11)), click("u1", at(30, 8))]
    f = feature_values(build(events), at(33, 20))
    assert f["recency_days"] == r4(3.5)
    assert f["typical_gap_days"] == r4(ewma([4, 20, 6], 3.0))  # active days 0, 4, 24, 30
    assert f["recency_ratio"] == r4(3.5 / ewma([4, 20, 6], 3.0))
    starts = [at(0, 10), at(0, 11.5), at(4, 10), at(30, 8)]  # the 11:30 click is 90 min after 10:00: a session
    session_gap = ewma([(b - a) / DAY_MS for a, b in zip(starts, starts[1:])], 3.0)
    assert f["days_since_session"] == r4(3.5) and f["typical_session_gap_days"] == r4(session_gap)
    assert f["session_recency_ratio"] == r4(3.5 / session_gap)
    assert f["days_since_purchase"] == r4(9 + 9 / 24) and f["typical_purchase_gap_days"] == r4(ewma([20], 14.0))
    assert f["purchase_recency_ratio"] == r4((9 + 9 / 24) / ewma([20], 14.0))
    # Nothing to be recent about: 90 days, and the floor of 0.5 days under a typical gap.
    f = feature_values(build([ticket("u1", at(0))]), at(1))
    assert (f["recency_days"], f["days_since_session"], f["days_since_purchase"]) == (90, 90, 90)


def test_purchases_over_30_and_90_days_and_lifetime():
    events = [
        purchase("u1", at(0), amount=100.0, discount=10.0), purchase("u1", at(50), amount=40.0),
        purchase("u1", at(70), amount=60.0, discount=5.0), purchase("u1", at(75), status="refunded"),
        purchase("u1", at(100), amount=20.0), purchase("u1", at(110), status="cancelled"),
    ]
    f = feature_values(build(events), at(110, 20))
    # 30 days = days 81..110; 90 days = days 21..110; day 0 only in the lifetime totals.
    assert (f["purchases_30"], f["aov_30"], f["discount_share_30"], f["refunds_30"]) == (1, 20, 0, 1)
    assert (f["purchases_90"], f["aov_90"], f["discount_share_90"], f["refunds_90"]) == (3, 40, r4(1 / 3), 2)
    assert (f["log_spend_30"], f["log_spend_90"]) == (r4(math.log1p(20)), r4(math.log1p(120)))
    assert (f["lifetime_purchases"], f["log_lifetime_spend"], f["lifetime_refunds"]) == (4, r4(math.log1p(220)), 2)
    assert f["spend_trend_7"] == r4(math.log(1 / 21))  # nothing in days 104..110, 20 in days 97..103
    assert f["spend_trend_30"] == r4(math.log(21 / 61))  # 20 in days 81..110, 60 in days 51..80
    assert f["days_since_purchase"] == r4(10 + 8 / 24)


def test_the_lines_of_an_order_count_as_one_order():
    """Exports of order lines (a grocery receipt, an invoice) give one record per line under the
    order's id: one order with every line's amount, whose typical gap is not the 0 between its lines."""
    lines = [purchase("u1", at(d), amount=a, discount=disc, order_id=f"basket-{d}")
             for d, a, disc in ((0, 10.0, 0.0), (0, 5.0, 2.0), (0, 1.0, 1.0), (10, 4.0, 0.0), (10, 6.0, 0.0))]
    later_same_id = purchase("u1", at(20), amount=7.0, order_id="basket-10")  # another day: an order of its own
    f = feature_values(build([*lines, later_same_id]), at(20, 20))
    assert (f["lifetime_purchases"], f["log_lifetime_spend"]) == (3, r4(math.log1p(33)))
    assert (f["purchases_30"], f["aov_30"], f["discount_share_30"]) == (3, 11, r4(1 / 3))
    assert f["typical_purchase_gap_days"] == r4(ewma([10, 10], 14))  # the prior: DEFAULT_PURCHASE_GAP_DAYS


def test_lines_of_two_orders_may_arrive_interleaved():
    """Two invoices of one customer in the same minute: their lines, sorted by event id, interleave."""
    t = at(3)
    lines = [purchase("u1", t, amount=1.0, order_id=order) for order in ("A", "B", "A", "B", "A")]
    f = feature_values(build(lines), at(3, 2))
    assert (f["lifetime_purchases"], f["purchases_30"], f["aov_30"]) == (2, 2, 2.5)


def test_support_tickets_response_resolution_and_satisfaction():
    events = [
        ticket("u1", at(0, 8), "opened", "t1", category="complaint"),
        ticket("u1", at(0, 10), "responded", "t1"),  # first response after 2 h
        ticket("u1", at(0, 11), "responded", "t1"),  # not a first response
        ticket("u1", at(1, 8), "resolved", "t1"),  # resolved after 24 h
        ticket("u1", at(1, 9), "closed", "t1", csat=2),  # already resolved: only its score counts
        ticket("u1", at(2, 8), "opened", "t2", category="billing"),
        ticket("u1", at(3, 8), "reopened", "t1"),  # a new episode from here
        ticket("u1", at(3, 20), "responded", "t1"),  # 12 h
        ticket("u1", at(4, 8), "opened", "t3", category="question"),
        ticket("u1", at(5, 8), "closed", "t1", csat=4),  # 48 h after the reopening
    ]
    f = feature_values(build(events), at(6, 8))
    assert (f["tickets_7"], f["tickets_30"], f["tickets_90"], f["reopened_90"]) == (3, 3, 3, 1)
    assert (f["open_tickets"], f["oldest_open_ticket_days"]) == (2, 4)  # t2 since day 2, t3 since day 4
    assert (f["first_response_hours_90"], f["resolution_hours_90"]) == (7, 36)
    assert [f[f"{c}_tickets_90"] for c in ("complaint", "billing", "technical", "cancellation")] == [1, 1, 0, 0]
    assert (f["last_csat"], f["mean_csat"], f["low_csat"]) == (4, 3, 0)
    f = feature_values(build(events[:5]), at(1, 12))
    assert (f["last_csat"], f["low_csat"], f["open_tickets"], f["oldest_open_ticket_days"]) == (2, 1, 0, 0)
    f = feature_values(build(events), at(10, 12))
    assert (f["tickets_7"], f["tickets_30"]) == (1, 3)  # days 4..10 hold only t3's opening
    assert f["recency_days"] == 90  # tickets are not activity


def test_click_trends_against_the_previous_period():
    events = [click("u1", at(d)) for d in (1, 2, 3, 40, 41, 50, 55, 56, 57)]
    f = feature_values(build(events), at(57, 18))
    assert f["click_trend_7"] == r4(math.log((3 + 1) / (1 + 1)))  # days 51..57: 3; days 44..50: 1
    assert f["click_trend_30"] == r4(math.log((6 + 1) / (3 + 1)))  # days 28..57: 6; days -2..27: 3
    f = feature_values(build(events), at(61, 18))
    assert f["click_trend_30"] == r4(math.log((6 + 1) / (2 + 1)))  # days 32..61: 6; days 2..31: 2


@pytest.mark.parametrize("tenure, recency, active_30, prior_30, stage", [
    (100, 30, 0, 10, "dormant"), (5, 40, 0, 0, "dormant"),
    (13.9, 0.5, 5, 0, "new"),
    (100, 1, 4, 9, "declining"), (20, 1, 1, 3, "declining"),
    (59, 1, 10, 10, "growth"), (100, 1, 10, 5, "growth"),
    (100, 1, 10, 6, "active"), (100, 1, 5, 10, "active"),
])
def test_lifecycle_rules(tenure, recency, active_30, prior_30, stage):
    assert lifecycle_stage(tenure, recency, active_30, prior_30) == stage


def stage_of(days_active, t):
    f = feature_values(build([click("u1", at(d)) for d in days_active]), t)
    (stage,) = [n for n in ("new", "growth", "active", "declining", "dormant") if f[f"stage_{n}"]]
    return stage


def test_lifecycle_stage_of_real_histories():
    assert stage_of(range(10), at(10)) == "new"
    assert stage_of(range(41), at(40, 18)) == "growth"  # 40 days old
    assert stage_of(range(100), at(99, 18)) == "active"
    # daily until day 59, then every 5th day: 6 active days in days 70..99 against 22 in days 40..69
    assert stage_of([*range(60), *range(60, 100, 5)], at(99, 18)) == "declining"
    assert stage_of(range(60), at(90)) == "dormant"


def test_windows_slide_and_memory_is_bounded():
    state = build([click("u1", at(day)) for day in range(200)])
    assert len(day_buckets(state)) == KEEP_DAYS and len(state.days) == KEEP_DAYS * DAY_STRIDE
    f = feature_values(state, at(199, 23))
    assert f["active_days_30"] == 30 and f["active_days_7"] == 7 and f["active_days_1"] == 1
    assert feature_values(state, at(199 + 40))["active_days_30"] == 0


def test_the_90_day_window_keeps_old_buckets_exactly_long_enough():
    daily = [click("u1", at(d)) for d in range(1, 89)]
    state = build([purchase("u1", at(0), amount=40.0), *daily, purchase("u1", at(89), amount=2.0)])
    assert feature_values(state, at(89))["log_spend_90"] == r4(math.log1p(42.0))  # days 0..89, 90 buckets
    assert feature_values(state, at(90))["log_spend_90"] == r4(math.log1p(2.0))  # day 0 left the window


def test_tracked_tickets_and_categories_are_capped():
    opened = [ticket("u1", at(0, 1 + i / 4), "opened", f"t{i}") for i in range(MAX_OPEN_TICKETS + 3)]
    state = build(opened)
    assert feature_values(state, at(1))["open_tickets"] == MAX_OPEN_TICKETS
    assert [t[0] for t in state.open_tickets][0] == "t3"  # the oldest ones are no longer tracked
    browsed = [click("u1", at(d), category=f"c{d}") for d in range(MAX_CATEGORIES + 4)]
    state = build(browsed)
    f = feature_values(state, at(MAX_CATEGORIES + 3, 18))
    assert (f["categories_90"], f["categories_7"], f["categories_1"]) == (MAX_CATEGORIES, 7, 1)
    assert len(state.categories) == MAX_CATEGORIES and "c0" not in state.categories


def test_state_round_trips_through_its_changelog_form():
    state = build([click("u1", at(0), action="like"), purchase("u1", at(1), amount=12.34, discount=1.0),
                   ticket("u1", at(2), csat=2), ticket("u1", at(2, 13), "responded"),
                   purchase("u1", at(3), status="refunded")])
    doc = orjson.loads(orjson.dumps(state.to_dict()))
    assert UserState.from_dict(doc) == state
    # Counts are ints (JSON writes them faster), amounts and durations floats, also once read back.
    assert all(type(v) is (float if i in (SPEND, RESPONSE_MS, RESOLUTION_MS) else int)
               for b in day_buckets(UserState.from_dict(doc)).values() for i, v in enumerate(b))
    assert doc["dy"][::DAY_STRIDE] == [at(d) // DAY_MS for d in range(4)]  # each day's number, then its bucket
    assert doc["dy"][1:6] == [1, 1, 1, 0, 1]  # 1 click, 1 session, 1 interaction, 0 errors, 1 bounce
    assert len(doc["dy"]) == 4 * (1 + BUCKET_WIDTH)  # whole: the codec compresses the zeros
    # Documents written until 2026-12-07 (afternoon: day numbers and buckets in two lists), before
    # 2026-12-07 (rows of [day, *bucket]), before 2026-12-06 (rows without their trailing zeros,
    # whole numbers as ints) and until 2026-12-07 (morning: every count a float): read the same,
    # their counts as ints (the feature vector reads them as such).
    columns = document_with_day_columns(doc)
    rows, trimmed = document_before_2026_12_07(doc), document_before_2026_12_06(doc)
    assert columns["dd"] == doc["dy"][::DAY_STRIDE] and columns["db"][0] == doc["dy"][1:DAY_STRIDE]
    assert rows["d"][0] == doc["dy"][:DAY_STRIDE]
    assert trimmed["d"][0][1:] == [1, 1, 1, 0, 1]
    for old in (columns, rows, trimmed, document_with_float_counts(doc)):
        back = UserState.from_dict(old)
        assert back == state and feature_vector(back, at(4)) == feature_vector(state, at(4))
        assert all(type(v) is (float if i in (SPEND, RESPONSE_MS, RESOLUTION_MS) else int)
                   for b in day_buckets(back).values() for i, v in enumerate(b))
    # Sums of many large amounts: a whole-numbered spend past 64-bit integers stays a float (an
    # amount given as a JSON integer is summed as a float from the start).
    assert type(day_buckets(build([purchase("u1", at(0), amount=10**12)]))[at(0) // DAY_MS][SPEND]) is float
    huge = build([purchase("u1", at(0), amount=1e12)])
    huge.lifetime_spend = huge.days[1 + SPEND] = 1e20  # its one day's spend
    assert UserState.from_dict(orjson.loads(orjson.dumps(huge.to_dict()))) == huge


def test_users_share_one_object_per_day_number():
    """A vector reads every kept day's number: one int object per day, shared by all users (and by
    states read back from the changelog), not one per user and day (a cache miss each)."""
    first = build([click("u1", at(0), category="shoes"), click("u1", at(1))])
    second = build([click("u2", at(1), category="shoes"), click("u2", at(0))])  # days out of order too
    restored = UserState.from_dict(orjson.loads(orjson.dumps(first.to_dict())))
    for day in range(2):
        number = first.days[day * DAY_STRIDE]
        assert number == at(day) // DAY_MS
        assert second.days[day * DAY_STRIDE] is number and restored.days[day * DAY_STRIDE] is number
    assert second.categories["shoes"] is first.days[DAY_STRIDE]
    assert feature_vector(restored, at(2)) == feature_vector(first, at(2))


def test_worst_case_feature_state_stays_under_the_documented_bound():
    """Every bucket full of 20-digit numbers, every capped list full of 128-character ids: the bound
    docs/features.md quotes."""
    long = "x" * 125
    state = UserState(long, 0)
    big = 1.2345678901234567e300  # the longest number JSON needs for a float
    state.days = [v for d in range(KEEP_DAYS) for v in (20_000 + d, *[big] * BUCKET_WIDTH)]
    state.categories = {f"{long}{i:03}": 20_000 + i for i in range(MAX_CATEGORIES)}
    state.open_tickets = [[f"{long}{i:03}", 1_767_225_600_000, 1] for i in range(MAX_OPEN_TICKETS)]
    state.seen_ids = {id_hash(f"{long}{i:03}"): 1_767_225_600_000 + i for i in range(MAX_IDS)}
    state.last_key = (1_767_225_600_000, 2, long)
    for name in ("first_ts", "last_activity_ts", "last_click_ts", "session_start_ts", "last_purchase_ts"):
        setattr(state, name, 1_767_225_600_000)
    state.lifetime_spend, state.events_applied = big, 10**12
    assert feature_state_bytes(state) <= WORST_CASE_FEATURE_STATE_BYTES


def test_catalog_names_each_feature_once_and_docs_list_them_all():
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
    assert all(f.driver in DRIVERS and f.reason_text and f.meaning for f in CATALOG)
    assert list(feature_values(UserState("u1"), at(0))) == list(FEATURE_NAMES)
    docs = (Path(__file__).parents[3] / "docs" / "features.md").read_text()
    assert markdown_table() in docs, "docs/features.md is stale: paste `python -m streams.core.catalog`"


def test_days_are_kept_in_day_order_whatever_order_they_come_in():
    """The vector sums the kept days in their order, which is day order: a document whose days
    are out of order (the day columns of before 2026-12-07 came from a dictionary) reads back
    sorted, and a day earlier than the newest (the engine applies none) is put in its place. The
    same floats, amounts included."""
    events = [purchase("u1", at(d, 1 + d % 5), amount=0.1 * (d + 1) + 1 / 3) for d in range(0, 95, 2)]
    events += [click("u1", at(d, 3)) for d in range(95)]
    state = build(sorted(events, key=lambda e: e.sort_key))
    columns = document_with_day_columns(state.to_dict())
    shuffled = sorted(zip(columns["dd"], columns["db"]), key=lambda day: (day[0] * 7919) % 101)
    assert [day for day, _ in shuffled] != columns["dd"]
    back = UserState.from_dict(columns | {"dd": [day for day, _ in shuffled], "db": [b for _, b in shuffled]})
    assert back == state
    for day in (94, 95, 120):
        assert feature_vector(back, at(day)) == feature_vector(state, at(day))
    late = build([click("u1", at(d)) for d in (1, 5, 9)] + [purchase("u1", at(3), amount=2.5), click("u1", at(0))])
    assert late.days[::DAY_STRIDE] == [at(d) // DAY_MS for d in (0, 1, 3, 5, 9)]
    assert day_buckets(late)[at(3) // DAY_MS][SPEND] == 2.5
    # A bucket after t (the caller promises none) counts for nothing.
    until_60 = UserState.from_dict(state.to_dict())
    until_60.days = [v for d, b in day_buckets(state).items() if d <= at(60) // DAY_MS for v in (d, *b)]
    assert len(until_60.days) < len(state.days) and feature_vector(state, at(60)) == feature_vector(until_60, at(60))


def test_a_long_silent_user_takes_the_short_path_to_the_same_features():
    from streams.core.features import _windowed_values, compact

    state = UserState("u")
    for day in range(20):
        apply_event(state, click("u", at(day)))
    apply_event(state, purchase("u", at(21), amount=40.0))
    for later in (120, 400):
        t = at(later)
        compact(state, t)
        assert state.days == []  # nothing a window can use is kept
        assert feature_values(state, t) == _windowed_values(state, t)


@settings(max_examples=3000, deadline=None)
@given(st.one_of(st.floats(), st.floats(-1e6, 1e6), st.integers(-10**9, 10**9).map(lambda n: n / 20_000),
                 st.integers(-10**9, 10**9).map(lambda n: (n + 0.5) / 10_000)))
def test_round_feature_is_round_to_four_decimals_to_the_bit(value):
    # Halves, near-halves, tiny values of either sign, NaN and infinities included.
    assert struct.pack("<d", round_feature(value)) == struct.pack("<d", round(value, FEATURE_DECIMALS))


def test_round_feature_at_the_edges_of_its_short_path():
    for value in (0.00005, -0.00005, 0.000049, -0.000049, 1.00005, 2.67345, 99999.99995, -99999.99995, 1e5, 1e5 + 0.12345,
                  -0.0, 0.0, 5e-324, math.inf, -math.inf, math.nan, 12345.6789499999, 0.1 + 0.2):
        assert struct.pack("<d", round_feature(value)) == struct.pack("<d", round(value, FEATURE_DECIMALS)), value


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 400), min_size=1, max_size=250) | st.lists(st.integers(0, 400), min_size=120, max_size=250))
def test_kept_days_stay_sorted_and_counted_whatever_order_the_days_come_in(order):
    """An unsorted export applied as it comes (the engine sorts; apply_event alone does not): each
    click lands in its own day's bucket, the kept days stay in day order, and a new day drops the
    days more than 90 before it once more than 90 are kept, as a dictionary of days did."""
    state, reference = UserState("u1", 0), {}
    for n, day in enumerate(order):
        apply_event(state, click("u1", at(day, 1 + (n % 20) / 2)))
        if day not in reference and len(reference) >= KEEP_DAYS:
            reference = {d: c for d, c in reference.items() if d > day - KEEP_DAYS}
        reference[day] = reference.get(day, 0) + 1
        numbers = state.days[::DAY_STRIDE]
        assert numbers == sorted(numbers) and len(state.days) == len(numbers) * DAY_STRIDE
        assert {d - at(0) // DAY_MS: b[0] for d, b in day_buckets(state).items()} == reference

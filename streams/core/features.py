"""Per-user windowed state and the feature vector it yields, in event time, with bounded memory.

State is at most ``KEEP_DAYS`` daily buckets of counters plus a few scalars and capped lists, so
its size does not grow with the number of events (docs/features.md has the byte budget). Every
feature is a plain function of the user's own events in the order they are applied; the caller
applies them in event-time order without duplicates (streams/core/engine.py). Names, units and
windows: streams/core/catalog.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Final, cast

import orjson

from streams.core.catalog import ACTIVITY_WINDOWS, CATALOG, FEATURE_NAMES, LIFECYCLE_STAGES
from streams.core.events import Event, id_hash
from streams.core.events import DAY_MS

KEEP_DAYS: Final = 90  # the longest window
MAX_OPEN_TICKETS: Final = 16
MAX_CATEGORIES: Final = 16
SESSION_GAP_MS: Final = 30 * 60_000  # a click more than 30 minutes after the previous one starts a session
DEFAULT_GAP_DAYS: Final = 3.0
DEFAULT_PURCHASE_GAP_DAYS: Final = 14.0
GAP_EWMA_ALPHA: Final = 0.3
MIN_GAP_DAYS: Final = 0.5  # floor of a typical gap in the recency ratios
NO_EVENT_DAYS: Final = 90.0  # a recency when there is nothing to be recent about
TENURE_NEW_DAYS: Final = 14
TENURE_GROWTH_DAYS: Final = 60
DORMANT_DAYS: Final = 30
FEATURE_DECIMALS: Final = 4  # features are rounded: stable across summation order, compact in snapshots

# A day's bucket: its slots, commonest first.
CLICKS: Final = 0
SESSIONS: Final = 1
INTERACTIONS: Final = 2
ERRORS: Final = 3
BOUNCES: Final = 4
PURCHASES: Final = 5
SPEND: Final = 6
DISCOUNTED: Final = 7
REFUNDS: Final = 8
TICKETS_OPENED: Final = 9
COMPLAINT: Final = 10
BILLING: Final = 11
TECHNICAL: Final = 12
CANCELLATION: Final = 13
REOPENED: Final = 14
RESPONSES: Final = 15
RESPONSE_MS: Final = 16
RESOLUTIONS: Final = 17
RESOLUTION_MS: Final = 18
BUCKET_WIDTH: Final = 19
DAY_STRIDE: Final = BUCKET_WIDTH + 1  # a kept day in UserState.days: its number, then its bucket
INTERACTION_ACTIONS: Final = frozenset({"like", "comment", "share", "favourite", "review", "add_to_cart"})
ERROR_ACTIONS: Final = frozenset({"error", "slow_page"})
TICKET_CATEGORY_SLOTS = {"complaint": COMPLAINT, "billing": BILLING, "technical": TECHNICAL,
                         "cancellation": CANCELLATION}
# A new day's bucket: counts as ints, amounts and durations as floats. Counts are whole and far
# below 2**53, so every sum of them is the same float either way; as ints JSON writes them about
# three times faster (the changelog writes every dirty user's buckets at every flush) and small
# ones are shared objects, not 24 bytes each. Amounts and durations stay floats: sums of whole
# ones must not outgrow a 64-bit JSON integer.
_AMOUNT_SLOTS: Final = (SPEND, RESPONSE_MS, RESOLUTION_MS)
_NEW_BUCKET: list[float] = [0.0 if slot in _AMOUNT_SLOTS else 0 for slot in range(BUCKET_WIDTH)]
# One int object per day number, shared by every user's kept days: a vector reads the number of
# each kept day, and 90 days x every user of separate objects (day numbers are beyond the small
# ints Python shares) were a cache miss each. Values only: sharing changes no feature.
_DAY_NUMBERS: dict[int, Any] = {}
_MAX_DAY_NUMBERS: Final = 4096  # a replay spanning more days starts sharing anew


def _shared_day(day: int) -> Any:
    shared = _DAY_NUMBERS.get(day)
    if shared is None:
        if len(_DAY_NUMBERS) >= _MAX_DAY_NUMBERS:
            _DAY_NUMBERS.clear()
        shared = day  # boxed once: the object stored is the object returned
        _DAY_NUMBERS[day] = shared
    return shared



@dataclass(slots=True)
class UserState:
    user_id: str
    partition: int = -1
    first_ts: int = -1
    # recency and rhythm
    last_activity_ts: int = -1
    last_active_day: int = -1
    gap_ewma_days: float = DEFAULT_GAP_DAYS
    last_click_ts: int = -1
    session_start_ts: int = -1
    session_single: bool = False  # the current session has one click so far (a bounce unless another comes)
    session_gap_ewma_days: float = DEFAULT_GAP_DAYS
    last_purchase_ts: int = -1
    # Orders counted on the day of the latest completed purchase: 64-bit hash of the order_id -> 1
    # if counted as discounted. An export of order lines gives one record per line under the
    # order's id: the records of one order_id on one day are one order (its first line's time;
    # every line's amount), in whatever order its lines and other orders' lines arrive.
    orders_day: int = -1
    day_orders: dict[str, int] = field(default_factory=dict)
    purchase_gap_ewma_days: float = DEFAULT_PURCHASE_GAP_DAYS
    # lifetime totals
    lifetime_purchases: int = 0
    lifetime_spend: float = 0.0
    lifetime_refunds: int = 0
    last_csat: int = 0
    csat_sum: int = 0
    csat_count: int = 0
    # The kept days in day order, flat: each day's number, then its bucket (BUCKET_WIDTH counters:
    # see _NEW_BUCKET). One list, not a list per day: a vector reads every kept day of a user the
    # engine has not touched since yesterday, and one array is a few cache lines where a dict of
    # lists was a header and an item array per day.
    days: list[float] = field(default_factory=list)
    categories: dict[str, int] = field(default_factory=dict)  # category -> last day seen (MAX_CATEGORIES latest)
    open_tickets: list[list[Any]] = field(default_factory=list)  # [ticket_id, (re)opened at, responded 0/1]
    # Ordering and dedupe: the sort key of the last applied event; hashed ids of recent ones -> ts
    # (streams/core/dedupe.py).
    last_key: tuple[int, int, str] = (-1, -1, "")
    seen_ids: dict[str, int] = field(default_factory=dict)
    events_applied: int = 0
    # Labelling and alerting state (streams/core/labels.py, streams/core/alerts.py, streams/core/engine.py).
    pending: list[list[Any]] = field(default_factory=list)
    released: list[list[Any]] = field(default_factory=list)  # labels released, until their flush completes
    last_snapshot_day: int = -1
    next_due_day: int = -1  # the day boundary at which the engine next visits this user (-1: none)
    rescore_day: int = -1  # the day boundary at which a silent user is next rescored (streams/core/schedule.py)
    tier: int = 0  # index into the settings' tiers + 1; 0 = below every tier
    alert_times: list[int] = field(default_factory=list)  # event times of the latest alerts
    open_alerts: list[list[int]] = field(default_factory=list)  # [ts, level] awaiting their win-back verdict
    unsubscribed: bool = False  # set by an 'unsubscribed' outcome: no further alerts
    epoch: int = 0  # the partition flush that last wrote this state (see engine.PartitionEngine)
    # The population's rhythm (streams/core/rhythm.py): active days so far, how much of the current
    # silence the return table has been given (its covariates, and its exposure unless it counts the
    # silence itself), and whether it counts it itself (silences longer than two horizons).
    active_days_total: int = 0
    exposed_silence: int = 0
    silence_in_table: bool = False
    journal: list[list[Any]] = field(default_factory=list)  # partition-level steps until their flush completes (streams/core/journal.py)
    attributes: dict[str, str] = field(default_factory=dict)  # the latest 'attributes' of the user's events
    risk_bin: int = -1  # the user's current risk in the partition's population histogram (streams/core/alerts.py)

    def to_dict(self) -> dict[str, Any]:
        # Day buckets go whole, as they are: the record is compressed (streams/kafka/codecs.py),
        # which takes their zeros for almost nothing, while trimming them in Python cost 2 us per
        # day at every flush. The document shares the state's lists (days, pending snapshots, ...):
        # serialise it before the state changes.
        return {
            "u": self.user_id, "pt": self.partition, "f": self.first_ts,
            "la": self.last_activity_ts, "lad": self.last_active_day, "g": self.gap_ewma_days,
            "lc": self.last_click_ts, "ss": self.session_start_ts, "s1": self.session_single,
            "sg": self.session_gap_ewma_days, "lp": self.last_purchase_ts, "od": self.orders_day, "do": self.day_orders, "pg": self.purchase_gap_ewma_days,
            "np": self.lifetime_purchases, "sp": self.lifetime_spend, "nr": self.lifetime_refunds,
            "cs": self.last_csat, "css": self.csat_sum, "csn": self.csat_count,
            "dy": self.days, "c": self.categories, "ot": self.open_tickets,
            "lk": list(self.last_key), "si": self.seen_ids, "n": self.events_applied, "p": self.pending,
            "rl": self.released,
            "lsd": self.last_snapshot_day, "nd": self.next_due_day, "rd": self.rescore_day, "t": self.tier,
            "at": self.alert_times, "oa": self.open_alerts, "un": self.unsubscribed, "ep": self.epoch,
            "ad": self.active_days_total, "xs": self.exposed_silence, "st": self.silence_in_table, "j": self.journal, "a": self.attributes, "rb": self.risk_bin,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "UserState":
        return cls(
            user_id=d["u"], partition=d["pt"], first_ts=d["f"],
            last_activity_ts=d["la"], last_active_day=d["lad"], gap_ewma_days=d["g"],
            last_click_ts=d["lc"], session_start_ts=d["ss"], session_single=d["s1"],
            session_gap_ewma_days=d["sg"], last_purchase_ts=d["lp"], orders_day=d.get("od", -1), day_orders=d.get("do", {}),
            purchase_gap_ewma_days=d["pg"],
            lifetime_purchases=d["np"], lifetime_spend=d["sp"], lifetime_refunds=d["nr"],
            # ints: a release before 2026-12-07 kept a CSAT sent as 4.0 as a float, which the
            # compiled class refuses (setup.py)
            last_csat=int(d["cs"]), csat_sum=int(d["css"]), csat_count=d["csn"],
            days=_days(d), categories=d["c"], open_tickets=d["ot"],
            last_key=tuple(d["lk"]), seen_ids=d["si"], events_applied=d["n"], pending=d["p"],  # type: ignore[arg-type]
            released=d.get("rl", []),
            last_snapshot_day=d["lsd"], next_due_day=d["nd"], rescore_day=d["rd"], tier=d["t"],
            alert_times=d["at"], open_alerts=d["oa"], unsubscribed=d["un"], epoch=d["ep"],
            active_days_total=d.get("ad", 0), exposed_silence=d.get("xs", 0), silence_in_table=d.get("st", False), journal=d.get("j", []),
            attributes=d.get("a", {}),
            risk_bin=d.get("rb", -1),
        )


LABEL_AND_ALERT_KEYS: Final = frozenset({"p", "rl", "lsd", "nd", "rd", "t", "at", "oa", "un", "ep", "xs", "st", "j", "rb"})
MAX_ATTRIBUTES: Final = 16
MAX_DAY_ORDERS: Final = 64  # orders remembered per day for their lines (a later line of an older one counts anew)


def compact(state: UserState, t: int) -> None:
    """Drop what no feature at t or later can use: day buckets older than the longest window. A
    long-silent user shrinks to scalars (what scoring needs)."""
    _drop_days_through(state.days, t // DAY_MS - KEEP_DAYS)


def _drop_days_through(days: list[float], last: int) -> None:
    """Drop the kept days numbered ``last`` or less (the oldest: days are kept in order)."""
    numbers = cast("list[int]", days)  # day numbers and counts are ints (UserState.from_dict)
    end = 0
    while end < len(days) and numbers[end] <= last:
        end += DAY_STRIDE
    if end:
        del days[:end]


def feature_state_bytes(state: UserState) -> int:
    """Bytes of the feature store's part of a user's document (without labels and alerts), before
    the changelog's compression."""
    return len(orjson.dumps({k: v for k, v in state.to_dict().items() if k not in LABEL_AND_ALERT_KEYS}))


def compact_numbers(values: list[float]) -> list[float]:
    """Whole numbers as ints, so JSON writes ``3`` instead of ``3.0``; only those a 64-bit JSON
    integer holds exactly (the contract sets no maximum amount)."""
    return [int(v) if v.is_integer() and abs(v) < 2**53 else v for v in values]


def _days(d: dict[str, Any]) -> list[float]:
    """A document's kept days (UserState.days), their numbers and counts as ints (features read
    them as such: _Sums)."""
    if "dy" in d:
        kept = cast("list[Any]", d["dy"])
        for at in range(0, len(kept), DAY_STRIDE):
            kept[at] = _shared_day(kept[at])
        return cast("list[float]", kept)
    # Until 2026-12-07 (afternoon) the day numbers were a list under "dd" and their buckets another
    # under "db" (until that morning with every count a float); before, rows of [day, *bucket]
    # under "d", and before 2026-12-06 without their trailing zeros. Sorted: a dictionary's days
    # were in day order, but the feature vector did not rely on it.
    if "dd" in d:
        buckets = dict(zip(d["dd"], d["db"]))
    else:
        buckets = {row[0]: row[1:] + [0.0] * (BUCKET_WIDTH - len(row) + 1) for row in d["d"]}
    days: list[float] = []
    for day in sorted(buckets):
        cast("list[Any]", days).append(_shared_day(int(day)))
        days.extend(_counts_as_ints(list(buckets[day])))
    return days


def _counts_as_ints(bucket: list[Any]) -> list[float]:
    for slot in range(BUCKET_WIDTH):
        bucket[slot] = float(bucket[slot]) if slot in _AMOUNT_SLOTS else int(bucket[slot])
    return bucket


def is_activity(event: Event) -> bool:
    """Activity for recency and labels: clicks and completed purchases (tickets alone are not)."""
    return event.kind == "click" or (event.kind == "purchase" and event.data["status"] == "completed")


def _ewma(current: float, sample: float) -> float:
    return current + GAP_EWMA_ALPHA * (sample - current)


def day_buckets(state: UserState) -> dict[int, list[float]]:
    """The kept days' buckets by day number, in day order (copies: for reading, not updating)."""
    days = state.days
    numbers = cast("list[int]", days)
    return {numbers[at]: days[at + 1:at + DAY_STRIDE] for at in range(0, len(days), DAY_STRIDE)}


def _find_day(days: list[float], day: int) -> int:
    """Where the day's bucket starts in ``days`` (its first counter), or -1 if the day is not kept.
    From the newest: the day looked for is almost always the newest or the one before."""
    numbers = cast("list[int]", days)
    at = len(days) - DAY_STRIDE
    while at >= 0:
        kept = numbers[at]
        if kept == day:
            return at + 1
        if kept < day:
            break
        at -= DAY_STRIDE
    return -1


def _bucket(state: UserState, day: int) -> int:
    """Where the day's bucket starts in state.days, made (zeros) in its place in day order if the
    day is new; a new day drops the days more than the longest window before it."""
    days = state.days
    numbers = cast("list[int]", days)
    at = len(days)  # from the newest: where the day is, or where it goes
    while at > 0:
        kept = numbers[at - DAY_STRIDE]
        if kept == day:
            return at - DAY_STRIDE + 1
        if kept < day:
            break
        at -= DAY_STRIDE  # an earlier day than the newest (none should be)
    number = _shared_day(day)
    if at == len(days):
        cast("list[Any]", days).append(number)
        days.extend(_NEW_BUCKET)
    else:
        days[at:at] = [number, *_NEW_BUCKET]
    if len(days) > KEEP_DAYS * DAY_STRIDE:
        before = len(days)
        _drop_days_through(days, day - KEEP_DAYS)
        at -= before - len(days)
    return at + 1


def _apply_click(state: UserState, days: list[float], at: int, ts: int, data: dict[str, Any]) -> None:
    days[at + CLICKS] += 1
    if state.last_click_ts < 0 or ts - state.last_click_ts > SESSION_GAP_MS:
        if state.session_start_ts >= 0:
            state.session_gap_ewma_days = _ewma(state.session_gap_ewma_days, (ts - state.session_start_ts) / DAY_MS)
        state.session_start_ts = ts
        state.session_single = True
        days[at + SESSIONS] += 1
        days[at + BOUNCES] += 1  # until a second click arrives
    elif state.session_single:
        state.session_single = False
        start = _find_day(days, state.session_start_ts // DAY_MS)
        if start >= 0:  # gone only if the session began beyond the 90-day windows
            days[start + BOUNCES] -= 1
    state.last_click_ts = ts
    action = data["action"]
    if action in INTERACTION_ACTIONS:
        days[at + INTERACTIONS] += 1
    elif action in ERROR_ACTIONS:
        days[at + ERRORS] += 1
    category = data.get("category")
    if category:
        categories = state.categories
        if category not in categories and len(categories) >= MAX_CATEGORIES:
            del categories[min(categories, key=categories.__getitem__)]  # the least recently seen
        cast("dict[str, Any]", categories)[category] = cast("list[Any]", days)[at - 1]  # the day's shared number


def _apply_purchase(state: UserState, days: list[float], at: int, ts: int, data: dict[str, Any]) -> None:
    if data["status"] != "completed":
        days[at + REFUNDS] += 1
        state.lifetime_refunds += 1
        return
    amount = data["amount"]
    days[at + SPEND] += amount
    state.lifetime_spend += amount
    order = id_hash(data["order_id"])
    discounted = int(data.get("discount", 0) > 0)
    day = ts // DAY_MS
    if day != state.orders_day:
        state.orders_day, state.day_orders = day, {}
    counted = state.day_orders.get(order)
    if counted is not None:  # another line of an order counted today
        if discounted and not counted:
            days[at + DISCOUNTED] += 1
            state.day_orders[order] = 1
        return
    if len(state.day_orders) >= MAX_DAY_ORDERS:
        del state.day_orders[next(iter(state.day_orders))]
    state.day_orders[order] = discounted
    days[at + PURCHASES] += 1
    days[at + DISCOUNTED] += discounted
    if state.last_purchase_ts >= 0:
        state.purchase_gap_ewma_days = _ewma(state.purchase_gap_ewma_days, (ts - state.last_purchase_ts) / DAY_MS)
    state.last_purchase_ts = ts
    state.lifetime_purchases += 1


def _apply_ticket(state: UserState, days: list[float], at: int, ts: int, data: dict[str, Any]) -> None:
    status, ticket_id = data["status"], data["ticket_id"]
    episode = next((t for t in state.open_tickets if t[0] == ticket_id), None)
    if status in ("opened", "reopened"):
        if status == "opened":
            days[at + TICKETS_OPENED] += 1
            slot = TICKET_CATEGORY_SLOTS.get(data["category"])
            if slot is not None:
                days[at + slot] += 1
        else:
            days[at + REOPENED] += 1
        if episode is None:
            state.open_tickets.append([ticket_id, ts, 0])
            del state.open_tickets[:-MAX_OPEN_TICKETS]
    elif episode is not None:
        if status == "responded":
            if not episode[2]:
                episode[2] = 1
                days[at + RESPONSES] += 1
                days[at + RESPONSE_MS] += ts - episode[1]
        else:  # resolved or closed: the episode ends at the first of them
            days[at + RESOLUTIONS] += 1
            days[at + RESOLUTION_MS] += ts - episode[1]
            state.open_tickets.remove(episode)
    csat = data.get("csat")
    if csat is not None:
        csat = int(csat)  # the contract's integer may arrive as 4.0 (JSON Schema counts it): held as declared
        state.last_csat = csat
        state.csat_sum += csat
        state.csat_count += 1


def apply_event(state: UserState, event: Event) -> None:
    """Fold one event into the state. The caller guarantees event-time order and no duplicates."""
    ts = event.ts
    day = ts // DAY_MS
    at = _bucket(state, day)
    days = state.days
    if state.first_ts < 0:
        state.first_ts = ts
    if event.kind == "click":
        _apply_click(state, days, at, ts, event.data)
    elif event.kind == "purchase":
        _apply_purchase(state, days, at, ts, event.data)
    else:
        _apply_ticket(state, days, at, ts, event.data)
    if is_activity(event):
        if day > state.last_active_day:
            if state.last_active_day >= 0:
                state.gap_ewma_days = _ewma(state.gap_ewma_days, day - state.last_active_day)
            state.last_active_day = day
        state.last_activity_ts = ts
    attributes = event.data.get("attributes")
    if attributes:
        state.attributes.update(attributes)
        while len(state.attributes) > MAX_ATTRIBUTES:
            del state.attributes[next(iter(state.attributes))]
    state.last_key = event.sort_key
    state.events_applied += 1


def spend_90(state: UserState, t: int) -> float:
    """Spend on completed purchases in the 90 days up to t: the user's value estimate."""
    lo = t // DAY_MS - 89
    days = state.days
    numbers = cast("list[int]", days)
    spend = 0.0
    for at in range(0, len(days), DAY_STRIDE):
        if numbers[at] >= lo:
            spend += days[at + 1 + SPEND]
    return spend


def lifecycle_stage(tenure_days: float, recency_days: float, active_days_30: float, active_days_prior_30: float) -> str:
    """The first rule that holds: dormant (no activity for 30 days, or none ever), new (first 14
    days), declining (active days in the last 30 fewer than half those in the 30 before), growth
    (first 60 days, or active days up at least 1.5x + 2 on the 30 before), else active."""
    if recency_days >= DORMANT_DAYS:
        return "dormant"
    if tenure_days < TENURE_NEW_DAYS:
        return "new"
    if active_days_30 < active_days_prior_30 / 2:
        return "declining"
    if tenure_days < TENURE_GROWTH_DAYS or active_days_30 >= 1.5 * active_days_prior_30 + 2:
        return "growth"
    return "active"


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


def feature_values(state: UserState, t: int) -> dict[str, float]:
    """Features at event time ``t`` by name, in catalog order (the state must hold no event after
    t). Values are rounded to FEATURE_DECIMALS."""
    return dict(zip(FEATURE_NAMES, feature_vector(state, t)))


def feature_vector(state: UserState, t: int) -> list[float]:
    """Features at event time ``t`` in catalog order (the model's input order); the state must
    hold no event after t. Values are rounded to FEATURE_DECIMALS."""
    today = t // DAY_MS
    ranges = _age_ranges(state.days, today)
    if ranges is None and not any(seen > today - KEEP_DAYS for seen in state.categories.values()):
        return _dormant_vector(state, t)
    return _windowed_vector(state, t, ranges or _no_days())


def _windowed_values(state: UserState, t: int) -> dict[str, float]:
    """The general path, for every state (feature_vector takes a shortcut for dormant users)."""
    return dict(zip(FEATURE_NAMES, _windowed_vector(state, t, _age_ranges(state.days, t // DAY_MS) or _no_days())))


def _age_ranges(days: list[float], today: int) -> "list[_Sums] | None":
    """The sums of the buckets in each age range (today - day) [0,1) [1,7) [7,14) [14,30) [30,60)
    [60,90), newest first; None if no bucket is that young. Each range's sums run in day order:
    one pass over the kept days, which are in day order (UserState.days)."""
    ranges = _no_days()
    any_day = False
    oldest = today - KEEP_DAYS  # older days belong to no window (compact drops them later)
    numbers = cast("list[int]", days)
    for at in range(0, len(days), DAY_STRIDE):
        day = numbers[at]
        if day > today:
            break  # a bucket after t: the caller promised none (ignored, as always)
        if day > oldest:
            _age_range(ranges, today - day).add(days, at + 1)
            any_day = True
    return ranges if any_day else None


if ACTIVITY_WINDOWS != (1, 7, 30, 90):  # _age_range and _windowed_vector's categories count are written for them
    raise RuntimeError(f"features.py expects the activity windows (1, 7, 30, 90), not {ACTIVITY_WINDOWS}")


def _age_range(ranges: "list[_Sums]", age: int) -> "_Sums":
    # Ranges [0,1) [1,7) [7,14) [14,30) [30,60) [60,90): each window (1, 7, 30, 90 days) is a
    # union of the newest, and the trends compare [7,14) and [30,60) with their successors.
    if age < 7:
        return ranges[0] if age < 1 else ranges[1]
    if age < 30:
        return ranges[2] if age < 14 else ranges[3]
    return ranges[4] if age < 60 else ranges[5]


def _no_days() -> "list[_Sums]":
    return [_Sums(), _Sums(), _Sums(), _Sums(), _Sums(), _Sums()]


class _Sums:
    """Sums over some days' buckets: each slot's, and the active days (with clicks or purchases).
    Counts are summed as ints, amounts and durations as floats in day order from 0.0. Compiled
    (setup.py), the fields are C integers and doubles, and a count is read from its bucket without
    becoming a float object: the sums allocate nothing."""

    def __init__(self) -> None:
        self.active = self.clicks = self.sessions = self.interactions = self.errors = self.bounces = 0
        self.purchases = self.discounted = self.refunds = self.tickets = self.reopened = 0
        self.complaint = self.billing = self.technical = self.cancellation = self.responses = self.resolutions = 0
        self.spend = self.response_ms = self.resolution_ms = 0.0

    def add(self, days: list[float], at: int) -> None:
        """Add one day's bucket, the one starting at ``at`` in ``days`` (days in order, oldest first)."""
        counts = cast("list[int]", days)  # the count slots hold ints (UserState.from_dict)
        clicks, purchases = counts[at + CLICKS], counts[at + PURCHASES]
        if clicks or purchases:
            self.active += 1
        self.clicks += clicks
        self.sessions += counts[at + SESSIONS]
        self.interactions += counts[at + INTERACTIONS]
        self.errors += counts[at + ERRORS]
        self.bounces += counts[at + BOUNCES]
        if purchases or counts[at + REFUNDS]:  # else no purchase that day: its amounts are zero
            self.purchases += purchases
            self.spend += days[at + SPEND]
            self.discounted += counts[at + DISCOUNTED]
            self.refunds += counts[at + REFUNDS]
        opened, responses, resolutions = counts[at + TICKETS_OPENED], counts[at + RESPONSES], counts[at + RESOLUTIONS]
        if opened or responses or resolutions or counts[at + REOPENED]:  # else no ticket event that day
            self.tickets += opened
            self.complaint += counts[at + COMPLAINT]
            self.billing += counts[at + BILLING]
            self.technical += counts[at + TECHNICAL]
            self.cancellation += counts[at + CANCELLATION]
            self.reopened += counts[at + REOPENED]
            self.responses += responses
            self.response_ms += days[at + RESPONSE_MS]
            self.resolutions += resolutions
            self.resolution_ms += days[at + RESOLUTION_MS]

    def plus(self, other: "_Sums") -> "_Sums":
        out = _Sums()
        out.active, out.clicks = self.active + other.active, self.clicks + other.clicks
        out.sessions, out.interactions = self.sessions + other.sessions, self.interactions + other.interactions
        out.errors, out.bounces = self.errors + other.errors, self.bounces + other.bounces
        out.purchases, out.spend = self.purchases + other.purchases, self.spend + other.spend
        out.discounted, out.refunds = self.discounted + other.discounted, self.refunds + other.refunds
        out.tickets, out.reopened = self.tickets + other.tickets, self.reopened + other.reopened
        out.complaint, out.billing = self.complaint + other.complaint, self.billing + other.billing
        out.technical, out.cancellation = self.technical + other.technical, self.cancellation + other.cancellation
        out.responses, out.response_ms = self.responses + other.responses, self.response_ms + other.response_ms
        out.resolutions, out.resolution_ms = self.resolutions + other.resolutions, self.resolution_ms + other.resolution_ms
        return out


def _windowed_vector(state: UserState, t: int, r: "list[_Sums]") -> list[float]:
    """The features from the age ranges' sums (_age_ranges). Every window is the newest ranges,
    added newest first: amounts and durations (not whole) come out as the same floats however
    anything else here changes; counts are ints, exact in any order."""
    today = t // DAY_MS
    w1 = r[0]
    w7 = w1.plus(r[1])
    w30 = w7.plus(r[2]).plus(r[3])
    w90 = w30.plus(r[4]).plus(r[5])
    # Categories last seen within each window (ACTIVITY_WINDOWS: 1, 7, 30, 90 days), counted
    # in one pass (at most MAX_CATEGORIES), not sorted and bisected per window.
    in_1 = in_7 = in_30 = in_90 = 0
    for seen in state.categories.values():
        age = today - seen
        if age < 90:
            in_90 += 1
            if age < 30:
                in_30 += 1
                if age < 7:
                    in_7 += 1
                    if age < 1:
                        in_1 += 1

    s = _scalars(state, t)
    v = s[:9]
    for categories, w in zip((in_1, in_7, in_30, in_90), (w1, w7, w30, w90)):
        clicks, sessions = float(w.clicks), float(w.sessions)
        v += (float(w.active), math.log1p(clicks), sessions, _ratio(clicks, sessions), _ratio(float(w.bounces), sessions),
              float(w.interactions), float(categories), float(w.errors))
    purchases_30, purchases_90 = float(w30.purchases), float(w90.purchases)
    responses, resolutions = float(w90.responses), float(w90.resolutions)
    v += (purchases_30, purchases_90, math.log1p(w30.spend), math.log1p(w90.spend),
          _ratio(w30.spend, purchases_30), _ratio(w90.spend, purchases_90),
          _ratio(float(w30.discounted), purchases_30), _ratio(float(w90.discounted), purchases_90),
          float(w30.refunds), float(w90.refunds), *s[9:12],
          float(w7.tickets), float(w30.tickets), float(w90.tickets), s[12], s[13],
          _ratio(w90.response_ms, responses) / 3_600_000, _ratio(w90.resolution_ms, resolutions) / 3_600_000,
          float(w90.reopened), float(w90.complaint), float(w90.billing), float(w90.technical), float(w90.cancellation),
          *s[14:17],
          math.log((w7.clicks + 1.0) / (r[2].clicks + 1.0)), math.log((w30.clicks + 1.0) / (r[4].clicks + 1.0)),
          math.log((w7.spend + 1.0) / (r[2].spend + 1.0)), math.log((w30.spend + 1.0) / (r[4].spend + 1.0)),
          s[17])
    tenure = max(t - state.first_ts, 0) / DAY_MS if state.first_ts >= 0 else 0.0
    stage = lifecycle_stage(tenure, s[0], float(w30.active), float(r[4].active))
    v += _STAGE_FLAGS[stage]
    for i in _FRACTIONAL:
        if v[i] % 1:
            v[i] = round_feature(v[i])
    return v


# The scalars' order (recency first, then lifetime totals, tickets, satisfaction and tenure).
_SCALAR_FEATURES: Final = ("recency_days", "typical_gap_days", "recency_ratio", "days_since_session",
                    "typical_session_gap_days", "session_recency_ratio", "days_since_purchase",
                    "typical_purchase_gap_days", "purchase_recency_ratio", "lifetime_purchases",
                    "log_lifetime_spend", "lifetime_refunds", "open_tickets", "oldest_open_ticket_days",
                    "last_csat", "mean_csat", "low_csat", "log_tenure_days")
_SCALAR_INDEX: Final = tuple(FEATURE_NAMES.index(name) for name in _SCALAR_FEATURES)
_STAGE_FLAGS = {stage: tuple(1.0 if other == stage else 0.0 for other in LIFECYCLE_STAGES) for stage in LIFECYCLE_STAGES}
_DORMANT: list[float] = []
# Counts and flags are whole by construction (sums of whole increments): only the others may need
# rounding, and round() is the costliest step of a vector.
_FRACTIONAL: Final = tuple(i for i, f in enumerate(CATALOG)
                    if f.unit not in ("count", "flag") and not f.name.startswith("active_days_"))
_ROUNDING: Final = 10.0 ** FEATURE_DECIMALS


def round_feature(value: float) -> float:
    """``round(value, FEATURE_DECIMALS)``, the same float, about three times faster where it can be.

    round() rounds the exact binary value correctly to 4 decimals and returns the double nearest
    that decimal. For |value| < 1e5, value * 1e4 is within 1e-7 of the exact product, so when it is
    not within 1e-4 of a half, its nearest integer n (floor(scaled + 0.5): no tie is taken) is the
    decimal's digits, and n / 1e4 (a correctly rounded division of two exact doubles) is that
    nearest double. Near a half, beyond
    1e5, for NaN and infinities, and where n is 0 (the sign of a zero), round() decides. Callers
    skip whole values (``value % 1`` is 0: counts, every zero), which need no rounding."""
    if -1e5 < value < 1e5:
        scaled = value * _ROUNDING
        digits = math.floor(scaled + 0.5)  # exact (|scaled| < 1e9); round() where it is near a half
        if digits and -0.4999 < scaled - digits < 0.4999:
            return digits / _ROUNDING
    return round(value, FEATURE_DECIMALS)


def _scalars(state: UserState, t: int) -> list[float]:
    """The features that need no daily bucket (unrounded), in _SCALAR_FEATURES order."""
    recency = (t - state.last_activity_ts) / DAY_MS if state.last_activity_ts >= 0 else NO_EVENT_DAYS
    since_session = (t - state.session_start_ts) / DAY_MS if state.session_start_ts >= 0 else NO_EVENT_DAYS
    since_purchase = min((t - state.last_purchase_ts) / DAY_MS, NO_EVENT_DAYS) if state.last_purchase_ts >= 0 else NO_EVENT_DAYS
    tenure = max(t - state.first_ts, 0) / DAY_MS if state.first_ts >= 0 else 0.0
    return [
        recency, state.gap_ewma_days, recency / max(state.gap_ewma_days, MIN_GAP_DAYS),
        since_session, state.session_gap_ewma_days, since_session / max(state.session_gap_ewma_days, MIN_GAP_DAYS),
        since_purchase, state.purchase_gap_ewma_days, since_purchase / max(state.purchase_gap_ewma_days, MIN_GAP_DAYS),
        float(state.lifetime_purchases), math.log1p(state.lifetime_spend), float(state.lifetime_refunds),
        float(len(state.open_tickets)),
        (t - min(e[1] for e in state.open_tickets)) / DAY_MS if state.open_tickets else 0.0,
        float(state.last_csat), _ratio(state.csat_sum, state.csat_count),
        1.0 if 0 < state.last_csat <= 2 else 0.0, math.log1p(tenure),
    ]


def _dormant_vector(state: UserState, t: int) -> list[float]:
    """The features of a user with nothing in any window (silent for the longest window or more):
    every windowed feature is zero and the stage is dormant, so only the scalars are computed.
    The same values the general path gives (tests/unit/core/test_feature_properties.py)."""
    if not _DORMANT:
        _DORMANT.extend(_windowed_vector(UserState("-"), 0, _no_days()))  # an empty state: no window has anything
    out = list(_DORMANT)
    for i, value in zip(_SCALAR_INDEX, _scalars(state, t)):
        out[i] = round_feature(value) if value % 1 else value
    return out

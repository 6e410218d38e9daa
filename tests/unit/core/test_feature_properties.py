"""Property tests: for random event histories, delivered shuffled within the allowed lateness and
with duplicates, the incremental feature store (through the engine) equals a brute-force
recomputation from the full event list, at every snapshot and at the end."""

import math
from dataclasses import replace

from hypothesis import HealthCheck, given, settings, strategies as st

from streams.core.events import INPUT_KINDS
from streams.core.engine import PartitionEngine, PartitionState
from streams.core.features import _FRACTIONAL, feature_vector
from streams.settings import Settings
from streams.core.events import DAY_MS
from tests.factories import T0, click, purchase, ticket
from tests.feature_reference import reference_features

CFG = replace(Settings().engine_config(), drain_when_idle=True)
HOUR = 3_600_000
EXTREME_AMOUNTS = [1e12, 999_999_999_999.99, 0.0, 5e-324, 0.1]  # schemas/purchase.v1.json: 0 <= amount <= 1e12


@st.composite
def history(draw):
    """One user's events over up to 120 days, plus the arrival order: jittered within the
    lateness, with some events delivered twice. Events cluster (minutes apart) often enough to
    form multi-click sessions, and categories outnumber what the state remembers."""
    n = draw(st.integers(1, 60))
    events, times = [], []
    for i in range(n):
        if times and draw(st.booleans()):  # close to an earlier event: same session or just past its gap
            ts = draw(st.sampled_from(times)) + draw(st.integers(1, 2400)) * 1000
        else:
            ts = T0 + draw(st.integers(0, 119)) * DAY_MS + draw(st.integers(0, DAY_MS - 1))
        if ts % DAY_MS == 0:  # never exactly at midnight: a day-boundary snapshot then holds only earlier events
            ts += 1
        times.append(ts)
        kind = draw(st.sampled_from(["click", "click", "click", "purchase", "ticket"]))
        if kind == "click":
            events.append(click("u", ts, action=draw(st.sampled_from(["view", "like", "error", "search"])),
                                category=f"c{draw(st.integers(0, 20))}", event_id=f"e{i}"))
        elif kind == "purchase":
            # Everyday amounts, and the schema's extremes now and then (its maximum, zero, a subnormal).
            amount = draw(st.one_of(st.integers(1, 300).map(float), st.sampled_from(EXTREME_AMOUNTS)))
            events.append(purchase("u", ts, amount=amount,
                                   discount=float(draw(st.sampled_from([0, 0, 5]))),
                                   status=draw(st.sampled_from(["completed", "completed", "refunded"])), event_id=f"e{i}",
                                   # an order of its own, or a line of one of two shared orders
                                   order_id=draw(st.sampled_from([None, None, "o1", "o2"]))))
        else:
            events.append(ticket("u", ts, status=draw(st.sampled_from(["opened", "responded", "resolved", "reopened", "closed"])),
                                 ticket_id=f"t{draw(st.integers(0, 20))}", csat=draw(st.sampled_from([None, 1, 5])),
                                 category=draw(st.sampled_from(["complaint", "billing", "question"])), event_id=f"e{i}"))
    # Each delivery (an event, or a redelivered copy) arrives up to half the lateness after its event time.
    deliveries = events + draw(st.lists(st.sampled_from(events), max_size=8))
    arrival_at = [e.ts + draw(st.integers(0, CFG.lateness_ms // 2)) for e in deliveries]
    arrival = [e for _, _, e in sorted(zip(arrival_at, range(len(deliveries)), deliveries))]
    return events, arrival


def close(a, b):
    """Equal up to the last of the 4 rounded decimals (sums in another order may round apart)."""
    return len(a) == len(b) and all(math.isclose(x, y, rel_tol=1e-9, abs_tol=1.5e-4) for x, y in zip(a, b))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history())
def test_incremental_features_equal_a_brute_force_recomputation(case):
    events, arrival = case
    users = {}
    engine = PartitionEngine(0, CFG, PartitionState(0), users)
    # A steady background source keeps the watermark moving the way live traffic would.
    engine.set_idle({"purchase", "support_ticket"})
    offsets = {k: 0 for k in INPUT_KINDS}
    for e in arrival:
        offsets[e.kind] += 1
        engine.offer(e.kind, offsets[e.kind], e, None)
    engine.set_idle(set(INPUT_KINDS))
    user = users["u"]
    assert user.events_applied == len(events), (engine.state.counters, engine.drain().dead_letters[:3])  # every event once, no duplicates, none late
    ordered = sorted({e.event_id: e for e in events}.values(), key=lambda e: e.sort_key)
    for t, _, features, *_ in user.pending:
        if t % DAY_MS == 0:  # a rescore at a day boundary: everything before it
            expected = reference_features(events, t)
        else:  # taken when the day's first activity arrived: everything up to that event
            trigger = next(e for e in ordered if e.ts == t and (e.kind == "click" or e.data.get("status") == "completed"))
            expected = reference_features(events, t, trigger.sort_key)
        assert len(features) == len(expected) + 3  # then the rhythm's inputs (streams/core/snapshots.py)
        assert close(features[:len(expected)], expected), t
        # Counts and flags are whole by construction: the vector rounds only the other features.
        assert all(x % 1 == 0 for i, x in enumerate(features[:len(expected)]) if i not in _FRACTIONAL), t
    end = max(e.ts for e in events) + 3 * HOUR
    assert close(feature_vector(user, end), reference_features(events, end))
    # Floats throughout, at every time (a window without days included): the model's inputs do not
    # depend on which path computed a value, and a pending label's compaction (compact_numbers) takes floats.
    for t in (end, end + 40 * DAY_MS, end + 100 * DAY_MS):
        assert all(type(x) is float for x in feature_vector(user, t)), t

import random
from collections import Counter
from dataclasses import replace

import orjson
import pytest

from streams.core.catalog import FEATURE_NAMES
from streams.kafka.codecs import PartitionStateCodec, UserStateCodec
from streams.kafka.local_store import UserCache
from streams.core.events import INPUT_KINDS
from streams.core.engine import PartitionEngine, PartitionState
from streams.core.start import index_stored, stored_user
from streams.offline.runner import OfflineRun
from streams.core.features import UserState, apply_event, feature_values, feature_vector
from streams.settings import Settings
from streams.core.events import DAY_MS
from streams.offline.simulator import SimConfig, as_events, simulate
from tests.factories import Disk, at, click, purchase, ticket

CFG = replace(Settings().engine_config(), min_labels=300)
LATENESS = CFG.lateness_ms


@pytest.fixture(scope="module")
def population():
    events, _ = simulate(SimConfig(users=60, days=75, seed=11, bad_rate=0.0))
    events = as_events(events)
    for i, e in enumerate(events):  # attributes, so the return table's attribute ratios are journaled too
        if i % 5 == 0:
            e.data["attributes"] = {"region": f"r{len(e.user_id) + i % 3}", "plan": "gold" if i % 2 else "basic"}
    return events


@pytest.fixture(scope="module")
def reference(population):
    """The population through one engine, in order, uninterrupted."""
    run = Run()
    for e in population:
        run.offer(e)
    return run.finish()


# A week's horizon: silences pass two horizons within the population's 75 days, so the return
# table counts them itself and restarts must replay those steps too.
SHORT_HORIZON = replace(CFG, horizon_ms=7 * DAY_MS)


@pytest.fixture(scope="module")
def short_horizon_reference(population):
    run = Run(cfg=SHORT_HORIZON)
    for e in population:
        run.offer(e)
    return run.finish()


class Run:
    """Feeds one partition's engine and records everything it emits."""

    def __init__(self, state=None, users=None, start=None, cfg=CFG):
        self.users = {} if users is None else users
        self.engine = PartitionEngine(0, cfg, state or PartitionState(0), self.users, start)
        self.offsets = Counter()
        self.alerts, self.dead, self.settled, self.quality = [], [], 0, []

    def offer(self, event, offset=None):
        if offset is None:
            offset = self.offsets[event.kind]
            self.offsets[event.kind] += 1
        self.engine.offer(event.kind, offset, event, (event.kind, offset))
        self._drain()

    def finish(self):
        self.engine.set_idle(set(INPUT_KINDS))
        self._drain()
        return self

    def _drain(self):
        out = self.engine.drain()
        self.flushed(out)
        self.alerts += out.alerts
        self.quality += out.quality
        self.dead += [(reason, token) for token, reason, _ in out.dead_letters]
        self.settled += len(out.settled)

    def flushed(self, out):
        """What a flush of ``out`` does beyond handing the outputs over (nothing here)."""

    def fingerprint(self):
        # "ep" (flush epoch) and "rl" (the journal of releases until their flush completes) record
        # write history, not what the events made of the user; so does "j" (the journal of partition-level steps).
        return (orjson.dumps(self.alerts), {u: {**s.to_dict(), "ep": 0, "rl": [], "j": []} for u, s in sorted(self.users.items())},
                self.engine.model.labels, self.engine.state.released_until)


def test_arrival_order_within_lateness_does_not_change_anything(population, reference):
    in_order = reference
    assert in_order.alerts and sum(in_order.engine.model.labels) > 200

    rng = random.Random(5)
    jittered = sorted(population, key=lambda e: e.ts + rng.randrange(LATENESS // 2))
    assert jittered != population
    shuffled = Run()
    for e in jittered:
        shuffled.offer(e)
    shuffled.finish()
    assert shuffled.dead == []
    assert shuffled.fingerprint() == in_order.fingerprint()


def test_a_users_features_depend_only_on_that_users_events(population):
    """Same events, same per-user order: the same features, whatever the partitioning, the other
    users sharing a partition (and so its watermark), or no engine at all."""
    drained = replace(CFG, drain_when_idle=True)  # else each partition holds back its last hour
    one = OfflineRun(drained, partitions=1).feed(population)
    four = OfflineRun(drained, partitions=4).feed(population)
    end = max(e.ts for e in population) + DAY_MS
    assert one.users.keys() == four.users.keys() and len(one.users) == 60
    for uid, user in one.users.items():
        assert feature_values(user, end) == feature_values(four.users[uid], end), uid
    for uid in sorted(one.users)[:5]:
        alone = UserState(uid)
        for e in sorted((e for e in population if e.user_id == uid), key=lambda e: e.sort_key):
            apply_event(alone, e)
        assert feature_values(alone, end) == feature_values(one.users[uid], end), uid


def test_duplicates_are_not_counted_twice(population, reference):
    twice = Run()
    for e in population:
        twice.offer(e)
        twice.offer(e)  # e.g. a producer retry: new offset, same event_id
    twice.finish()
    assert twice.fingerprint() == reference.fingerprint()
    assert twice.engine.state.counters["duplicates"] == len(population)
    assert twice.dead == []


@pytest.mark.parametrize("redelivery", ["interleaved", "one_topic_at_a_time"])
def test_restart_and_redelivery_give_the_same_result(population, reference, redelivery):
    first = Run()
    offsets = []
    for e in population:
        offsets.append(first.offsets[e.kind])
        first.offer(e)
        if len(offsets) == len(population) * 2 // 3:
            break
    # "Crash": keep only what the changelog has (codec round trip), redeliver from an earlier offset.
    first.engine.begin_flush(set(first.users))
    users = {u: UserStateCodec().loads(UserStateCodec().dumps(s)) for u, s in first.users.items()}
    state = PartitionStateCodec().loads(PartitionStateCodec().dumps(first.engine.state))
    second = Run(state, users)
    second.alerts = list(first.alerts)
    restart_from = len(offsets) // 2
    again = list(zip(population[restart_from:], offsets[restart_from:]))
    if redelivery == "one_topic_at_a_time":  # each topic's backlog may arrive whole before the next
        again.sort(key=lambda pair: INPUT_KINDS.index(pair[0].kind))
    for e, offset in again:
        second.offer(e, offset)
    second.offsets = first.offsets
    for e in population[len(offsets):]:
        second.offer(e)
    second.finish()
    assert second.dead == []
    assert {a["alert_id"] for a in second.alerts} == {a["alert_id"] for a in reference.alerts}
    assert second.fingerprint()[1:] == reference.fingerprint()[1:]


class CachedRun(Run):
    """A Run whose users live in a UserCache (streams/kafka/local_store.py) that keeps none of them
    between drains: each drain is a flush that writes the changed users and evicts every user."""

    def __init__(self, state, users, cfg=CFG):
        self.disk = Disk({u: UserStateCodec().dumps(s) for u, s in users.items()})
        super().__init__(state, UserCache(self.disk), cfg=cfg)

    def flushed(self, out):
        self.engine.begin_flush(out.dirty_users)
        written = [(u, UserStateCodec().dumps(self.users[u])) for u in out.dirty_users] + [(u, None) for u in out.erased_users]
        for uid, record in written:
            self.disk.records[uid] = record
        self.users.stored(written)
        self.users.evict(0, self.engine.out.dirty_users)


class IndexedRun(CachedRun):
    """A CachedRun whose engine starts from an index of the stored users (streams/core/start.py), as
    a worker with tables on disk does, instead of reading every user."""

    def __init__(self, state, users, cfg=CFG):
        self.disk = Disk({u: UserStateCodec().dumps(s) for u, s in users.items()})
        Run.__init__(self, state, UserCache(self.disk), index_stored(map(stored_user, users.values()), state.epoch), cfg)


def crash_between_writes(population, restarted, cfg):
    """Flush 1 completes; flush 2 writes the users and the worker dies before the partition state:
    the restart reads flush 1's partition state, flush 2's users, and gets everything redelivered."""
    first = Run(cfg=cfg)
    offsets = []
    cut = len(population) // 3
    for e in population[:cut]:
        offsets.append(first.offsets[e.kind])
        first.offer(e)
    first.engine.begin_flush(set(first.users))
    saved_state = PartitionStateCodec().dumps(first.engine.state)  # flush 1 completes
    for e in population[cut:2 * cut]:
        offsets.append(first.offsets[e.kind])
        first.offer(e)
    first.engine.begin_flush(set(first.users))
    # Flush 2 wrote the users, then the worker died before the partition state was written.
    users = {u: UserStateCodec().loads(UserStateCodec().dumps(s)) for u, s in first.users.items()}
    second = restarted(PartitionStateCodec().loads(saved_state), users, cfg=cfg)
    for e, offset in zip(population[:2 * cut], offsets):  # redelivery from the start
        second.offer(e, offset)
    second.offsets = first.offsets
    for e in population[2 * cut:]:
        second.offer(e)
    second.finish()
    return second, first


@pytest.mark.parametrize("restarted", [Run, CachedRun, IndexedRun],
                         ids=["users_in_memory", "users_on_disk", "users_on_disk_indexed"])
def test_a_crash_between_user_and_partition_writes_does_not_double_count(population, reference, restarted):
    second, first = crash_between_writes(population, restarted, CFG)
    assert second.dead == []
    applied = {u: s.events_applied for u, s in second.users.items()}
    assert applied == {u: s.events_applied for u, s in reference.users.items()}
    # Labels released in the lost flush are learned again, in the same order: the same model,
    # so every alert (the ones emitted again too) carries the same content.
    assert second.engine.model.labels == reference.engine.model.labels
    assert second.fingerprint()[1:] == reference.fingerprint()[1:]
    assert {a["alert_id"]: a for a in first.alerts + second.alerts} == {a["alert_id"]: a for a in reference.alerts}
    # The return table, attribute ratios included, saw every step exactly once.
    table, again = reference.engine.model.rhythm, second.engine.model.rhythm
    assert len(table.covariates) > 2 and again.covariates == table.covariates and again.exposure == table.exposure
    assert (again.returns, again.open, again.open_long) == (table.returns, table.open, table.open_long)


@pytest.mark.parametrize("restarted", [Run, CachedRun, IndexedRun],
                         ids=["users_in_memory", "users_on_disk", "users_on_disk_indexed"])
def test_a_crash_between_writes_replays_the_long_silences_the_return_table_counts(population, short_horizon_reference,
                                                                                    restarted):
    """With a week's horizon silences pass two horizons, so the table counts them itself: the lost
    flush's registrations and returns are done again exactly once."""
    second, first = crash_between_writes(population, restarted, SHORT_HORIZON)
    reference = short_horizon_reference
    assert second.dead == []
    assert reference.engine.model.ready  # the model serves, so every served risk below depends on what it learned
    # The lost flush's labels are learned again with the attributes they were scored with, not the
    # later ones of the user state written ahead: the same model, the same scores and alerts.
    assert second.fingerprint()[1:] == reference.fingerprint()[1:]
    assert {a["alert_id"]: a for a in first.alerts + second.alerts} == {a["alert_id"]: a for a in reference.alerts}
    table, again = reference.engine.model.rhythm, second.engine.model.rhythm
    assert sum(len(row) for row in table.open) + sum(n for n, _ in table.open_long) > 0
    assert (again.returns, again.exposure, again.open, again.open_long, again.covariates) == \
        (table.returns, table.exposure, table.open, table.open_long, table.covariates)


def test_erasing_users_whose_steps_a_restart_has_yet_to_do_keeps_the_partition_figures_whole(population):
    """Users written ahead of a lost partition state carry steps the restart does again at their
    boundaries; erased before that, they leave the return table's open silences and the risk
    histogram from where those count them, not from where their state is. (A week's horizon: the
    table counts silences longer than two horizons itself.)"""
    cfg = replace(CFG, horizon_ms=7 * DAY_MS)
    first = Run(cfg=cfg)
    cut = len(population) // 3
    for e in population[:cut]:
        first.offer(e)
    first.engine.begin_flush(set(first.users))
    saved_state = PartitionStateCodec().loads(PartitionStateCodec().dumps(first.engine.state))
    for e in population[cut:2 * cut]:
        first.offer(e)
    first.engine.begin_flush(set(first.users))
    users = {u: UserStateCodec().loads(UserStateCodec().dumps(s)) for u, s in first.users.items()}
    ahead = sorted(u for u, s in users.items() if s.epoch > saved_state.epoch)
    second = Run(saved_state, users, cfg=cfg)
    assert len(ahead) > 5
    for offset, uid in enumerate(ahead[::2]):
        second.engine.offer_erasure(offset, {"schema": "erasure_request.v1", "request_id": f"r-{uid}",
                                             "user_id": uid, "requested_at": at(60)}, None)
    second.offsets = first.offsets
    for e in population[2 * cut:]:
        second.offer(e)
    second.finish()
    engine, table = second.engine, second.engine.model.rhythm
    open_silences, year_long = [n for row in table.open for n in row.values()], [n for n, _ in table.open_long]
    assert min(open_silences) > 0 and min(year_long) >= 0
    assert sum(open_silences) + sum(year_long) == sum(1 for s in second.users.values() if s.silence_in_table) > 0
    bins = Counter(s.risk_bin for s in second.users.values() if s.risk_bin >= 0)
    assert {b: n for b, n in enumerate(engine.population.counts) if n} == dict(bins)


def test_events_later_than_the_allowed_lateness_are_dead_lettered():
    run = Run()
    for kind_event in (click("u1", at(0)), purchase("u2", at(0)), ticket("u3", at(0))):
        run.offer(kind_event)
    run.offer(click("u1", at(3)))
    run.offer(purchase("u2", at(3)))
    run.offer(ticket("u3", at(3)))
    late = click("u4", at(1))
    run.offer(late)
    assert [reason for reason, _ in run.dead] == ["late"]
    assert "u4" not in run.users


def test_an_event_sent_later_than_the_allowed_lateness_is_late_whatever_the_watermark():
    # The watermark is far behind (only clicks seen so far on a backlog), so by it alone the
    # old purchase would be applied on one run and be late on another, depending on how far the
    # other topics had been read. Its own record timestamp decides, the same way every time.
    for seen_before in (False, True):
        run = Run()
        if seen_before:
            run.offer(click("u1", at(30)))
        old = purchase("u2", at(1))
        run.engine.offer("purchase", 0, old, ("purchase", 0), record_ts=at(1) + LATENESS + 1)
        run._drain()
        assert [reason for reason, _ in run.dead] == ["late"]
        on_time = purchase("u3", at(2))
        run.engine.offer("purchase", 1, on_time, ("purchase", 1), record_ts=at(2) + LATENESS)
        run.offer(click("u9", at(40)))
        run.finish()
        assert "u2" not in run.users and run.users["u3"].events_applied == 1


def test_a_copy_sent_later_than_the_allowed_lateness_is_late_whatever_its_user_has_applied():
    # A copy of an event sent again days later: whether it is recognised as a copy depends on
    # what its user has applied when it arrives (the first copy waiting, applied and remembered,
    # or forgotten after a day), which depends on how far the topics have been read. Its record
    # timestamp decides alone: dead-lettered the same way every time (and again when redelivered).
    first = click("u1", at(1))
    resent_at = at(1) + LATENESS + 1
    for applied_until in (None, at(1) + 2 * LATENESS, at(3)):
        run = Run()
        run.engine.offer("click", 0, first, ("click", 0), record_ts=at(1))
        if applied_until is not None:  # u1's later click, and every source beyond it
            after = applied_until + 2 * LATENESS
            for offset, kind_event in enumerate((click("u1", applied_until, event_id="later"), purchase("u2", after),
                                                 ticket("u3", after), click("u4", after)), start=1):
                run.engine.offer(kind_event.kind, offset, kind_event, (kind_event.kind, offset), record_ts=kind_event.ts)
            assert run.users["u1"].events_applied == 2
        run.engine.offer("click", 5, first, ("click", 5), record_ts=resent_at)
        run._drain()
        assert [reason for reason, _ in run.dead] == ["late"], applied_until


def test_snapshots_never_see_the_future(population):
    run = Run()
    for e in population:
        run.offer(e)
    by_user = {}
    for e in population:
        by_user.setdefault(e.user_id, []).append(e)
    checked = 0
    for uid, user in run.users.items():
        for t, _, features, *_ in user.pending:
            fresh = UserState(uid, 0)
            for e in sorted(by_user[uid], key=lambda e: e.sort_key):
                if e.ts <= t:
                    apply_event(fresh, e)
            assert feature_vector(fresh, t) == features[:len(FEATURE_NAMES)]
            checked += 1
    assert checked > 100


def test_labels_wait_the_full_horizon_even_when_the_user_comes_back():
    run = Run()
    for day in range(0, 80, 2):  # a steady user: active every other day
        run.offer(click("u1", at(day)))
        run.offer(purchase("u2", at(day)))
        run.offer(ticket("u3", at(day)))
    learned = run.engine.state.counters.get("labels_0", 0) + run.engine.state.counters.get("labels_1", 0)
    # Snapshots start on day 0; the first may be released only at day 30; the newest pending
    # snapshot is at most H old.
    assert learned > 0
    assert all(run.engine.state.released_until - s[0] < 30 * DAY_MS for s in run.users["u1"].pending)
    assert min(s[0] for s in run.users["u1"].pending) >= run.engine.state.released_until - 30 * DAY_MS


def test_a_crash_partway_through_the_user_writes_spends_each_days_contact_budget_as_before():
    """A kill during the user writes leaves some users written ahead and others not. Alerts of the
    ones ahead are not made again (their events come back as duplicates), yet they used the day's
    contact budget: without counting it again, the others' crossings found room that an
    uninterrupted run had given away, and fired alerts it never made."""
    events, _ = simulate(SimConfig(users=120, days=60, seed=11, bad_rate=0.0))
    events = as_events(events)
    policy = replace(CFG.policy, tiers=(("watch", 0.2), ("high", 0.35), ("critical", 0.5)), population_share=0.5)
    cfg = replace(SHORT_HORIZON, policy=policy)  # 0.5 % of 120 users a day: the budget binds
    reference = Run(cfg=cfg)
    for e in events:
        reference.offer(e)
    reference.finish()
    assert reference.engine.state.counters["suppressed_budget"] > 20
    for k in range(24, 30):  # crashes near the end, where the budget binds most days
        crash_at = int(len(events) * (0.3 + 0.65 * k / 30))
        last_flush = crash_at - 3000
        first, offsets = Run(cfg=cfg), []
        for e in events[:last_flush]:
            offsets.append(first.offsets[e.kind])
            first.offer(e)
        first.engine.begin_flush(set(first.users))
        saved_state = PartitionStateCodec().dumps(first.engine.state)
        disk = {u: UserStateCodec().dumps(s) for u, s in first.users.items()}
        for e in events[last_flush:crash_at]:
            offsets.append(first.offsets[e.kind])
            first.offer(e)
        first.engine.begin_flush(set(first.users))
        rng = random.Random(k)
        for uid, user in first.users.items():  # the kill came partway through the user writes
            if uid not in disk or rng.random() < 0.5:
                disk[uid] = UserStateCodec().dumps(user)
        second = Run(PartitionStateCodec().loads(saved_state), {u: UserStateCodec().loads(b) for u, b in disk.items()},
                     cfg=cfg)
        for e, offset in zip(events[:crash_at], offsets):
            second.offer(e, offset)
        second.offsets = first.offsets
        for e in events[crash_at:]:
            second.offer(e)
        second.finish()
        assert {a["alert_id"] for a in first.alerts + second.alerts} == {a["alert_id"] for a in reference.alerts}, k
        assert second.fingerprint()[1:] == reference.fingerprint()[1:], k

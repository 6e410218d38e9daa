from streams.core.engine import PartitionState
from streams.core.watermark import Watermark

LATE = 100


def clock(**state):
    return Watermark(PartitionState(0, **state), LATE)


def test_the_slowest_active_source_holds_it_back_and_idle_sources_do_not():
    w = clock()
    w.observe("click", 1_000)
    w.observe("purchase", 500)
    assert w.current() == -1  # support tickets not seen yet
    w.set_idle({"support_ticket"})
    assert w.current() == 500 - LATE
    w.observe("purchase", 400)  # older than the newest: does not move anything back
    assert w.current() == 500 - LATE
    assert w.set_idle({"support_ticket", "purchase"}) and not w.set_idle({"support_ticket", "purchase"})
    assert w.current() == 1_000 - LATE


def test_all_idle_releases_everything_only_in_backfill_mode():
    live, backfill = clock(), Watermark(PartitionState(0), LATE, drain_when_idle=True)
    for w in (live, backfill):
        w.observe("click", 1_000)
        w.set_idle({"click", "purchase", "support_ticket"})
    assert (live.current(), backfill.current()) == (1_000 - LATE, 1_000)


def test_after_a_restart_sources_are_held_near_the_released_time():
    # The buffer died with the previous worker: a source must show newer events again before it
    # can move the watermark beyond what was released, or its redelivered events would be late.
    w = clock(source_max_ts={"click": 5_000, "purchase": 900}, released_until=800)
    assert w.state.source_max_ts == {"click": 800 + LATE, "purchase": 900}


def test_after_a_restart_with_nothing_released_yet_no_source_counts_as_seen():
    # Found by killing a worker that had read far into every source but released nothing: its
    # partition state kept the sources' newest times, and after the restart the first redelivered
    # click moved the watermark past all the others (hundreds of valid clicks dead-lettered late).
    w = clock(source_max_ts={"click": 5_000, "purchase": 90_000, "support_ticket": 80_000}, released_until=-1)
    assert w.state.source_max_ts == {}
    w.observe("click", 1_000)
    assert w.current() == -1  # purchases and tickets must show their events again

"""The backfill in this process (streams/offline/inline.py): the golden alerts from any file order,
a bounded reorder buffer, and dead letters where the worker path puts them. Its equality with the
worker path, state included, is tested against real workers in tests/integration/test_replay.py."""

from dataclasses import replace

import orjson

from streams.offline.backfill import backfill
from streams.offline.inline import InlineBackfill
from streams.offline.sources import kind_of_file, merged
from streams.settings import Settings
from tests.golden import INPUTS, canonical, expected_alerts, for_golden
from tests.unit.offline.test_mapping import orders_mapping
from tests.unit.offline.test_sources import shuffled_copies


def settings() -> Settings:
    return replace(for_golden(Settings.from_env({})), drain_when_idle=True)


def alerts_of(out):
    return [orjson.loads(line) for name in ("alerts", "holdout") for line in (out / f"{name}.jsonl").read_bytes().splitlines()]


def test_an_inline_backfill_gives_the_golden_alerts_and_state_from_any_file_order(tmp_path):
    shuffled = tmp_path / "shuffled"
    shuffled.mkdir()
    summaries = []
    for i, files in enumerate((INPUTS, shuffled_copies(shuffled))):
        out = tmp_path / f"run-{i}"
        summaries.append(backfill(for_golden(Settings.from_env({})), files, out))
        assert canonical(alerts_of(out)) == expected_alerts(), i
    first, again = summaries
    bad_lines = sum(1 for r in merged([(p, kind_of_file(p)) for p in INPUTS], {}) if r.error)
    assert first["workers"] == 0 and first["replay"]["input_records"] == 5071
    assert first["counters"]["applied"] == first["input_records"] == 5071 - bad_lines
    assert first["dead_letters"] == bad_lines and first["counters"].get("late", 0) == 0
    assert again["state_digest"] == first["state_digest"] and again["counters"] == first["counters"]


def test_the_reorder_buffer_is_released_at_each_flush_not_held_to_the_end():
    """A purchase-only export never shows clicks or tickets, which would hold the watermark back
    for the whole run; between event times every source has passed, so each flush releases."""
    records = [r for r in merged([(p, kind_of_file(p)) for p in INPUTS], {}) if r.error is None and r.kind == "click"]
    run = InlineBackfill(replace(settings(), flush_every_events=100, partitions=1))  # every record on it
    most = 0
    for record, following in zip(records, [*records[1:], None]):
        run._offer(0, record)  # one partition: the engine sees every record
        if run.unflushed[0] >= 100 and (following is None or following.ts > record.ts):
            most = max(most, run.engines[0].buffered)
            run._flush(0)
    assert 0 < most <= 110 and run.engines[0].state.counters["applied"] + run.engines[0].buffered == len(records)
    assert run.engines[0].state.counters.get("late", 0) == 0


def test_a_dead_letter_names_the_line_of_its_file(tmp_path):
    """source_offset of a file's dead letter is its 1-based line (a table's header is line 1)."""
    export = tmp_path / "orders.csv"
    export.write_text("who,day,amount\nu1,2024-01-02,3\nu2,someday,4\nu3,2024-01-03,5\n")
    orders_mapping(tmp_path)
    backfill(replace(settings(), max_rejected_share=0.5), [export], tmp_path / "out", kind="purchase",
             mapping=str(tmp_path / "m.toml"))
    [dead] = [orjson.loads(line) for line in (tmp_path / "out" / "dead_letters.jsonl").read_bytes().splitlines()]
    assert (dead["source_topic"], dead["source_offset"]) == (f"file:{export}", 3)

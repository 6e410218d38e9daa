import csv
from datetime import datetime, timezone
from pathlib import Path

import orjson
import pytest

from streams.offline.sources import KindMapping, count_lines, kind_of_file, load_mapping, merged, read_topic_partition
from tests.golden import INPUTS


def docs(records):
    return [orjson.loads(r.value) for r in records if r.error is None]


def test_kind_comes_from_the_file_name():
    assert [kind_of_file(Path(n)) for n in ("clicks.jsonl", "purchases-2026.csv", "tickets.jsonl",
                                            "support_tickets_q3.jsonl")] == ["click", "purchase", "support_ticket", "support_ticket"]
    with pytest.raises(ValueError):
        kind_of_file(Path("events.jsonl"))


def test_files_merge_into_one_event_time_order_and_bad_lines_keep_their_place():
    records = list(merged([(p, kind_of_file(p)) for p in INPUTS], {}))
    valid = [r for r in records if r.error is None]
    keys = [(r.ts, ("purchase", "support_ticket", "click").index(r.kind), r.event_id) for r in valid]
    assert keys == sorted(keys)
    assert len(records) == count_lines([(p, kind_of_file(p)) for p in INPUTS], {})
    bad = [r for r in records if r.error is not None]
    assert bad and {r.error[0] for r in bad} <= {"undecodable", "invalid"}
    for r in bad:  # right after the valid record that preceded it in its file
        lines = Path(r.origin).read_bytes().splitlines()
        assert lines[r.position] == r.value


def test_a_csv_export_with_other_names_and_iso_times_maps_onto_the_contract(tmp_path):
    purchases = docs(merged([(INPUTS[1], "purchase")], {}))
    export = tmp_path / "orders.csv"
    with open(export, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "customer", "when", "order_id", "amount", "currency", "discount", "status", "ignored"])
        for d in purchases:
            when = datetime.fromtimestamp(d["ts"] / 1000, timezone.utc).isoformat(timespec="milliseconds")
            w.writerow([d["event_id"], d["user_id"], when, d["order_id"], d["amount"], d["currency"],
                        d.get("discount", ""), d["status"], "x"])
    mapping = tmp_path / "mapping.toml"
    mapping.write_text('[purchase]\nfields = { event_id = "id", user_id = "customer", ts = "when" }\n'
                       'ts_unit = "iso8601"\n')
    mapped = docs(merged([(export, "purchase")], load_mapping(mapping)))
    assert mapped == purchases


def test_defaults_fill_fields_an_export_lacks_and_invalid_rows_say_why(tmp_path):
    export = tmp_path / "clicks.csv"
    export.write_text("event_id,user_id,ts,session_id,page\ne1,u1,1700000000,s1,/home\ne2,u2,soon,s1,/home\n")
    mapping = tmp_path / "m.toml"
    mapping.write_text('[click]\nts_unit = "s"\ndefaults = { action = "view" }\n')
    first, second = merged([(export, "click")], load_mapping(mapping))
    assert orjson.loads(first.value) == {"action": "view", "event_id": "e1", "user_id": "u1", "ts": 1_700_000_000_000,
                                         "session_id": "s1", "page": "/home"}
    assert second.error is not None and second.error[0] == "invalid" and second.position == 1


def test_a_mapping_for_an_unknown_kind_is_refused(tmp_path):
    bad = tmp_path / "m.toml"
    bad.write_text("[clicks]\nts_unit = 'ms'\n")
    with pytest.raises(ValueError, match="unknown kinds"):
        load_mapping(bad)


class _OnePartition:
    """Just enough of a KafkaConsumer to serve fixed records of one partition."""

    def __init__(self, values):
        self.values, self.at = values, 0

    def assign(self, tps):
        (self.tp,) = tps

    def seek(self, tp, offset):
        self.at = offset

    def poll(self, timeout_ms, max_records):
        from types import SimpleNamespace

        batch = [SimpleNamespace(offset=o, timestamp=0, value=v) for o, v in enumerate(self.values) if o >= self.at]
        self.at = len(self.values)
        return {self.tp: batch} if batch else {}

    def position(self, tp):
        return self.at

    def close(self):
        pass


def test_bad_records_of_a_topic_range_name_their_topic_and_partition():
    good = next(r.value for r in merged([(INPUTS[0], "click")], {}) if r.error is None)
    consumer = _OnePartition([good, b"not json", b'{"event_id": "x"}'])
    records = [r for _, r in read_topic_partition(lambda: consumer, "src.clicks", 2, "click", KindMapping(), 0, 3,
                                                  None, None, 0)]
    assert [r.error and r.error[0] for r in records] == [None, "undecodable", "invalid"]
    assert {r.dead_letter_source for r in records} == {("src.clicks", 2)}
    assert [r.position for r in records] == [0, 1, 2]
    file_record = next(iter(merged([(INPUTS[0], "click")], {})))
    assert file_record.dead_letter_source == (f"file:{INPUTS[0]}", 0)


def shuffled_copies(tmp_path, seed=3):
    """The golden inputs exported customer by customer (sorted by user, then shuffled within)."""
    import random

    rng = random.Random(seed)
    out = []
    for path in INPUTS:
        lines = path.read_bytes().splitlines()
        rng.shuffle(lines)
        lines.sort(key=lambda line: line[line.find(b'"user_id"'):][:30])  # bad lines too, wherever they fall
        copy = tmp_path / path.name
        copy.write_bytes(b"".join(line + b"\n" for line in lines))
        out.append(copy)
    return out


def test_any_file_order_gives_the_same_event_time_order_in_memory_or_sorted_on_disk(tmp_path):
    expected = [r.value for r in merged([(p, kind_of_file(p)) for p in INPUTS], {}) if r.error is None]
    copies = shuffled_copies(tmp_path)
    for chunk in (1_000_000, 700):  # one in-memory sort; runs spilled to disk and merged
        got = [r.value for r in merged([(p, kind_of_file(p)) for p in copies], {}, chunk_records=chunk) if r.error is None]
        assert got == expected, chunk


def test_the_scan_counts_what_the_input_holds_before_anything_is_produced(tmp_path):
    from streams.offline.sources import InputScan

    scan = InputScan()
    records = merged([(p, kind_of_file(p)) for p in INPUTS], {}, scan)
    first = next(records)
    assert scan.records == count_lines([(p, kind_of_file(p)) for p in INPUTS], {})  # complete before the first record came out
    assert scan.rejected == 10 and scan.first_invalid and scan.repeated_ids == 0
    assert scan.first_ts == first.ts
    export = tmp_path / "purchases.jsonl"  # line items that all carry their product's id
    export.write_bytes(b"".join(orjson.dumps({"event_id": "sku-1", "user_id": "u1", "ts": 1_767_225_600_000 + i,
                                              "order_id": f"o{i}", "amount": 1, "currency": "EUR",
                                              "status": "completed"}) + b"\n" for i in range(5)))
    scan = InputScan()
    list(merged([(export, "purchase")], {}, scan))
    assert scan.repeated_ids == 4


def test_a_replay_refuses_a_mostly_rejected_input_in_one_line_before_producing(tmp_path):
    from dataclasses import replace

    from streams.offline.replay import Replay, ReplayRefused
    from streams.offline.sources import InputScan
    from streams.settings import Settings

    replay = Replay(replace(Settings(), max_rejected_share=0.01), INPUTS)
    scan = InputScan()
    list(merged([(p, kind_of_file(p)) for p in INPUTS], {}, scan))
    replay._judge(scan)  # 10 bad lines of 5,071: 0.2 %, accepted
    export = tmp_path / "clicks.csv"
    export.write_text("event_id,user_id,ts\n" + "".join(f"e{i},u{i},20260101\n" for i in range(20)))
    scan = InputScan()
    list(merged([(export, "click")], {}, scan))
    with pytest.raises(ReplayRefused) as refused:
        replay._judge(scan)
    message = str(refused.value)
    assert "\n" not in message and "20 of 20 records" in message and "clicks.csv:2 (invalid)" in message

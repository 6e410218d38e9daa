"""Event files and topic ranges in and out. Replay sources: exported files (JSONL or CSV) or topic
ranges read into validated input records, merged into one deterministic event-time order, with a
field mapping for exports whose names and formats differ from our contracts
(streams/offline/mapping.py). Also the JSONL files the simulator writes (one per kind, names
that ``kind_of_file`` reads back) and ground-truth files.

CSV cells are strings; they are converted to the types the contract (schemas/) gives each field,
and empty cells are treated as absent. A UTF-8 byte-order mark is ignored; a line that is not
UTF-8 is read as Windows-1252 unless the mapping names the file's encoding. Records that still do
not satisfy the contract come out with the reason, for the dead-letter topic.
"""

from __future__ import annotations

import csv
import hashlib
import heapq
import io
import pickle
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import orjson

from streams.contracts import ContractError, load_schema, validate, validator
from streams.core.events import INPUT_KINDS
from streams.offline.mapping import KindMapping, Mapping, RowError, apply, load_mapping, unmapped_columns

__all__ = ["KindMapping", "Mapping", "load_mapping"]

# What write_events names each kind's file; kind_of_file reads the kind back from the name.
FILE_STEM_OF_KIND = {"click": "clicks", "purchase": "purchases", "support_ticket": "tickets"}
FILE_PREFIXES = (("click", "click"), ("purchase", "purchase"), ("support_ticket", "support_ticket"),
                 ("ticket", "support_ticket"))


def kind_of_file(path: Path) -> str:
    name = path.name.lower()
    for prefix, kind in FILE_PREFIXES:
        if name.startswith(prefix):
            return kind
    raise ValueError(f"{path}: cannot tell the event kind from the name; pass --kind")


@dataclass(slots=True)
class SourceRecord:
    kind: str
    origin: str  # file path (or topic/partition for topic sources)
    position: int  # 0-based line (or offset)
    value: bytes  # the contract document to produce, or the raw input if invalid
    user_id: str = ""
    ts: int = -1
    event_id: str = ""
    error: tuple[str, str] | None = None  # (reason, detail) for the dead-letter topic
    source_topic: str = ""  # set for topic sources (origin is then "<topic>/<partition>")
    source_partition: int = 0
    table: bool = False  # a row of a delimited file with a header line (``position`` counts data rows)

    @property
    def line_number(self) -> int:
        """1-based line of a file record (a table's header is line 1), or the offset of a topic record."""
        if self.source_topic:
            return self.position
        return _line(self.position, self.table)

    @property
    def dead_letter_source(self) -> tuple[str, int]:
        """(source_topic, source_partition) as dead_letter.v1 names them: the topic, or file:<path>."""
        return (self.source_topic, self.source_partition) if self.source_topic else (f"file:{self.origin}", 0)


def _record(kind: str, origin: str, position: int, raw: bytes, doc: Any, mapping: KindMapping,
            from_text: bool) -> SourceRecord:
    headed = from_text and not mapping.columns  # line 1 is a header: data rows start at line 2
    try:
        if not isinstance(doc, dict):
            raise ContractError("invalid", "not a JSON object")
        if not (mapping.identity and not from_text):
            doc = apply(kind, doc, mapping, from_text)
            raw = orjson.dumps(doc)
        validate(kind, doc)
    except RowError as exc:
        return SourceRecord(kind, origin, position, raw, error=("invalid", f"row {_line(position, headed)}: {exc}"),
                            table=headed)
    except (ContractError, ValueError, TypeError, OverflowError) as exc:
        # The reason once: a ContractError's message repeats it before its detail.
        reason, detail = (exc.reason, exc.detail) if isinstance(exc, ContractError) else ("invalid", str(exc))
        return SourceRecord(kind, origin, position, raw, error=(reason, detail), table=headed)
    return SourceRecord(kind, origin, position, raw, doc["user_id"], int(doc["ts"]), doc["event_id"], table=headed)


Keyed = tuple[tuple[Any, ...], SourceRecord]

TABLE_SUFFIXES = (".csv", ".tsv")  # delimited text with a header line (or any file whose mapping sets a delimiter)
BOM = "\ufeff".encode()


def _line(position: int, table: bool) -> int:
    return position + (2 if table else 1)


def is_table(path: Path, mapping: KindMapping) -> bool:
    return path.suffix.lower() in TABLE_SUFFIXES or mapping.delimiter != "," or bool(mapping.columns)


def delimiter_of(path: Path, mapping: KindMapping) -> str | None:
    return "\t" if path.suffix.lower() == ".tsv" and mapping.delimiter == "," else mapping.delimiter


def header(path: Path, mapping: KindMapping) -> list[str]:
    """The columns of a delimited file: the mapping's ``columns``, or its header line."""
    if mapping.columns:
        return list(mapping.columns)
    for _, row, _ in read_rows(path, delimiter_of(path, mapping), limit=1, encoding=mapping.encoding):
        return list(row)
    return []


@dataclass
class Recoded:
    """Lines of a file read as Windows-1252 because they were not UTF-8 (no ``encoding`` given)."""

    lines: int = 0
    first: int = 0  # 1-based line number of the first

    def describe(self) -> str:
        return (f"{self.lines:,} line(s) not UTF-8, read as Windows-1252 (first: line {self.first}); "
                "if the export uses another encoding, name it: encoding = \"...\" in the mapping")


def _decoded_lines(f: Any, recoded: Recoded | None) -> Iterator[str]:
    """A binary file's lines as text, endings kept (as csv wants them): UTF-8, else Windows-1252
    (its five unassigned bytes as Latin-1). One accented product name in a legacy export must not
    fail the file, nor garble what the other lines say."""
    number = 0
    for raw in _byte_lines(f):
        number += 1
        if number == 1 and raw.startswith(BOM):
            raw = raw[len(BOM):]
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError:
            if recoded is not None:
                recoded.lines += 1
                recoded.first = recoded.first or number
            try:
                yield raw.decode("cp1252")
            except UnicodeDecodeError:
                yield raw.decode("latin-1")


_LONE_CR = re.compile(rb"(?<=\r)(?!\n)")


def _byte_lines(f: Any) -> Iterator[bytes]:
    """Lines ending in \\n, \\r\\n or a lone \\r (old spreadsheets on a Mac), endings kept, as
    text mode with ``newline=""`` splits them."""
    for raw in f:
        if b"\r" in raw.rstrip(b"\r\n"):
            yield from (piece for piece in _LONE_CR.split(raw) if piece)
        else:
            yield raw


def _text_lines(path: Path, encoding: str | None, recoded: Recoded | None) -> Iterator[str]:
    if encoding is None:
        with open(path, "rb") as f:
            yield from _decoded_lines(f, recoded)
        return
    # A named encoding, possibly multi-byte (UTF-16): the codec splits the lines. A byte it cannot
    # decode becomes U+FFFD in that cell, which the row's conversion then judges like any other value.
    with open(path, newline="", encoding=encoding, errors="replace") as f:
        for number, line in enumerate(f, 1):
            yield line[1:] if number == 1 and line.startswith("\ufeff") else line


def read_rows(path: Path, delimiter: str | None, limit: int | None = None, names: tuple[str, ...] = (),
              encoding: str | None = None, recoded: Recoded | None = None) -> Iterator[tuple[int, dict[str, str], str]]:
    """(0-based data row, column -> cell, the row's text) of a delimited file with a header line,
    or without one if its column ``names`` are given. ``delimiter`` None: columns are separated by
    runs of whitespace (fixed-width exports). A byte-order mark is dropped, so it never renames the
    first column. ``encoding`` None: UTF-8, lines that are not read as Windows-1252 (counted in
    ``recoded``)."""
    f = _text_lines(path, encoding, recoded)
    try:
        if delimiter is None:
            lines = (line for line in f if line.strip())
            columns = list(names) or next(lines, "").split()
            for i, line in enumerate(lines):
                if limit is not None and i >= limit:
                    return
                cells = line.split()
                yield i, dict(zip(columns, cells + [""] * (len(columns) - len(cells)))), line.rstrip("\r\n")
            return
        reader = csv.DictReader(f, fieldnames=list(names) or None, delimiter=delimiter)
        for i, row in enumerate(reader):
            if limit is not None and i >= limit:
                return
            text = io.StringIO()
            csv.writer(text, delimiter=delimiter).writerow(row.values())
            row.pop(None, None)  # cells beyond the header
            yield i, {k: v if v is not None else "" for k, v in row.items()}, text.getvalue().rstrip("\r\n")
    finally:
        f.close()


def read_file(path: Path, kind: str, mapping: KindMapping, file_index: int = 0,
              recoded: Recoded | None = None) -> Iterator[Keyed]:
    """The file's records, each with its merge key: (ts, kind rank, event id, file index, line).
    An invalid record takes the key of the valid record before it in its file, so it keeps its place.
    ``recoded`` counts a delimited file's lines that were not UTF-8 (read_rows)."""
    origin = str(path)
    rank = INPUT_KINDS.index(kind)
    last: tuple[Any, ...] = (-1, rank, "")
    if is_table(path, mapping):
        for i, row, text in read_rows(path, delimiter_of(path, mapping), names=mapping.columns,
                                      encoding=mapping.encoding, recoded=recoded):
            r = _record(kind, origin, i, text.encode(), row, mapping, True)
            if r.error is None:
                last = (r.ts, rank, r.event_id)
            yield (*last, file_index, i), r
        return
    fast = validator(kind).is_valid if mapping.identity else None
    loads = orjson.loads
    with open(path, "rb") as f:
        for i, line in enumerate(f):
            line = line.rstrip(b"\r\n")
            if i == 0 and line.startswith(BOM):
                line = line[len(BOM):]
            if not line.strip():
                continue
            try:
                doc = loads(line)
            except orjson.JSONDecodeError as exc:
                yield (*last, file_index, i), SourceRecord(kind, origin, i, line, error=("undecodable", f"not JSON: {exc}"))
                continue
            if fast is not None and type(doc) is dict and fast(doc):
                # The hot path: a valid record in our contract's own format, produced as read.
                r = SourceRecord(kind, origin, i, line, doc["user_id"], int(doc["ts"]), doc["event_id"])
            else:
                r = _record(kind, origin, i, line, doc, mapping, False)
            if r.error is None:
                last = (r.ts, rank, r.event_id)
            yield (*last, file_index, i), r


@dataclass
class InputScan:
    """What reading the input found, complete before the first record comes out of ``merged``
    (it reads everything to sort it): counts by outcome, repeated ids, the time range."""

    records: int = 0
    invalid: dict[str, int] = field(default_factory=dict)  # reason -> records
    first_invalid: str = ""  # "<origin>:<line> (<reason>)" of the first record that failed
    repeated_ids: int = 0  # valid records whose (user_id, event_id) an earlier record already had
    first_ts: int | None = None
    last_ts: int | None = None
    kinds: dict[str, int] = field(default_factory=dict)  # valid records per kind
    unmapped: dict[str, list[str]] = field(default_factory=dict)  # file -> columns that feed no field
    recoded: dict[str, Recoded] = field(default_factory=dict)  # file -> its lines that were not UTF-8
    _ids: set[bytes] = field(default_factory=set, repr=False)

    def add(self, record: "SourceRecord") -> None:
        self.records += 1
        if record.error is not None:
            reason = record.error[0]
            self.invalid[reason] = self.invalid.get(reason, 0) + 1
            if not self.first_invalid:
                self.first_invalid = f"{record.origin}:{record.line_number} ({reason})"
            return
        self.kinds[record.kind] = self.kinds.get(record.kind, 0) + 1
        key = hashlib.blake2b(f"{record.user_id}\x00{record.event_id}".encode(), digest_size=8).digest()
        if key in self._ids:
            self.repeated_ids += 1
        else:
            self._ids.add(key)
        self.first_ts = record.ts if self.first_ts is None else min(self.first_ts, record.ts)
        self.last_ts = record.ts if self.last_ts is None else max(self.last_ts, record.ts)

    @property
    def rejected(self) -> int:
        return sum(self.invalid.values())


SORT_CHUNK_RECORDS = 200_000  # records sorted in memory at a time; more go to sorted runs on disk


def merged(files: Iterable[tuple[Path, str]], mapping: Mapping, scan: InputScan | None = None,
           chunk_records: int = SORT_CHUNK_RECORDS) -> Iterator[SourceRecord]:
    """All files' records in one order: event time, kind, event id, then file and line, whatever
    order the files are in (exports are often sorted by customer, not by time). Inputs larger than
    ``chunk_records`` are sorted in runs on disk and merged (an external sort)."""
    files = list(files)
    if scan is not None:
        for path, kind in files:
            m = mapping.get(kind, KindMapping())
            if is_table(path, m):
                extra = unmapped_columns(kind, header(path, m), m)
                if extra:
                    scan.unmapped[str(path)] = extra
    recoded = scan.recoded if scan is not None else {}
    keyed = (item for i, (path, kind) in enumerate(files)
             for item in read_file(path, kind, mapping.get(kind, KindMapping()), i,
                                   recoded.setdefault(str(path), Recoded())))
    return sort_keyed(keyed, scan, chunk_records)


def sort_keyed(keyed: Iterable[Keyed], scan: InputScan | None = None,
               chunk_records: int = SORT_CHUNK_RECORDS) -> Iterator[SourceRecord]:
    """Records in the order of their keys (unique: they end with source index and position)."""
    with tempfile.TemporaryDirectory(prefix="churnguard-sort-") as tmp:
        runs: list[Path] = []
        chunk: list[Keyed] = []
        for item in keyed:
            if scan is not None:
                scan.add(item[1])
            chunk.append(item)
            if len(chunk) >= chunk_records:
                runs.append(_spill(sorted(chunk, key=_first), Path(tmp) / f"run-{len(runs)}"))
                chunk = []
        chunk.sort(key=_first)
        for _, record in heapq.merge(*(_read_run(run) for run in runs), iter(chunk), key=_first):
            yield record


def _first(item: Keyed) -> tuple[Any, ...]:
    return item[0]


def _spill(items: list[Keyed], path: Path) -> Path:
    with open(path, "wb") as f:
        for item in items:
            pickle.dump(item, f, protocol=pickle.HIGHEST_PROTOCOL)
    return path


def _read_run(path: Path) -> Iterator[Keyed]:
    with open(path, "rb") as f:
        while True:
            try:
                yield pickle.load(f)  # our own temporary file, written just above
            except EOFError:
                return


def count_lines(files: Iterable[tuple[Path, str]], mapping: Mapping) -> int:
    """Records to expect (for progress): non-empty lines, minus header lines."""
    total = 0
    for path, kind in files:
        with open(path, "rb") as f:
            total += sum(1 for line in f if line.strip())
        m = mapping.get(kind, KindMapping())
        if is_table(path, m) and not m.columns:
            total -= 1
    return total


def kind_of_topic(topic: str) -> str:
    name = topic.lower()
    for needle, kind in (("click", "click"), ("purchase", "purchase"), ("ticket", "support_ticket")):
        if needle in name:
            return kind
    raise ValueError(f"{topic}: cannot tell the event kind from the topic name; pass --kind")


def read_topic_partition(consumer_factory: Any, topic: str, partition: int, kind: str, mapping: KindMapping,
                         start: int, end: int, ts_from: int | None, ts_to: int | None,
                         source_index: int) -> Iterator[Keyed]:
    """Records of one source partition in offset order, offsets [start, end), optionally only those
    whose record timestamp is in [ts_from, ts_to)."""
    from kafka import TopicPartition

    if start >= end:
        return
    tp = TopicPartition(topic, partition)
    consumer = consumer_factory()
    try:
        consumer.assign([tp])
        consumer.seek(tp, start)
        origin = f"{topic}/{partition}"
        rank = INPUT_KINDS.index(kind)
        last: tuple[Any, ...] = (-1, rank, "")
        while True:
            batch = consumer.poll(timeout_ms=1000, max_records=5000).get(tp, [])
            if not batch and consumer.position(tp) >= end:
                return
            for msg in batch:
                if msg.offset >= end:
                    return
                if (ts_from is not None and msg.timestamp < ts_from) or (ts_to is not None and msg.timestamp >= ts_to):
                    continue
                raw = msg.value or b""
                try:
                    r = _record(kind, origin, msg.offset, raw, orjson.loads(raw), mapping, False)
                except orjson.JSONDecodeError as exc:
                    r = SourceRecord(kind, origin, msg.offset, raw, error=("undecodable", f"not JSON: {exc}"))
                r.source_topic, r.source_partition = topic, partition
                if r.error is None:
                    last = (r.ts, rank, r.event_id)
                yield (*last, source_index, msg.offset), r
                if msg.offset + 1 >= end:
                    return
    finally:
        consumer.close()


def write_events(directory: Path, records: Iterable[tuple[str, str, int, bytes]]) -> dict[str, int]:
    """One JSONL file per input topic (clicks.jsonl, purchases.jsonl, tickets.jsonl), in event-time order."""
    directory.mkdir(parents=True, exist_ok=True)
    handles = {kind: open(directory / f"{name}.jsonl", "wb") for kind, name in FILE_STEM_OF_KIND.items()}
    counts = dict.fromkeys(FILE_STEM_OF_KIND, 0)
    try:
        for kind, _, _, value in records:
            handles[kind].write(value + b"\n")
            counts[kind] += 1
    finally:
        for h in handles.values():
            h.close()
    return counts


def write_truth(path: Path, truths: Iterable[Any]) -> None:
    """One JSON line per ground-truth record (objects with ``to_dict()``, e.g. the simulator's Truth)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        for t in truths:
            f.write(orjson.dumps(t.to_dict()) + b"\n")


def read_truth(path: Path) -> dict[str, dict[str, Any]]:
    with open(path, "rb") as f:
        return {d["user_id"]: d for d in map(orjson.loads, f)}

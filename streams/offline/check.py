"""``churnguard replay --check``: what a mapping makes of an export, before anything is produced.

Reads the first rows of each file (or each topic partition of a range), and reports per source
the columns, the columns that feed nothing, the first mapped documents, the time range, counts
per kind and every problem with its row, reason and detail (raw values included: this is a
report for the person holding the file, not a log).
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import orjson

from streams.offline.mapping import KindMapping, Mapping, unmapped_columns
from streams.offline.sources import Recoded, header, is_table, read_file


# Quoted text in a row error other than a column's name: the raw values, which differ row by row.
_QUOTED = re.compile(r"(column )?('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")")


def _without_values(detail: str) -> str:
    return _QUOTED.sub(lambda m: m[0] if m[1] else "…", detail)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat(timespec="seconds")


def check_files(files: Iterable[tuple[Path, str]], mapping: Mapping, rows: int = 1000, show: int = 3) -> dict[str, Any]:
    report: dict[str, Any] = {"sources": [], "problems": 0}
    for index, (path, kind) in enumerate(files):
        m = mapping.get(kind, KindMapping())
        entry: dict[str, Any] = {"source": str(path), "kind": kind, "rows_read": 0, "valid": 0,
                                 "reasons": {}, "problems": [], "examples": []}
        if not path.exists():
            entry["problems"].append({"row": None, "reason": "missing", "detail": f"{path} does not exist"})
            report["sources"].append(entry)
            report["problems"] += 1
            continue
        if is_table(path, m):
            columns = header(path, m)
            entry["columns"] = columns
            entry["unmapped_columns"] = unmapped_columns(kind, columns, m)
        reasons: Counter[str] = Counter()
        first = last = None
        recoded = Recoded()
        for _, record in itertools.islice(read_file(path, kind, m, index, recoded), rows):
            entry["rows_read"] += 1
            if record.error is not None:
                reasons[record.error[0]] += 1
                entry["problems"].append({"row": record.line_number, "reason": record.error[0],
                                          "detail": record.error[1][:500], "raw": record.value[:200].decode("utf-8", "replace")})
                continue
            entry["valid"] += 1
            first = record.ts if first is None else min(first, record.ts)
            last = record.ts if last is None else max(last, record.ts)
            if len(entry["examples"]) < show:
                entry["examples"].append(orjson.loads(record.value))
        if recoded.lines:  # read, and said: not a problem of any row
            entry["note"] = recoded.describe()
        entry["reasons"] = dict(reasons)
        entry["time_range"] = [_iso(first), _iso(last)] if first is not None else None
        report["problems"] += len(entry["problems"])
        report["sources"].append(entry)
    return report


def render(report: dict[str, Any]) -> str:
    lines = []
    for s in report["sources"]:
        lines.append(f"{s['source']} ({s['kind']}): {s['valid']} of {s['rows_read']} rows read map to valid events")
        if "columns" in s:
            lines.append(f"  columns: {', '.join(s['columns'])}")
            if s["unmapped_columns"]:
                lines.append(f"  feed no field (add them to 'attributes' to keep them): {', '.join(s['unmapped_columns'])}")
        if s.get("note"):
            lines.append(f"  note: {s['note']}")
        if s.get("time_range"):
            lines.append(f"  event time: {s['time_range'][0]} .. {s['time_range'][1]} (UTC)")
        for doc in s["examples"]:
            lines.append(f"  -> {orjson.dumps(doc).decode()}")
        # Rows failing the same way are one line (a guest-checkout export leaves a quarter of its
        # rows without a customer): the first row's own words, and how many more.
        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for p in s["problems"]:
            where = f"row {p['row']}" if p["row"] is not None else "file"
            detail = p["detail"].removeprefix(f"{where}: ")  # a row error names its row itself
            groups.setdefault((p["reason"], _without_values(detail)), []).append({**p, "detail": detail})
        for (reason, _), members in groups.items():
            first = members[0]
            where = f"row {first['row']}" if first["row"] is not None else "file"
            if len(members) > 1:
                where += f" and {len(members) - 1:,} more like it"
            lines.append(f"  ! {where}: {reason}: {first['detail']}")
    lines.append(f"{report['problems']} problem(s)")
    return "\n".join(lines) + "\n"

"""JSONL files of simulated events and ground truth."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import orjson

from streams.simulator import TOPIC_OF_KIND, Truth


def write_events(directory: Path, records: Iterable[tuple[str, str, int, bytes]]) -> dict[str, int]:
    """One JSONL file per input topic (clicks.jsonl, purchases.jsonl, tickets.jsonl), in event-time order."""
    directory.mkdir(parents=True, exist_ok=True)
    handles = {kind: open(directory / f"{name}.jsonl", "wb") for kind, name in TOPIC_OF_KIND.items()}
    counts = dict.fromkeys(TOPIC_OF_KIND, 0)
    try:
        for kind, _, _, value in records:
            handles[kind].write(value + b"\n")
            counts[kind] += 1
    finally:
        for h in handles.values():
            h.close()
    return counts


def write_truth(path: Path, truths: Iterable[Truth]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        for t in truths:
            f.write(orjson.dumps(t.to_dict()) + b"\n")


def read_truth(path: Path) -> dict[str, dict[str, Any]]:
    with open(path, "rb") as f:
        return {d["user_id"]: d for d in map(orjson.loads, f)}

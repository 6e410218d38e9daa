"""A partition's durable counters (applied, duplicates, late, labels, alerts, ...). Pure.

They live in the partition state, so they survive restarts and metrics stay monotonic.
"""

from __future__ import annotations


class Counters:
    def __init__(self, values: dict[str, int]) -> None:
        self.values = values

    def add(self, name: str, n: int = 1) -> None:
        self.values[name] = self.values.get(name, 0) + n

    def get(self, name: str) -> int:
        return self.values.get(name, 0)

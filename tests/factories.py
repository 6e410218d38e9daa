"""Small builders of valid input events for tests."""

from __future__ import annotations

from itertools import count
from typing import Any

from streams.contracts import validate
from streams.core.events import Event
from streams.core.events import DAY_MS
from streams.core.features import DAY_STRIDE

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
HOUR = 3_600_000
_ids = count()


def at(day: float, hour: float = 12.0) -> int:
    return T0 + int(day * DAY_MS + hour * HOUR)


def _event(kind: str, doc: dict[str, Any]) -> Event:
    validate(kind, doc)
    return Event(kind, doc["event_id"], doc["user_id"], doc["ts"], doc)


def click(user: str, ts: int, session: str = "s1", action: str = "view", event_id: str | None = None,
          category: str = "home") -> Event:
    return _event("click", {"event_id": event_id or f"c{next(_ids)}", "user_id": user, "ts": ts,
                            "session_id": session, "action": action, "page": f"/{category}/1", "category": category})


def purchase(user: str, ts: int, amount: float = 20.0, discount: float = 0.0, status: str = "completed",
             event_id: str | None = None, order_id: str | None = None) -> Event:
    """An order (its own order_id unless given: records sharing one are lines of one order)."""
    event_id = event_id or f"p{next(_ids)}"
    return _event("purchase", {"event_id": event_id, "user_id": user, "ts": ts,
                               "order_id": order_id or f"o-{event_id}", "amount": amount, "currency": "EUR",
                               "discount": discount, "status": status})


def ticket(user: str, ts: int, status: str = "opened", ticket_id: str = "t1", csat: int | None = None,
           event_id: str | None = None, category: str = "complaint") -> Event:
    doc = {"event_id": event_id or f"t{next(_ids)}", "user_id": user, "ts": ts, "ticket_id": ticket_id,
           "status": status, "category": category, "priority": "high"}
    if csat is not None:
        doc["csat"] = csat
    return _event("support_ticket", doc)


def seeded(table):
    """Most come back within days, fewer after weeks, some never: risk climbs over a few weeks."""
    for n in (1, 2, 3, 4, 5, 7, 10, 15):  # one user count of each class
        for gap in range(1, 120):
            for _ in range(int(3000 * 0.5**gap + 80 * 0.85**gap)):
                table.add(n, 0, gap, True)
        for _ in range(60):
            table.add(n, 0, 300, False)
    table.refresh()


class Disk:
    """Stored user records by id: what a UserCache reads users back from."""

    def __init__(self, records):
        self.records = dict(records)

    def get(self, uid):
        return self.records.get(uid)

    def items(self):
        return iter(list(self.records.items()))


def document_with_day_columns(doc: dict[str, Any]) -> dict[str, Any]:
    """A user document as releases until 2026-12-07 (afternoon) wrote it: the day numbers under
    "dd" and their buckets under "db" instead of one flat list under "dy"."""
    flat = doc["dy"]
    columns = {"dd": flat[::DAY_STRIDE], "db": [flat[at + 1:at + DAY_STRIDE] for at in range(0, len(flat), DAY_STRIDE)]}
    return {k: v for k, v in doc.items() if k != "dy"} | columns


def document_before_2026_12_07(doc: dict[str, Any]) -> dict[str, Any]:
    """A user document as releases before 2026-12-07 wrote it: its days as rows of [day, *bucket]."""
    columns = document_with_day_columns(doc)
    rows = {"d": [[day, *bucket] for day, bucket in zip(columns["dd"], columns["db"])]}
    return {k: v for k, v in columns.items() if k not in ("dd", "db")} | rows


def document_with_float_counts(doc: dict[str, Any]) -> dict[str, Any]:
    """A user document as releases from 2026-12-06 (night) to 2026-12-07 (morning) wrote it: its
    days in columns (document_with_day_columns), every slot a float."""
    columns = document_with_day_columns(doc)
    return columns | {"db": [[float(v) for v in bucket] for bucket in columns["db"]]}


def document_before_2026_12_06(doc: dict[str, Any]) -> dict[str, Any]:
    """A user document as releases before 2026-12-06 wrote it: rows (document_before_2026_12_07)
    without their trailing zeros and with whole numbers as ints (what streams/core/features.py's
    ``_pack`` did)."""
    def packed(row: list[float]) -> list[float]:
        width = len(row)
        while width > 1 and not row[width - 1]:
            width -= 1
        return [row[0], *(int(v) if float(v).is_integer() and abs(v) < 2**53 else v for v in row[1:width])]

    rows = document_before_2026_12_07(doc)
    return rows | {"d": [packed(row) for row in rows["d"]]}

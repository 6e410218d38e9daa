"""A seeded, deterministic population with a latent churn process.

Each user has a base engagement rate and, for some, a churn driver that the events show:
- ``service``: a bad support episode (slow responses, reopened tickets, low CSAT, errors), then decline;
- ``price``: buys mostly with discounts; when offers dry up their spend and visits fade;
- ``fading``: engagement slowly declines for no visible reason other than the activity itself;
- ``unsettled``: a new user who never forms a habit.
Users move engaged -> declining -> silent (absorbing). Some declining users recover. The ground
truth (who went silent when) is written separately and never read by the pipeline.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, Iterator

from streams.core.events import Event
from streams.core.events import DAY_MS

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
CATEGORIES = ("home", "fashion", "electronics", "books", "sports", "beauty", "toys", "garden")
ACTIONS = (("view", 60), ("search", 10), ("login", 4), ("add_to_cart", 6), ("like", 6), ("comment", 2),
           ("share", 2), ("favourite", 3), ("review", 1))
TICKET_CATEGORIES = ("question", "billing", "technical", "complaint", "other")


@dataclass(frozen=True)
class SimConfig:
    users: int = 2000
    days: int = 90
    seed: int = 7
    start_ms: int = START_MS
    bad_rate: float = 0.0005  # share of records replaced by malformed ones (exercises the dead-letter path)


@dataclass
class Truth:
    user_id: str
    driver: str
    signup_ts: int
    churned: bool
    churn_ts: int | None  # start of the final silence
    decline_ts: int | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _weighted(rng: random.Random, table: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([a for a, _ in table], weights=[w for _, w in table])[0]


class _User:
    def __init__(self, cfg: SimConfig, index: int) -> None:
        self.rng = rng = random.Random(f"{cfg.seed}:{index}")
        self.cfg = cfg
        self.uid = f"u{index:06d}"
        self.new = rng.random() < 0.3
        self.signup_day = rng.randrange(0, max(cfg.days - 7, 1)) if self.new else 0
        self.rate = min(max(rng.lognormvariate(math.log(0.8), 0.6), 0.1), 4.0)
        self.pages = rng.uniform(2.0, 6.0)
        self.buy_p = rng.uniform(0.04, 0.14)
        self.favourites = rng.sample(CATEGORIES, 3)
        self.driver = "none"
        self.decline_day: int | None = None
        roll = rng.random()
        if self.new and roll < 0.45:
            self.driver = "unsettled"
            self.decline_day = self.signup_day + rng.randrange(2, 14)
        elif roll < 0.12:
            self.driver = "service"
        elif roll < 0.24:
            self.driver = "price"
        elif roll < 0.38:
            self.driver = "fading"
        if self.driver in ("service", "price", "fading"):
            self.trigger_day = self.signup_day + rng.randrange(5, cfg.days + 20)
            self.decline_day = self.trigger_day + (rng.randrange(2, 10) if self.driver == "service" else 0)
        self.decline_len = rng.randrange(5, 25) if self.driver != "fading" else rng.randrange(15, 40)
        self.discount_p = 0.85 if self.driver == "price" else 0.15
        self.recovered = False
        self.churn_day: int | None = None
        self.n = 0
        self.session = 0

    def _eid(self, kind: str) -> str:
        self.n += 1
        return f"{self.uid}-{kind[0]}{self.n}"

    def _multiplier(self, day: int) -> float:
        if self.decline_day is None or day < self.decline_day or self.recovered:
            return 1.0
        progress = (day - self.decline_day) / self.decline_len
        if progress >= 1.0:
            if self.churn_day is None:
                self.churn_day = day
            return 0.0
        if self.rng.random() < 0.012:  # some declining users recover
            self.recovered = True
            return 1.0
        return max(1.0 - 0.9 * progress, 0.05) * 0.7

    def events(self) -> Iterator[dict[str, Any]]:
        cfg, rng = self.cfg, self.rng
        for day in range(self.signup_day, cfg.days):
            mult = self._multiplier(day)
            day_ms = cfg.start_ms + day * DAY_MS
            if self.driver == "service" and day == getattr(self, "trigger_day", -1):
                yield from self._bad_support(day_ms)
            elif rng.random() < 0.004 and mult > 0:
                yield from self._ticket(day_ms + rng.randrange(8, 20) * 3_600_000, good=True)
            if mult == 0.0:
                continue
            for _ in range(_poisson(rng, self.rate * mult)):
                yield from self._session(day_ms + int(rng.uniform(6, 23.5) * 3_600_000), day)

    def _session(self, t: int, day: int) -> Iterator[dict[str, Any]]:
        rng = self.rng
        self.session += 1
        sid = f"{self.uid}-s{self.session}"
        declining = self.decline_day is not None and day >= self.decline_day and not self.recovered
        for _ in range(max(1, _poisson(rng, self.pages * (0.6 if declining else 1.0)))):
            category = rng.choice(self.favourites) if rng.random() < 0.8 else rng.choice(CATEGORIES)
            error_p = 0.08 if self.driver == "service" and declining else 0.01
            action = "error" if rng.random() < error_p else _weighted(rng, ACTIONS)
            duration = int(rng.expovariate(1 / 40_000))
            yield {"event_id": self._eid("click"), "user_id": self.uid, "ts": t, "session_id": sid,
                   "action": action, "page": f"/{category}/{rng.randrange(1, 500)}", "category": category,
                   "duration_ms": duration, "_kind": "click"}
            t += duration + rng.randrange(1_000, 20_000)
        offers_gone = self.driver == "price" and declining
        if rng.random() < self.buy_p * (0.3 if offers_gone else 1.0):
            amount = round(rng.lognormvariate(math.log(35), 0.7), 2)
            discount = round(amount * rng.uniform(0.1, 0.3), 2) if rng.random() < self.discount_p and not offers_gone else 0.0
            order = self._eid("order")
            yield {"event_id": self._eid("purchase"), "user_id": self.uid, "ts": t, "order_id": order,
                   "amount": amount, "currency": "EUR", "discount": discount, "status": "completed", "_kind": "purchase"}
            refund_p = 0.15 if self.driver == "service" and declining else 0.03
            if rng.random() < refund_p:
                yield {"event_id": self._eid("purchase"), "user_id": self.uid, "ts": t + rng.randrange(1, 5) * DAY_MS,
                       "order_id": order, "amount": amount, "currency": "EUR", "discount": discount,
                       "status": rng.choice(("refunded", "cancelled")), "_kind": "purchase"}

    def _ticket(self, t: int, good: bool, category: str | None = None) -> Iterator[dict[str, Any]]:
        rng = self.rng
        tid = self._eid("ticket")
        category = category or rng.choice(TICKET_CATEGORIES)
        priority = rng.choice(("low", "normal", "normal", "high")) if good else rng.choice(("high", "urgent"))

        def ev(status: str, ts: int, **extra: Any) -> dict[str, Any]:
            return {"event_id": self._eid("support_ticket"), "user_id": self.uid, "ts": ts, "ticket_id": tid,
                    "status": status, "category": category, "priority": priority, "_kind": "support_ticket", **extra}

        yield ev("opened", t)
        t += rng.randrange(1, 8) * 3_600_000 if good else rng.randrange(2, 6) * DAY_MS
        yield ev("responded", t)
        t += rng.randrange(2, 24) * 3_600_000 if good else rng.randrange(2, 8) * DAY_MS
        yield ev("resolved", t)
        if not good and rng.random() < 0.5:
            t += rng.randrange(1, 3) * DAY_MS
            yield ev("reopened", t)
            t += rng.randrange(2, 6) * DAY_MS
            yield ev("resolved", t)
        t += rng.randrange(1, 48) * 3_600_000
        yield ev("closed", t, csat=rng.choice((4, 5, 5, 3)) if good else rng.choice((1, 1, 2, 2, 3)))

    def _bad_support(self, day_ms: int) -> Iterator[dict[str, Any]]:
        for k in range(self.rng.randrange(1, 4)):
            category = self.rng.choice(("complaint", "technical", "billing"))
            yield from self._ticket(day_ms + k * DAY_MS + 10 * 3_600_000, good=False, category=category)

    def truth(self) -> Truth:
        cfg = self.cfg
        churned = self.churn_day is not None
        return Truth(
            self.uid, self.driver, cfg.start_ms + self.signup_day * DAY_MS, churned,
            cfg.start_ms + self.churn_day * DAY_MS if churned else None,  # type: ignore[operator]
            cfg.start_ms + self.decline_day * DAY_MS if self.decline_day is not None and self.decline_day < cfg.days else None,
        )


def simulate(cfg: SimConfig) -> tuple[list[dict[str, Any]], list[Truth]]:
    """All events of the population in event-time order (each carries ``_kind``), and the truth."""
    events: list[dict[str, Any]] = []
    truths = []
    end_ms = cfg.start_ms + cfg.days * DAY_MS
    for i in range(cfg.users):
        user = _User(cfg, i)
        events.extend(e for e in user.events() if e["ts"] < end_ms)
        truths.append(user.truth())
    events.sort(key=lambda e: (e["ts"], e["event_id"]))
    return events, truths


def serialise(events: list[dict[str, Any]], cfg: SimConfig) -> list[tuple[str, str, int, bytes]]:
    """(kind, user_id, ts, bytes) per event; a ``bad_rate`` share become malformed records
    (deterministically): truncated JSON, or a document without ``user_id``."""
    import orjson

    rng = random.Random(f"{cfg.seed}:bad")
    out = []
    for e in events:
        kind = e["_kind"]
        doc = {k: v for k, v in e.items() if k != "_kind"}
        if rng.random() < cfg.bad_rate:
            if rng.random() < 0.5:
                out.append((kind, e["user_id"], e["ts"], orjson.dumps(doc)[:-7]))
            else:
                doc.pop("user_id")
                out.append((kind, e["user_id"], e["ts"], orjson.dumps(doc)))
        else:
            out.append((kind, e["user_id"], e["ts"], orjson.dumps(doc)))
    return out


def as_events(simulated: list[dict[str, Any]]) -> list[Event]:
    """Simulated events as the engine receives them after decoding (all valid: use bad_rate=0)."""
    return [Event(e["_kind"], e["event_id"], e["user_id"], e["ts"], {k: v for k, v in e.items() if k != "_kind"})
            for e in simulated]

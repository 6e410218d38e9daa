"""The one settings object, read from the environment (prefix ``CHURNGUARD_``)."""

from __future__ import annotations

import os
import tomllib
from importlib.resources import files
from pathlib import Path
from dataclasses import dataclass, field, fields
from typing import Mapping

from streams.core.alerts import ActionTable, AlertPolicy
from streams.core.engine import EngineConfig
from streams.core.events import DAY_MS



def _parse_tiers(text: str) -> tuple[tuple[str, float], ...]:
    """``"watch:0.2,high:0.05"`` -> (("watch", 0.2), ("high", 0.05)): each tier is the top share of
    the customers active within the horizon by current risk, from the largest share (lowest tier) down."""
    tiers = []
    for part in text.split(","):
        name, _, value = part.strip().partition(":")
        tiers.append((name.strip(), float(value)))
    tiers.sort(key=lambda t: -t[1])
    if not tiers or any(not 0.0 < t[1] < 1.0 for t in tiers):
        raise ValueError(f"alert tiers need population shares in (0, 1): {text!r}")
    return tuple(tiers)


@dataclass(frozen=True)
class Settings:
    # Broker: a bootstrap address; empty means "start the embedded broker" for commands that can.
    broker: str = ""
    # "tansu" turns on the embedded broker's compatibility code (streams/kafka/compat.py); "kafka" is real Kafka.
    broker_flavor: str = "kafka"
    app_id: str = "churnguard"
    topic_clicks: str = "churnguard.clicks.v1"
    topic_purchases: str = "churnguard.purchases.v1"
    topic_tickets: str = "churnguard.support_tickets.v1"
    topic_alerts: str = "churnguard.outreach_alerts.v1"
    topic_dead_letter: str = "churnguard.dead_letter.v1"
    topic_holdout: str = "churnguard.holdout_alerts.v1"
    topic_outcomes: str = "churnguard.outreach_outcomes.v1"
    topic_model_quality: str = "churnguard.model_quality.v1"
    topic_erasure_requests: str = "churnguard.erasure_requests.v1"
    topic_erasure_audit: str = "churnguard.erasure_audit.v1"
    partitions: int = 4
    # Labels: a snapshot at t is "churned" if the user shows no activity in (t, t + H].
    label_horizon_days: int = 30
    # How far behind the partition's event-time frontier an event may arrive and still count.
    allowed_lateness_ms: int = 3_600_000
    # An event dated more than this after its record's broker timestamp is dead-lettered as
    # 'future' (a bad clock must not move event time); keep it below the allowed lateness.
    max_clock_skew_ms: int = 300_000
    # A caught-up source partition with no record for this long (wall clock) stops holding the
    # watermark back (liveness when a topic goes quiet; a replayed backlog is never idle).
    source_idle_s: float = 5.0
    # Backfill mode (finite input): once every source is idle, release everything received
    # instead of holding back the allowed lateness, so the run ends fully processed.
    drain_when_idle: bool = False
    # A replay or backfill in which more than this share of the input is rejected (fails its
    # contract; for a backfill also late or future) stops with an error saying why.
    max_rejected_share: float = 0.01
    # Alert tiers, "name:share,...": each tier holds at most that share of the partition's customers
    # active within the horizon, those of highest current risk (thresholds follow the population,
    # recomputed daily, each at least 0.05 of risk above the tier below).
    alert_tiers: tuple[tuple[str, float], ...] = field(
        default_factory=lambda: _parse_tiers("watch:0.15,high:0.07,critical:0.02")
    )
    # No tier's risk threshold goes below this (a tier of customers more likely to stay than go
    # would be noise), however the population is spread.
    alert_min_risk: float = 0.5
    # Daily contact budget: per partition and day, at most this share of its customers active within
    # the horizon is alerted (at least one), highest priority first; the rest wait for a later day.
    alert_daily_budget_share: float = 0.005
    # A tier re-arms once the score falls below its threshold minus this margin.
    alert_rearm_margin: float = 0.1
    # Per user: no new alert within the cool-down unless it escalates; at most N alerts per period.
    alert_cooldown_days: int = 7
    alert_max_per_period: int = 3
    alert_cap_period_days: int = 30
    # priority = risk x (spend over 90 days + base value)
    alert_base_value: float = 10.0
    # Control group: this share of users (stable hash of salt and user id) is held out.
    holdout_share: float = 0.1
    holdout_salt: str = "churnguard-holdout-1"
    # The action table (TOML: an action and channel per driver); empty: the one shipped in the
    # package (streams/defaults/actions.toml).
    actions_file: str = ""
    # The River model scores once it has learned this many labels (of both classes); the heuristic before.
    model_min_labels: int = 2000
    # logreg | logreg_balanced | hat | arf (streams/core/scoring.py; the evidence: docs/model.md)
    model_kind: str = "logreg"
    # I/O batching only (never logic): flush state/acks after this many events or this many seconds.
    flush_every_events: int = 2000
    flush_interval_s: float = 0.5
    web_port: int = 6066
    web_host: str = "127.0.0.1"  # the address the status page binds to (0.0.0.0 in a container)
    # /debug/* (per-user state: ids and features) only when asked for: tests and local diagnosis.
    web_debug: bool = False
    log_format: str = "auto"  # auto | json | console
    log_level: str = "info"
    data_dir: str = "./out/worker-data"

    @property
    def input_topics(self) -> tuple[str, str, str]:
        return (self.topic_clicks, self.topic_purchases, self.topic_tickets)

    @property
    def label_horizon_ms(self) -> int:
        return self.label_horizon_days * DAY_MS

    def engine_config(self) -> EngineConfig:
        """What the pure engine needs of these settings (reads the action table file)."""
        policy = AlertPolicy(
            self.alert_tiers, self.alert_rearm_margin, self.alert_cooldown_days * DAY_MS, self.alert_max_per_period,
            self.alert_cap_period_days * DAY_MS, self.alert_base_value, self.holdout_share, self.holdout_salt,
            load_action_table(self.actions_file), self.alert_min_risk, self.alert_daily_budget_share)
        return EngineConfig(self.label_horizon_ms, self.allowed_lateness_ms, self.model_min_labels,
                            policy, self.model_kind, self.drain_when_idle, self.max_clock_skew_ms)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> "Settings":
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(f"CHURNGUARD_{f.name.upper()}")
            if raw is None:
                continue
            try:
                values[f.name] = _parse(f.name, str(f.type), raw)
            except ValueError as exc:
                raise ValueError(f"CHURNGUARD_{f.name.upper()}={raw!r}: {exc}") from None
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    def to_env(self) -> dict[str, str]:
        """The environment that reproduces these settings in a child process."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "alert_tiers":
                value = ",".join(f"{n}:{t}" for n, t in value)
            out[f"CHURNGUARD_{f.name.upper()}"] = str(value)
        return out


def _parse(name: str, kind: str, raw: str) -> object:
    if name == "alert_tiers":
        return _parse_tiers(raw)
    if kind == "int":
        return int(raw)
    if kind == "float":
        return float(raw)
    if kind == "bool":
        value = raw.strip().lower()
        if value not in ("1", "true", "yes", "on", "0", "false", "no", "off", ""):
            raise ValueError("not a boolean (true/false)")
        return value in ("1", "true", "yes", "on")
    return raw


def load_action_table(path: str | Path) -> ActionTable:
    """The table at ``path``, or the package's default (streams/defaults/actions.toml) when it is empty."""
    if not str(path):
        return ActionTable.parse(tomllib.loads((files("streams") / "defaults" / "actions.toml").read_text()), "actions.toml")
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ValueError(f"CHURNGUARD_ACTIONS_FILE={path}: {exc.strerror}") from None
    return ActionTable.parse(tomllib.loads(text), str(path))

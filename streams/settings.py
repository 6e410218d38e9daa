"""The one settings object, read from the environment (prefix ``CHURNGUARD_``)."""

from __future__ import annotations

import os
import tomllib
from importlib.resources import files
from pathlib import Path
from dataclasses import dataclass, field, fields
from typing import Any, Mapping

from streams.core.alerts import ActionTable, AlertPolicy
from streams.core.engine import EngineConfig
from streams.core.events import DAY_MS



def _parse_tiers(text: str) -> tuple[tuple[str, float], ...]:
    """``"watch:0.5,high:0.7"`` -> (("watch", 0.5), ("high", 0.7)): each tier holds the customers whose
    churn risk (a probability) is at least its risk, from the lowest tier up."""
    tiers = []
    for part in text.split(","):
        name, _, value = part.strip().partition(":")
        tiers.append((name.strip(), float(value)))
    tiers.sort(key=lambda t: t[1])
    if not tiers or any(not 0.0 < t[1] < 1.0 for t in tiers) or len({t[1] for t in tiers}) < len(tiers):
        raise ValueError(f"alert tiers need distinct risks in (0, 1): {text!r}")
    return tuple(tiers)


def setting(default: object, doc: str) -> Any:
    """A settings field with its meaning, which the settings reference (docs/settings.md,
    ``churnguard settings``) prints beside its variable, type and default."""
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class Settings:
    broker: str = setting("", "Bootstrap address `host:port`. Empty: commands that can (`replay --backfill`, `demo`) start the embedded broker.")
    broker_flavor: str = setting("kafka", "`kafka` for Apache Kafka; `tansu` turns on the embedded broker's compatibility code (streams/kafka/compat.py).")
    broker_connect_timeout_s: float = setting(30.0, "Commands that need the broker give up after this long without an answer, in one line naming the address.")
    broker_security_protocol: str = setting("PLAINTEXT", "`PLAINTEXT`, `SSL` (TLS), `SASL_PLAINTEXT` or `SASL_SSL`: for every client (worker, admin, replay, tools); streams/kafka/security.py.")
    broker_ssl_ca_file: str = setting("", "CA bundle (PEM) that signed the brokers' certificates. Empty: the system's CAs.")
    broker_ssl_cert_file: str = setting("", "Client certificate (PEM) for mutual TLS, with `broker_ssl_key_file`.")
    broker_ssl_key_file: str = setting("", "Client private key (PEM) for mutual TLS.")
    broker_ssl_key_password: str = setting("", "Password of the client key, if it has one.")
    broker_ssl_key_password_file: str = setting("", "A file holding that password (a mounted Secret); wins over the inline value.")
    broker_ssl_check_hostname: bool = setting(True, "Check that the broker's certificate names the host we connect to (the chain is verified either way).")
    broker_sasl_mechanism: str = setting("SCRAM-SHA-512", "`PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512` (with a SASL protocol).")
    broker_sasl_username: str = setting("", "SASL user name.")
    broker_sasl_password: str = setting("", "SASL password (prefer `broker_sasl_password_file`).")
    broker_sasl_password_file: str = setting("", "A file holding the SASL password (a mounted Secret); wins over the inline value.")
    replication_factor: int = setting(1, "Replication factor of the topics we create and of the tables' changelogs (3 in production, 1 on the embedded broker).")
    min_insync_replicas: int = setting(1, "`min.insync.replicas` of the topics we create (2 with a replication factor of 3).")
    app_id: str = setting("churnguard", "Faust application id: the consumer group and the prefix of the tables' changelog topics.")
    topic_clicks: str = setting("churnguard.clicks.v1", "Input topic of clicks (schemas/click.v1.json).")
    topic_purchases: str = setting("churnguard.purchases.v1", "Input topic of purchases (schemas/purchase.v1.json).")
    topic_tickets: str = setting("churnguard.support_tickets.v1", "Input topic of support tickets (schemas/support_ticket.v1.json).")
    topic_alerts: str = setting("churnguard.outreach_alerts.v1", "Outreach alerts of the treatment arm (schemas/outreach_alert.v1.json).")
    topic_dead_letter: str = setting("churnguard.dead_letter.v1", "Rejected records with a reason (schemas/dead_letter.v1.json).")
    topic_holdout: str = setting("churnguard.holdout_alerts.v1", "Alerts of the control arm: recorded, never sent to outreach.")
    topic_outcomes: str = setting("churnguard.outreach_outcomes.v1", "What downstream did with each alert (schemas/outreach_outcome.v1.json).")
    topic_model_quality: str = setting("churnguard.model_quality.v1", "Model quality per partition and day boundary (schemas/model_quality.v1.json).")
    topic_erasure_requests: str = setting("churnguard.erasure_requests.v1", "Requests to erase a user (schemas/erasure_request.v1.json).")
    topic_erasure_audit: str = setting("churnguard.erasure_audit.v1", "One audit record per completed erasure (schemas/erasure_audit.v1.json).")
    topic_life_table: str = setting("churnguard.life_table.v1", "Internal: each partition's life-table counts, read whole by every worker, so all partitions score with one table (streams/core/peers.py).")
    partitions: int = setting(4, "Partitions of the topics and tables; they bound how many workers share the work. Each partition's model learns from its own customers' labels; the life table and the scoring model (the partitions' regressions pooled) are shared (peer_lag_days; docs/operations.md, 'Scaling out').")
    peer_lag_days: int = setting(1, "One life table and one scoring model for all partitions: every partition scores with all partitions' counts and regressions as of this many event-time days before, waiting for them (streams/core/peers.py); 0: each partition's own table and model, no waiting.")
    label_horizon_days: int = setting(30, "H: a snapshot at t is 'churned' if the user shows no activity in (t, t + H]; `churnguard horizon` proposes one from the data.")
    allowed_lateness_ms: int = setting(3_600_000, "How far behind its partition's event-time frontier an event may arrive and still count.")
    max_clock_skew_ms: int = setting(300_000, "An event dated more than this after its record's broker timestamp is dead-lettered as 'future' (a bad clock must not move event time); keep it below the allowed lateness.")
    source_idle_s: float = setting(5.0, "A caught-up source partition with no record for this long (wall clock) stops holding the watermark back (a replayed backlog is never idle).")
    drain_when_idle: bool = setting(False, "Backfill mode (finite input): once every source is idle, release everything received instead of holding back the allowed lateness.")
    max_rejected_share: float = setting(0.01, "A replay or backfill in which more than this share of the input is rejected stops with an error saying why.")
    alert_tiers: tuple[tuple[str, float], ...] = field(
        default_factory=lambda: _parse_tiers("watch:0.5,high:0.7,critical:0.85"),
        metadata={"doc": "Tiers as `name:risk,...`: a customer is in the highest tier whose risk (the probability of no activity within the horizon) the current score reaches, so a tier means the same churn rate on every day."})
    alert_population_share: float = setting(0.15, "Only this top share of the partition's customers active within the horizon, by current risk, may be alerted (recomputed daily): the alert list stays short whatever the base rate.")
    alert_daily_budget_share: float = setting(0.005, "Per partition and day, this share of its customers active within the horizon is alerted on average (exactly over any run of days: a small partition gets one alert every few days), highest priority first; the rest wait for a later day.")
    alert_rearm_margin: float = setting(0.1, "A tier re-arms once the risk falls below its threshold minus this margin.")
    alert_cooldown_days: int = setting(7, "Per user: no new alert within this many days of the last one, unless it escalates.")
    alert_max_per_period: int = setting(3, "Per user: at most this many alerts per `alert_cap_period_days`.")
    alert_cap_period_days: int = setting(30, "The period of `alert_max_per_period`.")
    alert_base_value: float = setting(10.0, "priority = risk x (spend over 90 days + this): users who have not bought yet still rank by risk.")
    holdout_share: float = setting(0.1, "Share of users (stable hash of salt and user id) held out as the control group.")
    holdout_salt: str = setting("churnguard-holdout-1", "Salt of the control-group hash; a new salt draws a new control group.")
    actions_file: str = setting("", "TOML action table (an action and channel per driver). Empty: the one shipped in the package (streams/defaults/actions.toml).")
    model_min_labels: int = setting(2000, "The River model may serve once it has learned this many labels (and beats the cold start on recent ones).")
    model_kind: str = setting("logreg", "`logreg`, `logreg_balanced`, `hat` or `arf` (streams/core/scoring.py; the evidence: docs/model.md).")
    flush_every_events: int = setting(2000, "I/O batching only (never logic): flush state and commit offsets after this many events...")
    flush_interval_s: float = setting(0.5, "...or after this many seconds.")
    web_port: int = setting(6066, "Port of the status page, probes and metrics; each worker on a host needs its own.")
    web_host: str = setting("127.0.0.1", "Address the status page binds to (0.0.0.0 in a container).")
    web_debug: bool = setting(False, "Serve /debug/* (per-user ids and features): tests and local diagnosis only.")
    log_format: str = setting("auto", "`auto` (JSON when not on a terminal), `json` or `console`.")
    log_level: str = setting("info", "structlog level: `debug`, `info`, `warning` or `error`.")
    data_dir: str = setting("./out/worker-data", "Faust's local data directory (table stores).")
    table_store: str = setting("memory", "`memory`: the tables live in the worker's memory and a restart reads their changelogs from the start. `rocksdb`: on local disk under `data_dir` (keep it on a volume that outlives the process): a restart reads only the changelog tail written since, and memory is bounded by `state_cache_users`.")
    state_cache_users: int = setting(50_000, "With `table_store=rocksdb`: user states a worker keeps live in memory (least recently used ones go back to disk after each flush), about 25 KB each.")
    group_session_timeout_s: float = setting(6.0, "Consumer-group session: a worker that has not sent a heartbeat for this long is dropped and its partitions move to the others (heartbeats every quarter of it). The takeover after a crash waits this long; raise it if busy workers are dropped (`partition_engine_dropped` logged while no worker stopped). Kafka brokers accept 6 s and more by default (`group.min.session.timeout.ms`).")
    rocksdb_cache_mb: int = setting(16, "With `table_store=rocksdb`: RocksDB's block cache and each of its two write buffers, in MB, per table partition the worker holds (at most 3 x this x 2 tables x its partitions).")

    def __post_init__(self) -> None:
        if self.table_store not in ("memory", "rocksdb"):
            raise ValueError(f"CHURNGUARD_TABLE_STORE={self.table_store!r}: memory or rocksdb")
        if self.group_session_timeout_s <= 0:
            raise ValueError("CHURNGUARD_GROUP_SESSION_TIMEOUT_S must be positive")
        if self.state_cache_users < 1 or self.rocksdb_cache_mb < 1:
            raise ValueError("CHURNGUARD_STATE_CACHE_USERS and CHURNGUARD_ROCKSDB_CACHE_MB must be positive")

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
            load_action_table(self.actions_file), self.alert_population_share, self.alert_daily_budget_share)
        return EngineConfig(self.label_horizon_ms, self.allowed_lateness_ms, self.model_min_labels,
                            policy, self.model_kind, self.drain_when_idle, self.max_clock_skew_ms,
                            self.peer_lag_days)

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


def reference() -> str:
    """The settings reference in Markdown (docs/settings.md; a test keeps the file current)."""
    rows = ["# Settings", "",
            "Generated from `streams/settings.py` by `churnguard settings` (a test checks it is current).",
            "Every setting is an environment variable `CHURNGUARD_<NAME>`; booleans take true/false, tiers",
            "`name:share,...`. A value that does not parse stops every command with one line naming it.", "",
            "| variable | type | default | meaning |", "|---|---|---|---|"]
    defaults = Settings().to_env()
    for f in fields(Settings):
        var = f"CHURNGUARD_{f.name.upper()}"
        kind = "tiers" if f.name == "alert_tiers" else str(f.type)
        default = defaults[var]
        rows.append(f"| `{var}` | {kind} | {f'`{default}`' if default else '(empty)'} | {f.metadata['doc']} |")
    return "\n".join(rows) + "\n"

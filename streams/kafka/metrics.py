"""The worker's status as Prometheus metrics (prometheus_client), for GET /metrics.

One collector reads the worker's status at each scrape, so /metrics and /status/ report the same
figures. Counters come from the engines' durable counters (they survive restarts, so rates are
right across them) and the shell's totals since start; gauges describe the current state:
consumer lag per input partition (records) and event-time lag (the newest event time seen minus
the watermark), buffers, model quality (AUC, log loss, calibration error), win-back shares by arm
and tier. State size: users in the table, bytes written to the changelogs, and the distribution
of the size of the user records written (their mean times the users estimates the state's size).
Beside them, prometheus_client's standard process_* and python_gc_* families.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Callable, Iterator

from prometheus_client import CollectorRegistry, GCCollector, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

PREFIX = "churnguard_"
CONTENT_TYPE = "text/plain; version=0.0.4"  # the server adds the charset
TOTALS = ("received", "outcomes_received", "alerts_sent", "holdout_recorded", "dead_letters_sent", "dead_letters_failed",
          "flushes")


class _Families:
    """Metric families by name, created on first use, in the order first used."""

    def __init__(self) -> None:
        self.by_name: dict[str, Metric] = {}

    def add(self, name: str, kind: str, help_text: str, value: float, **labels: Any) -> None:
        family = self.by_name.get(name)
        if family is None:
            make = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            family = self.by_name[name] = make(PREFIX + name, help_text, labels=list(labels))
        family.add_metric([str(v) for v in labels.values()], value)


def families(status: dict[str, Any]) -> list[Metric]:
    out = _Families()
    for total in TOTALS:
        out.add(total, "counter", f"Worker total since start: {total.replace('_', ' ')}.", status[total])
    for topic, count in status["received_by_topic"].items():
        out.add("events_received", "counter", "Input records received since start, by topic.", count, topic=topic)
    for row in status["alerts_by_tier"]:
        out.add("alerts", "counter", "Alerts since start by arm (treatment: published; control: held out) and tier.",
                row["alerts"], arm=row["arm"], tier=row["tier"])
    for table, size in status["changelog_bytes"].items():
        out.add("changelog_bytes", "counter", "Bytes of state records written to the changelogs since start.", size,
                table=table)
    out.add("ready", "gauge", "1 when partitions are assigned, tables recovered and no rebalance runs.", int(status["ready"]))
    out.add("unflushed_events", "gauge", "Events taken in since the last flush.", status["unflushed"])
    for reason, count in status["dead_letters_by_reason"].items():
        out.add("dead_letters", "counter", "Dead letters sent since start, by reason.", count, reason=reason)
    for source in status["sources"]:
        if source["lag"] is not None:
            out.add("consumer_lag_records", "gauge", "Records on an input partition not yet received.", source["lag"],
                    topic=source["topic"], partition=source["partition"])
    winback: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: {"returned": 0, "lost": 0})
    for p, part in status["partitions"].items():
        out.add("buffered_events", "gauge", "Events waiting for the watermark.", part["buffered"], partition=p)
        out.add("watermark_ms", "gauge", "Event time up to which the partition is released.", part["released_until"], partition=p)
        lag = event_time_lag_ms(part)
        if lag is not None:
            out.add("event_time_lag_ms", "gauge", "Newest event time seen minus the watermark.", lag, partition=p)
        out.add("idle_sources", "gauge", "Input topics counted idle.", len(part["idle"]), partition=p)
        out.add("model_labels", "gauge", "Labels the partition's model has learned.", part["model_labels"], partition=p)
        out.add("model_ready", "gauge", "1 when the learned model scores (0: the cold start).", int(part["model_ready"]), partition=p)
        quality = part["model_quality"]
        out.add("model_scored_labels", "gauge", "Released labels compared with the score served for them.", quality["n"], partition=p)
        for figure in ("roc_auc", "log_loss", "calibration_error"):
            if quality[figure] is not None:
                out.add(f"model_{figure}", "gauge", f"Progressive {figure.replace('_', ' ')} of the served scores.",
                        quality[figure], partition=p)
        out.add("model_drifts", "gauge", "Drift detections on the partition's model errors.", quality["drifts"], partition=p)
        for name, value in sorted(part["counters"].items()):
            if name.startswith("outcome_"):
                out.add("outcomes", "counter", "Downstream outcomes by status.", value, partition=p, status=name[8:])
            elif name.startswith("winback_"):
                group, rest = name[8:].split("_", 1)
                tier, verdict = rest.rsplit("_", 1)
                out.add("winback", "counter", "Alerts closed by win-back verdict.", value, partition=p,
                        arm=group, tier=tier, verdict=verdict)
                winback[group, tier][verdict] += value
            elif name in ("duplicates", "redelivered"):
                out.add("duplicates", "counter", "Input records recognised as copies and not applied again "
                        "(duplicate: same event id; redelivered: same record again after a restart).", value,
                        partition=p, copy=name)
            elif name in ("labels_0", "labels_1"):
                out.add("labels_resolved", "counter", "Labels resolved and learned, by outcome.", value, partition=p,
                        label="churned" if name == "labels_1" else "retained")
            elif name.startswith("suppressed_"):
                out.add("alerts_suppressed", "counter", "Tier crossings that did not alert, by rule.", value,
                        partition=p, reason=name[11:])
            else:
                out.add("engine", "counter", "Engine counters (applied, duplicates, late, labels, ...).", value,
                        partition=p, counter=name)
    for (group, tier), verdicts in sorted(winback.items()):
        closed = verdicts["returned"] + verdicts["lost"]
        out.add("winback_share", "gauge", "Share of closed alerts whose user was active again within the horizon.",
                round(verdicts["returned"] / closed, 6) if closed else 0.0, arm=group, tier=tier)
    out.add("users", "gauge", "Users in the state table.", status["table"]["users"])
    metrics = list(out.by_name.values())
    sizes = status["user_record_bytes"]
    if sum(sizes["counts"]):
        metrics.append(_histogram("user_record_bytes", "Size of the user state records written to the changelog.",
                                  sizes["buckets"], sizes["counts"], status["changelog_bytes"]["users"]))
    return metrics


def _histogram(name: str, help_text: str, bounds: list[int], counts: list[int], total: float) -> Metric:
    """A Prometheus histogram from per-bucket counts (the last one above every bound)."""
    cumulative, running = [], 0
    for bound, count in zip([*(floatToGoString(b) for b in bounds), "+Inf"], counts):
        running += count
        cumulative.append((bound, running))
    return HistogramMetricFamily(PREFIX + name, help_text, buckets=cumulative, sum_value=total)


def event_time_lag_ms(partition: dict[str, Any]) -> int | None:
    """Newest event time a partition has seen minus its watermark; None before anything is released."""
    newest = max(partition["source_max_ts"].values(), default=None)
    if newest is None or partition["released_until"] < 0:
        return None
    return max(newest - partition["released_until"], 0)


class StatusCollector:
    """A prometheus_client collector over a status function (the worker's /status/ document)."""

    def __init__(self, status: Callable[[], dict[str, Any]]) -> None:
        self.status = status

    def collect(self) -> Iterator[Metric]:
        yield from families(self.status())


def registry_for(status: Callable[[], dict[str, Any]]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StatusCollector(status))
    # The process's CPU seconds and resident memory, and the garbage collector's work per generation
    # (streams/gc_policy.py): prometheus_client's standard families, as most exporters have them.
    ProcessCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


def render(status: dict[str, Any]) -> str:
    return generate_latest(registry_for(lambda: status)).decode()

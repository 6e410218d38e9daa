"""A failing test that ran worker processes shows the end of their logs (files ``*.log`` under its
``tmp_path``) in its report: a failure seen once in CI can then be read, not only rerun. And the
suite refuses to test compiled core modules older than their source (setup.py)."""

from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[1] / "streams" / "core"


def pytest_sessionstart(session):
    """Python imports a module's compiled extension before its source: one built before the source
    last changed would be tested instead of the source."""
    stale = []
    for extension in CORE.glob("*.so"):
        source = CORE / f"{extension.name.split('.')[0]}.py"  # none for the shared library
        if source.exists() and source.stat().st_mtime > extension.stat().st_mtime:
            stale.append(source.stem)
    if stale:
        stale.sort()
        pytest.exit(f"compiled streams/core modules older than their source: {', '.join(stale)}; "
                    "rebuild them with `make .venv/.installed` (or `pip install --no-deps -e .`)", returncode=4)

LOG_FILES, LOG_LINES = 6, 80


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    tmp = getattr(item, "funcargs", {}).get("tmp_path")
    if report.when != "call" or not report.failed or tmp is None:
        return
    for log in sorted(tmp.rglob("*.log"))[:LOG_FILES]:
        lines = log.read_text(errors="replace").splitlines()
        report.sections.append((f"last {LOG_LINES} lines of {log.relative_to(tmp)}", "\n".join(lines[-LOG_LINES:])))

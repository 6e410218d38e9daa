"""A failing test that ran worker processes shows the end of their logs (files ``*.log`` under its
``tmp_path``) in its report: a failure seen once in CI can then be read, not only rerun."""

import pytest

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

"""The locks (make lock) pin every dependency pyproject.toml names, with hashes, and the test lock
runs the very versions the image runs."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9_.-]+", requirement).group(0)).lower()


def _pins(lock: str) -> dict[str, str]:
    text = (ROOT / lock).read_text()
    blocks = re.findall(r"^([a-z0-9_.-]+)==(\S+)((?:\s*\\\n\s+--hash=sha256:[0-9a-f]{64})+)", text, re.M)
    pins = {_name(n): v for n, v, _ in blocks}
    assert len(pins) == len(re.findall(r"^[a-z0-9_.-]+==", text, re.M)), f"{lock}: a pin without a hash"
    return pins


def test_every_dependency_is_pinned_with_hashes_and_both_locks_agree():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime, dev = _pins("requirements.lock"), _pins("requirements-dev.lock")
    assert {_name(r) for r in project["dependencies"]} <= set(runtime), "run `make lock`"
    assert {_name(r) for r in project["optional-dependencies"]["test"]} <= set(dev), "run `make lock`"
    assert {n: dev[n] for n in runtime} == runtime  # tests run what the image runs

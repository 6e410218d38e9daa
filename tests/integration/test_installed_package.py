"""The package as a platform team gets it: the wheel, installed into a fresh virtual environment
outside the source tree, runs a worker on the embedded broker (contracts and the default action
table come from the package's own data, not from a checkout)."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from streams.offline.simulator import SimConfig, serialise, simulate
from streams.offline.workers import run_worker_on

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The churnguard command of a fresh venv holding only the wheel and its dependencies."""
    tmp = tmp_path_factory.mktemp("installed")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp / "dist"), str(ROOT)],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-3000:]
    assert "Warning" not in build.stderr and "deprecated" not in build.stderr, build.stderr
    wheel = next((tmp / "dist").glob("churnguard-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "streams/defaults/actions.toml" in names
    assert {f"streams/schemas/{p.name}" for p in (ROOT / "schemas").glob("*.json")} <= set(names)
    subprocess.run([sys.executable, "-m", "venv", str(tmp / "venv")], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    install = subprocess.run([str(tmp / "venv" / "bin" / "pip"), "install", "-q", str(wheel)], cwd=tmp, env=env,
                             capture_output=True, text=True)
    assert install.returncode == 0, install.stderr[-3000:]
    return tmp / "venv" / "bin" / "churnguard"


def test_the_installed_wheel_runs_a_worker_outside_the_source_tree(installed, settings_for, tmp_path, monkeypatch):
    for name in ("CHURNGUARD_ACTIONS_FILE", "PYTHONPATH"):
        monkeypatch.delenv(name, raising=False)
    settings = settings_for("churnguard-installed")
    cfg = SimConfig(users=40, days=45, seed=3, bad_rate=0.0)
    records = serialise(simulate(cfg)[0], cfg)
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    status = run_worker_on(settings, records, tmp_path / "worker.log", timeout_s=300, command=[str(installed)], cwd=workdir)
    assert status["returncode"] == 0, (tmp_path / "worker.log").read_text()[-3000:]
    assert status["received"] == len(records) and status["dead_letters_sent"] == 0

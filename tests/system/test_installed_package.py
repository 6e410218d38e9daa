"""The package as a platform team gets it: the wheel, installed into a fresh virtual environment
outside the source tree, runs a worker on the embedded broker (contracts and the default action
table come from the package's own data, not from a checkout)."""

import asyncio
import os
import subprocess
import sys
import urllib.error
import urllib.request
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from streams.offline.simulator import SimConfig, serialise, simulate
from streams.kafka.produce import produce
from streams.offline.workers import start_worker, stop_process, wait_processed, wait_until, worker_status

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
    compiled = {n.split("/")[-1].split(".")[0] for n in names if n.startswith("streams/core/") and n.endswith(".so")}
    assert {"engine", "features", "native__mypyc"} <= compiled, names  # the core's per-event modules (setup.py)
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
    settings = replace(settings_for("churnguard-installed"), web_debug=False)  # as deployed: the default
    cfg = SimConfig(users=40, days=45, seed=3, bad_rate=0.0)
    records = serialise(simulate(cfg)[0], cfg)
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    worker = start_worker(settings, tmp_path / "worker.log", command=[str(installed)], cwd=workdir)
    try:
        assert wait_until(lambda: worker_status(settings) is not None, 120), (tmp_path / "worker.log").read_text()[-3000:]
        base = f"http://{settings.web_host}:{settings.web_port}"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{base}/debug/users/", timeout=10)
        assert refused.value.code == 404  # per-user state is not served unless CHURNGUARD_WEB_DEBUG asks
        asyncio.run(produce(settings, records))
        status = wait_processed(settings, len(records), 300)
    finally:
        stop_process(worker)
    assert worker.returncode == 0, (tmp_path / "worker.log").read_text()[-3000:]
    assert status["received"] == len(records) and status["dead_letters_sent"] == 0

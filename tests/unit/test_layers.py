"""The import contract in pyproject.toml ([tool.importlinter]) holds, and it catches violations."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).parent / "lint-imports"


def lint(tree: Path) -> subprocess.CompletedProcess[str]:
    # --no-cache: a planted import must be seen, not a cached graph of the clean tree.
    return subprocess.run([str(LINT), "--no-cache"], cwd=tree, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"})


def copy_of_the_tree(tmp_path: Path) -> Path:
    for name in ("streams", "agents"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def test_the_tree_keeps_its_import_contract():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("module, planted, message", [
    ("streams/core/features.py", "import aiokafka", "streams.core is not allowed to import aiokafka"),
    ("streams/core/engine.py", "import time", "streams.core is not allowed to import time"),
    ("streams/core/alerts.py", "from streams.settings import Settings",
     "streams.core is not allowed to import streams.settings"),
    ("streams/kafka/produce.py", "from streams.offline import svg",
     "streams.kafka is not allowed to import streams.offline"),
    ("streams/offline/backfill.py", "import agents.pipeline", "streams.offline is not allowed to import agents"),
])
def test_a_planted_forbidden_import_breaks_the_check(tmp_path, module, planted, message):
    tree = copy_of_the_tree(tmp_path)
    with open(tree / module, "a") as f:
        f.write(f"\n{planted}\n")
    result = lint(tree)
    assert result.returncode != 0
    assert message in result.stdout

"""A worker's start does not wait for River: the CLI and the pipeline import without it (about
1.5 s with scipy), and it is imported while the group forms (agents/pipeline.py PipelineShell.prepare)."""

import subprocess
import sys


def test_the_cli_and_the_pipeline_import_without_river():
    code = ("import sys, streams.cli, agents.pipeline, streams.core.engine; "
            "assert 'river' not in sys.modules, sorted(m for m in sys.modules if m.startswith('river'))[:5]; "
            "from streams.core.scoring import ChurnModel; ChurnModel(0, 10); assert 'river' in sys.modules")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr

"""The documentation builds with warnings as errors (gallery examples executed), so docs never rot silently."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent

pytest.importorskip("sphinx")
pytest.importorskip("sphinx_gallery")
pytest.importorskip("numpydoc")


@pytest.mark.slowest_first
def test_docs_build_without_warnings(tmp_path):
    # The gallery's torch uses this worker's share of the cores (see conftest.py).
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(ROOT / "docs"),
         str(tmp_path / "html")],
        # About 9 minutes on one core of a slow 2-core CPU; the limit only catches a hang, so it leaves room for a busy
        # machine (the build timed out at 10 minutes while other jobs shared the cores).
        capture_output=True, text=True, cwd=ROOT, timeout=1800, env=env,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (tmp_path / "html" / "user_guide" / "loading_checkpoints.html").is_file()
    assert (tmp_path / "html" / "auto_examples" / "plot_filters.html").is_file()

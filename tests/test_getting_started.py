"""The getting-started page works when its code is copied line by line into a fresh interpreter."""

import re
import subprocess
import sys
import textwrap
from pathlib import Path

PAGE = Path(__file__).resolve().parent.parent / "docs" / "getting_started.rst"


def python_blocks(text):
    """The ``.. code-block:: python`` bodies of an reStructuredText page, dedented, in page order."""
    blocks = []
    for match in re.finditer(r"^\.\. code-block:: python\n\n((?:[ ]{3}.*\n|\n)+)", text, flags=re.MULTILINE):
        blocks.append(textwrap.dedent(match.group(1)))
    return blocks


def test_getting_started_code_runs_as_written(tmp_path):
    blocks = python_blocks(PAGE.read_text())
    assert len(blocks) >= 2
    script = tmp_path / "getting_started.py"
    script.write_text("\n".join(blocks))
    # A fresh interpreter outside the repository: only what an installed dnaestim provides.
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    accuracy = float(re.search(r"test accuracy (\d\.\d+)", result.stdout).group(1))
    assert accuracy > 0.6  # two classes, about balanced: the fit learned something in 20 s
    assert result.stdout.strip().endswith("True")  # right padding: outputs independent of the batch
    assert "train loss" in result.stderr  # verbose=1 printed its epoch table

"""How long loading the bundled backbone takes: by name, and inside an estimator's ``fit``.

Usage::

    python benchmarks/load_bundled.py [--repeats 7]

Prints medians over ``--repeats`` loads in this process (the first, cold one separately), the time of a fresh
``python -c "import dnaestim; dnaestim.load_pretrained(...)"`` process next to a bare ``import dnaestim``
process (so the difference is the load alone), and the hardware.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path


import dnaestim
from dnaestim.models import DEFAULT_BACKBONE

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hardware import describe, summary  # noqa: E402  (sibling benchmark script)


def seconds(command: str, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", command], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(summary(describe()))
    start = time.perf_counter()
    dnaestim.load_pretrained(DEFAULT_BACKBONE)
    print(f"first load_pretrained({DEFAULT_BACKBONE!r}) in this process: {1000 * (time.perf_counter() - start):.1f} ms")
    warm = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        dnaestim.load_pretrained(DEFAULT_BACKBONE)
        warm.append(time.perf_counter() - start)
    print(f"median of {args.repeats} more: {1000 * statistics.median(warm):.1f} ms")
    bare = seconds("import dnaestim", args.repeats)
    loaded = seconds(f"import dnaestim; dnaestim.load_pretrained({DEFAULT_BACKBONE!r})", args.repeats)
    print(f"fresh process: import dnaestim {bare:.2f} s, import + load {loaded:.2f} s "
          f"(the load: {1000 * (loaded - bare):.0f} ms)")


if __name__ == "__main__":
    main()

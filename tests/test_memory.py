"""retain_freed_memory: large freed blocks stay in the process (checked through glibc's own accounting)."""

import subprocess
import sys

import pytest

import dnaestim
from dnaestim import memory

# Holds a 64 MiB tensor and prints how many bytes glibc serves through mmap (mallinfo2's hblkhd) meanwhile.
_PROBE = """
import ctypes, sys, torch
import dnaestim
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                               "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
if sys.argv[1] == "retain":
    assert dnaestim.retain_freed_memory()
if sys.argv[1] == "fit":  # what every fit runs in; afterwards glibc's settled thresholds (32 MiB) are back
    import os
    rss = lambda: int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    with dnaestim.memory.retaining_freed_memory():
        inside = torch.ones(16 * 2**20)
        in_fit = libc.mallinfo2().hblkhd
        del inside
        kept = rss()
    heap_after_fit = kept - rss()  # what the end of the fit gave back
block = torch.ones(16 * 2**20)
print(in_fit, heap_after_fit, libc.mallinfo2().hblkhd) if sys.argv[1] == "fit" else print(libc.mallinfo2().hblkhd)
"""


def _probe(mode):
    out = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, timeout=120,
                         env={k: v for k, v in __import__("os").environ.items() if not k.startswith("MALLOC_")})
    assert out.returncode == 0, out.stderr[-2000:]
    return [int(v) for v in out.stdout.split()]


def _mmapped_bytes(mode):
    return _probe(mode)[-1]


@pytest.mark.skipif(memory._glibc() is None or not hasattr(memory._glibc(), "mallinfo2"),
                    reason="needs glibc >= 2.33 (mallinfo2)")
def test_large_blocks_come_from_the_heap_once_retained():
    assert _mmapped_bytes("default") >= 64 * 2**20  # glibc's default: a 64 MiB block is mmapped (and unmapped)
    assert _mmapped_bytes("retain") < 64 * 2**20  # retained: served from the heap, kept there when freed


@pytest.mark.skipif(memory._glibc() is None or not hasattr(memory._glibc(), "mallinfo2"),
                    reason="needs glibc >= 2.33 (mallinfo2)")
def test_a_fit_keeps_large_blocks_only_while_it_runs():
    in_fit, given_back, after = _probe("fit")
    assert in_fit < 64 * 2**20  # inside: from the heap
    assert given_back > 48 * 2**20  # the kept 64 MiB went back to the system when the fit ended
    assert after >= 64 * 2**20  # and large blocks are mmapped again, as glibc does by default


def test_fit_keeps_freed_memory_only_while_it_trains(monkeypatch):
    calls = []

    class FakeLibc:
        def mallopt(self, option, value):
            calls.append((option, value))
            return 1

        def malloc_trim(self, pad):
            calls.append(("trim", pad))
            return 1

    monkeypatch.setattr(memory, "_glibc", lambda: FakeLibc())
    monkeypatch.setitem(memory._state, "permanent", False)
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    from dnaestim import HyenaClassifier

    HyenaClassifier(pretrained=None, d_model=16, n_layer=1, max_iter=1, early_stopping=False).fit(
        ["ACGTACGTAA", "TTGACCATGG"] * 4, [0, 1] * 4)
    assert calls == [(memory._M_MMAP_THRESHOLD, memory._LARGEST), (memory._M_TRIM_THRESHOLD, memory._LARGEST),
                     (memory._M_MMAP_THRESHOLD, memory._SETTLED_MMAP),
                     (memory._M_TRIM_THRESHOLD, memory._SETTLED_TRIM), ("trim", 0)]


def test_without_glibc_nothing_changes(monkeypatch):
    monkeypatch.setattr(memory, "_glibc", lambda: None)
    assert dnaestim.retain_freed_memory() is False

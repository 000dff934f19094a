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
block = torch.ones(16 * 2**20)
print(libc.mallinfo2().hblkhd)
"""


def _mmapped_bytes(mode):
    out = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return int(out.stdout.split()[-1])


@pytest.mark.skipif(memory._glibc() is None or not hasattr(memory._glibc(), "mallinfo2"),
                    reason="needs glibc >= 2.33 (mallinfo2)")
def test_large_blocks_come_from_the_heap_once_retained():
    assert _mmapped_bytes("default") >= 64 * 2**20  # glibc's default: a 64 MiB block is mmapped (and unmapped)
    assert _mmapped_bytes("retain") < 64 * 2**20  # retained: served from the heap, kept there when freed


def test_without_glibc_nothing_changes(monkeypatch):
    monkeypatch.setattr(memory, "_glibc", lambda: None)
    assert dnaestim.retain_freed_memory() is False

"""What a benchmark ran on: CPU model, the vector extensions that decide its speed, torch and its threads.

Every benchmark prints :func:`describe` first, so that a number is never read without its hardware.
"""

from __future__ import annotations

import platform
import re
from pathlib import Path

import torch

#: CPU flags that change which code is fast: AVX2 / AVX-512 vector width, bfloat16 dot products and AMX tiles.
FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else what :mod:`platform` knows)."""
    match = re.search(r"^model name\s*:\s*(.+)$", _cpuinfo(), flags=re.MULTILINE)
    return match.group(1).strip() if match else (platform.processor() or platform.machine())


def cpu_flags() -> list[str]:
    """Which of :data:`FLAGS` the CPU reports (empty where ``/proc/cpuinfo`` is not available)."""
    text = _cpuinfo()
    return [flag for flag in FLAGS if re.search(rf"\b{flag}\b", text)]


def describe(device: str = "cpu") -> dict:
    """Hardware and software of this run, as a JSON-ready dict."""
    info = {"cpu": cpu_name(), "cpu_flags": cpu_flags(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "threads": torch.get_num_threads(), "torch": torch.__version__}
    if str(device).startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def summary(info: dict) -> str:
    """One line for the top of a benchmark's output."""
    flags = ", ".join(info["cpu_flags"]) or "no flags read"
    where = f"GPU {info['gpu']}; " if "gpu" in info else ""
    return (f"{where}CPU {info['cpu']} ({flags}; torch capability {info['cpu_capability']}), "
            f"{info['threads']} threads, torch {info['torch']}")

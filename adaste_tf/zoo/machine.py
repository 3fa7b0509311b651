"""The machine a benchmark or the demo ran on, as the OS reports it: CPU model, cores and the
SIMD instruction sets that decide TensorFlow's kernels (oneDNN and XLA pick AVX2 or AVX-512 code
by what the CPU has, which changes float rounding and speed). A CPU's model name alone does not
say that: machines sold under one name differ in their instruction sets."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

__all__ = ["cpu", "describe"]

# Flag prefixes of /proc/cpuinfo worth naming: the vector instruction sets.
_ISA_PREFIXES = ("sse4", "avx", "fma", "amx")


def cpu(cpuinfo: str | None = None) -> dict[str, Any]:
    """The CPU's model, the cores this process may use, and its vector instruction sets.

    `cpuinfo` is the text of /proc/cpuinfo (read when None; empty where the OS has none).

    Examples:
        >>> info = cpu("model name\\t: Example CPU\\nflags\\t\\t: fpu sse4_2 avx2 fma\\n")
        >>> info["model"], info["isa"]
        ('Example CPU', ['avx2', 'fma', 'sse4_2'])
    """
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:  # not Linux
            cpuinfo = ""
    info: dict[str, Any] = {
        "model": platform.processor() or platform.machine(),
        "cores": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "isa": [],
    }
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            info["model"] = value.strip()
        elif key.strip() == "flags":
            info["isa"] = sorted(f for f in value.split() if f.startswith(_ISA_PREFIXES))
            break
    return info


def describe(info: dict[str, Any] | None = None) -> str:
    """One line: model, cores, and whether AVX-512 is there, then the instruction sets.

    Examples:
        >>> describe({"model": "Example CPU", "cores": 2, "isa": ["avx2", "fma"]})
        'Example CPU, 2 cores, AVX2 without AVX-512 (avx2 fma)'
    """
    info = info or cpu()
    isa = info["isa"]
    if any(f.startswith("avx512") for f in isa):
        level = "AVX-512"
    elif "avx2" in isa:
        level = "AVX2 without AVX-512"
    else:
        level = "no AVX2"
    listed = f" ({' '.join(isa)})" if isa else ""
    return f"{info['model']}, {info['cores']} cores, {level}{listed}"

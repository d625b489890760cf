"""What this host is: the CPU that measures, recorded in every tuning log it writes.

A target names the CPU code is generated for (``-mcpu``); logs measured on several machines of the
same ``-mcpu`` (cloud hosts of one family, different cache sizes and clocks) are told apart by
this description, and cost models can read the CPU's own figures from it.
"""

from __future__ import annotations

import os
import platform
from functools import cache
from pathlib import Path

_CACHE_LEVELS = {"2": "l2_kib", "3": "l3_kib"}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cache_sizes() -> dict[str, int]:
    """The unified/data cache sizes of CPU 0 in KiB (Linux sysfs; empty elsewhere)."""
    sizes: dict[str, int] = {}
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            level = (index / "level").read_text().strip()
            kind = (index / "type").read_text().strip()
            size = (index / "size").read_text().strip()
        except OSError:
            continue
        if kind == "Instruction" or level not in _CACHE_LEVELS or not size.endswith("K"):
            continue
        sizes[_CACHE_LEVELS[level]] = int(size[:-1])
    return sizes


@cache
def host_machine() -> dict[str, str | int]:
    """This host's CPU model, the cores this process may use, and its L2 and L3 cache sizes
    (per CPU 0, in KiB, where the system says). Read once per process; thread safe."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return {"cpu": _cpu_model(), "cores": cores, **_cache_sizes()}

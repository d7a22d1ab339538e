"""What `purenet bench` measures about the machine: resident memory, threads and the BLAS."""

from __future__ import annotations

import importlib
import os
import resource
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from purenet.errors import require_extra


def reset_peak_rss() -> bool:
    """Reset this process's peak RSS (Linux `/proc/self/clear_refs`); False where it cannot."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


def rss_mib(field: str = "VmHWM") -> float:
    """`VmHWM` (peak) or `VmRSS` (current) resident memory in MiB; ru_maxrss off Linux."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # ru_maxrss is KiB on Linux and bytes on macOS.
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def default_threads() -> int:
    """The CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def blas_info() -> dict[str, Any]:
    """numpy's BLAS: name, version, threads (and architecture with threadpoolctl)."""
    try:
        threadpoolctl = importlib.import_module("threadpoolctl")
    except ImportError:
        config = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return {"name": config.get("name"), "version": config.get("version"), "threads": None}
    for pool in threadpoolctl.threadpool_info():
        if pool.get("user_api") == "blas" and "numpy" in pool.get("filepath", ""):
            return {
                "name": pool.get("internal_api"),
                "version": pool.get("version"),
                "threads": pool.get("num_threads"),
                "architecture": pool.get("architecture"),
            }
    return {"name": None, "version": None, "threads": None}


@contextmanager
def limit_threads(threads: int, explicit: bool) -> Iterator[None]:
    """Limit BLAS to `threads` (threadpoolctl; required only when `explicit`)."""
    try:
        threadpoolctl = importlib.import_module("threadpoolctl")
    except ImportError:
        if explicit:
            require_extra("threadpoolctl", "bench")
        yield
        return
    with threadpoolctl.threadpool_limits(limits=threads):
        yield

"""What `purenet bench` measures about the machine: resident memory, threads and the BLAS."""

from __future__ import annotations

import importlib
import resource
import sys
from typing import Any

import numpy as np

from purenet.core.threads import available_cores as default_threads
from purenet.core.threads import limit_threads

__all__ = ["blas_info", "default_threads", "limit_threads", "reset_peak_rss", "rss_mib"]


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

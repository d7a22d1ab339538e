"""BLAS threads: how many cores this process may use, how many are free, and a limit on BLAS.

numpy's matrix products run on a BLAS thread pool (OpenBLAS by default) whose size is fixed at
import to every core. When other processes keep some cores busy, a pool that large makes
OpenBLAS threads spin waiting for each other: on this project's 2-core machine with one core
taken, MNIST epochs took 5-6 s with 2 BLAS threads and 0.6-1.0 s with 1. `free_cores` is the
default of `purenet run`: one thread per core that is actually free.

Example:
    >>> import numpy as np
    >>> from purenet.core.threads import limit_threads
    >>> with limit_threads(1, explicit=False):
    ...     product = np.ones((64, 64)) @ np.ones((64, 64))
"""

from __future__ import annotations

import importlib
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager

from purenet.errors import require_extra


def available_cores() -> int:
    """The CPUs this process may run on (its affinity mask, else the CPU count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def free_cores(load: float | None = None) -> int:
    """The cores not kept busy by other processes: `available_cores() - load`, rounded, >= 1.

    Args:
        load: runnable processes on the machine; default the 1-minute load average
            (`os.getloadavg()[0]`; where there is none, every core counts as free). The
            average lags by up to a minute and counts the whole machine, not only the cores of
            this process' affinity mask: a guess, which `--threads` overrides.
    """
    cores = available_cores()
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):
            return cores
    return max(1, min(cores, math.floor(cores - load + 0.5)))


@contextmanager
def limit_threads(threads: int, explicit: bool) -> Iterator[None]:
    """Limit numpy's BLAS (and OpenMP) thread pools to `threads` inside the block.

    Args:
        threads: pool size, >= 1.
        explicit: the user asked for this number; then `threadpoolctl` must be installed,
            else the limit is applied only when it is.

    Raises:
        MissingExtraError: `explicit` and `threadpoolctl` is missing.
    """
    try:
        threadpoolctl = importlib.import_module("threadpoolctl")
    except ImportError:
        if explicit:
            require_extra("threadpoolctl", "bench")
        yield
        return
    with threadpoolctl.threadpool_limits(limits=threads):
        yield

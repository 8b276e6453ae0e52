"""Timing on a noisy shared box: pinned threads, best of several repeats."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from contextlib import contextmanager


@contextmanager
def pinned(threads: int = 1):
    """One core, one BLAS thread, one torch thread for the duration of a benchmark."""
    from threadpoolctl import threadpool_limits

    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if affinity:
        os.sched_setaffinity(0, {min(affinity)})
    torch_threads = None
    try:
        import torch

        torch_threads = torch.get_num_threads()
        torch.set_num_threads(threads)
    except ImportError:
        pass
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        if affinity:
            os.sched_setaffinity(0, affinity)
        if torch_threads:
            import torch

            torch.set_num_threads(torch_threads)


def best_of(fn: Callable[[], object], repeats: int) -> float:
    """Minimum wall time of `repeats` runs (seconds)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)

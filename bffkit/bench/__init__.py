"""Benchmarks (`bffkit bench NAME`): each reports its figures as ratios against a baseline
measured in the same process, pinned to one core and one BLAS/torch thread (the shared box
gives noisy timings otherwise; see FIELD-NOTES), taking the best of several repeats."""

from __future__ import annotations

from collections.abc import Callable

from ..exceptions import BffkitError
from .feedback import bench_feedback_import
from .generate import bench_architecture, bench_generate
from .loop import bench_loop
from .models import bench_embed, bench_train_text
from .report import bench_report
from .selection import bench_cluster, bench_dpp, bench_sliders, reference_greedy_map
from .serve import bench_serve
from .timing import best_of, pinned

__all__ = ["BENCHES", "bench_architecture", "bench_cluster", "bench_dpp", "bench_embed", "bench_feedback_import",
           "bench_generate", "bench_loop", "bench_report",
           "bench_serve", "bench_sliders", "bench_train_text", "best_of", "pinned", "reference_greedy_map", "run_bench"]

BENCHES: dict[str, Callable[..., dict]] = {
    "generate": bench_generate,
    "generate-sd15": lambda **kw: bench_architecture("sd15", **kw),
    "generate-sd-turbo": lambda **kw: bench_architecture("sd-turbo", **kw),
    "embed": bench_embed,
    "train-text": bench_train_text,
    "dpp": bench_dpp,
    "cluster": bench_cluster,
    "loop": bench_loop,
    "feedback-import": bench_feedback_import,
    "sliders": bench_sliders,
    "serve": bench_serve,
    "report": bench_report,
}


def run_bench(name: str, **kwargs) -> dict:
    if name not in BENCHES:
        raise BffkitError(f"unknown benchmark {name!r}; available: {', '.join(BENCHES)}")
    return BENCHES[name](**{k: v for k, v in kwargs.items() if v is not None})

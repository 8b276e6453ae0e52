"""Stage 6, coverage: how the round's detected attribute values meet their targets, the gaps it
opens and closes, and the sampling boosts (15-25%) it asks of the next round's prompts.

The algorithm is :mod:`bffkit.coverage`; gaps live per run in ``attribute_gaps``.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

import numpy as np

from ..coverage import coverage_targets, gap_changes, measure_coverage
from .base import Stage, StageResult, embedder_loads, needs_embeddings
from .context import RunContext
from .round_data import RoundData


@dataclass(frozen=True)
class CoverageResult(StageResult):
    report_id: str
    n_values: int
    score: float
    score_selected: float | None
    n_gaps: int
    severities: dict[str, int]
    opened: int
    closed: int
    boosts: dict[str, dict[str, float]]
    seconds: float

    @property
    def items(self) -> int:
        return self.n_values

    def summary(self) -> str:
        sev = ", ".join(f"{n} {k}" for k, n in sorted(self.severities.items())) or "none"
        selected = "-" if self.score_selected is None else f"{self.score_selected:.3f}"
        return (f"score {self.score:.3f} (selected {selected}), {self.n_gaps} gaps "
                f"({sev}; {self.opened} new, {self.closed} closed)")


def coverage_round(store, data: RoundData, selected: np.ndarray, *, taxonomy, request_attributes=(), category=None,
                   default_target: float = 0.05, targets=None, boost_min: float = 0.15,
                   boost_max: float = 0.25) -> CoverageResult:
    """Coverage of the round's detected attributes, gaps opened/closed, next round's boosts; stored."""
    t0 = time.perf_counter()
    tgt = coverage_targets(taxonomy, default_target=default_target, targets=targets, fixed=request_attributes,
                           category=category)
    report = measure_coverage(data.detected, [data.detected[i] for i in selected], tgt,
                              boost_min=boost_min, boost_max=boost_max)
    boosts = report.boosts()
    run_id = data.run_id or data.job_id
    doc = report.to_dict()
    opened, closed = gap_changes(store.open_gaps(run_id), doc)
    report_id = store.save_coverage(job_id=data.job_id, run_id=run_id, round=data.round or 0, report=doc,
                                    targets=tgt, boosts=boosts, close=closed)
    return CoverageResult(report_id, len(report.values), report.score, report.score_selected, len(report.gaps),
                          dict(Counter(g.severity for g in report.gaps)), len(opened), len(closed),
                          boosts, time.perf_counter() - t0)


def round_targets(ctx: RunContext) -> dict:
    """The coverage targets the stage measures a round against (the run config's, the request's
    fixed values left out)."""
    cov = ctx.config.coverage
    return coverage_targets(ctx.tax, default_target=cov.default_target, targets=cov.targets, fixed=ctx.fixed,
                            category=ctx.category)


def run(ctx: RunContext, round_number: int) -> CoverageResult:
    cov = ctx.config.coverage
    data = ctx.round_data(round_number)
    return coverage_round(ctx.store, data, ctx.store.selected_indices(data.job_id, data.image_ids),
                          taxonomy=ctx.tax, request_attributes=ctx.fixed, category=ctx.category,
                          default_target=cov.default_target, targets=cov.targets, boost_min=cov.boost_min,
                          boost_max=cov.boost_max)


STAGE = Stage(6, "coverage", "Coverage", "coverage", run, seed_numbers=(9,), check=embedder_loads,
              enabled=needs_embeddings)

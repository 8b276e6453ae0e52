"""Stage 8, analytics: trends, style-profile and attribute outlier rates, and recommendations with
their evidence, over a time window of the workspace (default 90 days). Runs once, after the last
round. The algorithm is :mod:`bffkit.analytics` (frames in, an :class:`Analytics` out).

Results are cached for five minutes per (workspace, window); new feedback invalidates the
cache at once (the key includes the feedback count and latest timestamp).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..analytics import Analytics, compute_analytics
from .base import Stage, StageResult
from .context import RunContext

CACHE_SECONDS = 300.0
_cache: dict[tuple, tuple[float, Analytics]] = {}


def analytics_for(store, window_days: int = 90, *, use_cache: bool = True) -> Analytics:
    """Analytics of a store over the last `window_days` (cached 5 minutes; new feedback invalidates)."""
    stamp = store.feedback_stamp()
    key = (str(store.path), window_days, stamp)
    now = time.time()
    if use_cache and key in _cache and now - _cache[key][0] < CACHE_SECONDS:
        return _cache[key][1]
    for k in [k for k in _cache if k[:2] == key[:2]]:
        del _cache[k]  # older stamps of the same store: stale
    result = compute_analytics(store.analytics_frames(window_days), window_days)
    _cache[key] = (now, result)
    return result


@dataclass(frozen=True)
class AnalyticsResult(StageResult):
    window_days: int
    overall_outlier_rate: float | None
    overall_thumbs_up: float | None
    n_rounds: int
    n_recommendations: int
    seconds: float

    @property
    def items(self) -> int:
        return self.n_recommendations

    def summary(self) -> str:
        def rate(x):
            return "-" if x is None else f"{x:.0%}"

        return (f"last {self.window_days} days: outlier rate {rate(self.overall_outlier_rate)}, thumbs-up "
                f"{rate(self.overall_thumbs_up)} over {self.n_rounds} round(s); "
                f"{self.n_recommendations} recommendations")


def run(ctx: RunContext, round_number: int) -> AnalyticsResult:
    t0 = time.perf_counter()
    a = analytics_for(ctx.store, ctx.config.analytics.window_days)
    return AnalyticsResult(a.window_days, a.overall_outlier_rate, a.overall_thumbs_up, len(a.per_round),
                           len(a.recommendations), time.perf_counter() - t0)


STAGE = Stage(8, "analytics", "Analytics and recommendations", "analytics", run, seed_numbers=(11,),
              per_round=False)

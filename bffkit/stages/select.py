"""Stage 5, select: a diverse, high-quality subset by greedy MAP inference on a quality-weighted DPP.

Quality is stage 3's image quality, P(on its prompt rather than a near miss) x P(not an
artefact) (:func:`bffkit.scoring.image_quality`), blended with the user's preference head once it
beats chance (:func:`bffkit.learning.combined_quality`); with ``select.cluster_aware`` each style
cluster gets a quota. Images likely smudged, cropped, off their prompt or duplicates are not candidates.
The algorithm is :mod:`bffkit.dpp`.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np

from ..dpp import SelectionWarning, select, vendi_score
from ..learning import combined_quality, head_weight
from ..preferences import stored_head
from ..store.ids import selection_id as own_selection_id
from .base import Stage, StageResult, embedder_loads, needs_embeddings
from .context import RunContext
from .round_data import RoundData


@dataclass(frozen=True)
class SelectResult(StageResult):
    selection_id: str
    k: int
    n_selected: int
    theta: float
    vendi: float
    random_vendi: float  # mean over seeded random subsets of the same size
    mean_quality: float
    defect_share: float | None  # among the selected (sketch backend)
    pool_defect_share: float | None
    n_excluded: int  # images likely smudged, cropped or off their prompt, not offered (unless fewer than k remain)
    seconds: float
    n_pool: int = 0  # the round's usable images
    head_share: float = 0.0  # the preference head's share of quality

    @property
    def items(self) -> int:
        return self.n_selected

    def summary(self) -> str:
        defects = (f", defects {self.defect_share:.0%} vs {self.pool_defect_share:.0%} in the pool"
                   if self.defect_share is not None else "")
        head = f", preference head {self.head_share:.0%} of quality" if self.head_share else ""
        excluded = f" ({self.n_excluded} likely artefacts or off-prompt left out)" if self.n_excluded else ""
        return (f"{self.n_selected} of {self.n_pool}{excluded} at theta {self.theta:g}, Vendi {self.vendi:.2f} "
                f"(random {self.random_vendi:.2f}), mean quality {self.mean_quality:.3f}{defects}{head}")


def select_round(store, data: RoundData, k: int, *, theta: float = 0.7, labels: np.ndarray | None = None,
                 seed: int = 0, quality: np.ndarray | None = None, head_share: float = 0.0,
                 variant: str | None = None, kernel: str = "rbf", bandwidth: float | None = None,
                 min_distance: float | None = None, parameters: dict | None = None) -> tuple[np.ndarray, SelectResult]:
    """The DPP selection for a round (cluster-aware when `labels` are given); stored.

    `quality` overrides the stored per-image quality (e.g. blended with a preference head).
    Images flagged as likely artefacts, off their prompt or duplicates (``data.selectable``) are
    not candidates. The stored ``selected_ids`` are in pick order: the first is the greedy's first
    pick (its rank 1). A `variant` is stored beside the stage's own selection, never over it, with
    its `parameters` and its parent (the stage's own selection's id).
    """
    t0 = time.perf_counter()
    quality = data.quality if quality is None else np.asarray(quality, dtype=np.float64)
    candidates = data.selectable
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SelectionWarning)
        sel = select(data.X, quality, k, theta=theta, clusters=labels, candidates=candidates, kernel=kernel,
                     bandwidth=bandwidth, min_distance=min_distance)
    idx = sel.indices
    rng = np.random.default_rng(seed)
    random_vendi = float(np.mean([vendi_score(data.X[rng.choice(len(data), len(idx), replace=False)])
                                  for _ in range(10)])) if len(idx) else 0.0
    has_defects = data.backend == "sketch"  # only the sketch renderer records defects
    defect = np.array([d is not None for d in data.defects])
    sel_defect = float(defect[idx].mean()) if has_defects and len(idx) else None
    pool_defect = float(defect.mean()) if has_defects else None
    figures = dict(k=k, n_selected=len(idx), theta=theta, vendi=round(sel.vendi, 4),
                   random_vendi=round(random_vendi, 4), mean_quality=round(sel.mean_quality, 4),
                   defect_share=sel_defect, pool_defect_share=pool_defect, n_excluded=int((~candidates).sum()))
    metrics = {**figures, "cluster_aware": labels is not None, "head_share": head_share, "kernel": kernel,
               "bandwidth": bandwidth,
               "min_distance": min_distance, "n_duplicates": sum(d is not None for d in data.duplicate_of),
               "warnings": [str(w.message) for w in caught],
               **({"parent": own_selection_id(data.job_id), "parameters": parameters} if variant else {})}
    selection_id = store.save_selection(job_id=data.job_id, round=data.round, theta=theta, k=k,
                                        selected_ids=[data.image_ids[i] for i in idx], log_det=sel.log_det,
                                        vendi=sel.vendi, mean_quality=sel.mean_quality, metrics=metrics,
                                        variant=variant)
    return idx, SelectResult(selection_id, **figures, seconds=time.perf_counter() - t0, n_pool=len(data),
                             head_share=head_share)


def selection_quality(store, data: RoundData, user_id: str) -> tuple[np.ndarray, float]:
    """(quality per image, the head's share of it): stored quality blended with the user's preference head."""
    head = stored_head(store, user_id, data.model_id)
    return combined_quality(data.quality, data.X, head, data.requested), (head_weight(head) if head else 0.0)


def selection_for_theta(data: RoundData, theta: float, k: int, labels=None, *, kernel: str = "rbf",
                        bandwidth: float | None = None, min_distance: float | None = None) -> dict:
    """Selection summary at one theta, not stored: what the notebook's theta slider recomputes."""
    sel = select(data.X, data.quality, k, theta=theta, clusters=labels, candidates=data.selectable, kernel=kernel,
                 bandwidth=bandwidth, min_distance=min_distance)
    return {"indices": sel.indices, **sel.to_dict()}


def run(ctx: RunContext, round_number: int, variant: str | None = None) -> SelectResult:
    cfg = ctx.config
    data = ctx.round_data(round_number)
    labels = ctx.store.cluster_labels(data.job_id, data.image_ids) if cfg.select.cluster_aware else None
    quality, head_share = selection_quality(ctx.store, data, ctx.learner_id)
    _, result = select_round(ctx.store, data, cfg.select_k, theta=cfg.select.theta, seed=ctx.seed(round_number),
                             quality=quality, labels=labels, head_share=head_share, kernel=cfg.select.kernel,
                             bandwidth=cfg.select.bandwidth, min_distance=cfg.select.min_distance, variant=variant,
                             parameters=cfg.select.model_dump(mode="json") if variant else None)
    return result


STAGE = Stage(5, "select", "DPP selection", "select", run, seed_numbers=(8,), check=embedder_loads,
              enabled=needs_embeddings, explore=run)

"""Stage 4, cluster: K-means with K chosen by silhouette, and the style profile of each cluster.

The algorithm is :mod:`bffkit.cluster` (numpy in, numpy out); this stage reads the round from
the store, calls it and writes what it found.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

from ..cluster import auto_kmeans, style_profiles
from ..duplicates import NEAR_DUPLICATE, duplicate_ids, near_duplicates
from ..store.ids import clustering_id
from .base import Stage, StageResult, embedder_loads, needs_embeddings
from .context import RunContext
from .round_data import RoundData


@dataclass(frozen=True)
class ClusterResult(StageResult):
    result_id: str
    n_images: int
    k: int
    silhouette: dict[int, float]
    profiles: list[dict]
    seconds: float
    n_near_duplicates: int = 0  # images with a better one of their cluster at cos >= the threshold

    @property
    def items(self) -> int:
        return self.n_images

    def summary(self) -> str:
        duplicates = f"; {self.n_near_duplicates} near duplicates left out of selection" if self.n_near_duplicates else ""
        return (f"K={self.k} (silhouette {self.silhouette[self.k]:.3f}); styles: "
                + "; ".join(f"{p['name']} ({p['size']})" for p in self.profiles) + duplicates)


def cluster_round(store, data: RoundData, *, k_range=(3, 8), seed: int = 0, sample_size: int = 5000,
                  variant: str | None = None, near_duplicate: float = NEAR_DUPLICATE, parameters: dict | None = None):
    """Auto-K K-means, style profiles and near duplicates (cosine >= `near_duplicate` within a
    cluster, :func:`bffkit.duplicates.near_duplicates`) for a round; stored, and returned with the labels.

    A `variant` (e.g. another K range asked for through the API, or a notebook on a past round) is
    stored beside the stage's own clustering, never over it, with its `parameters` and its parent
    (the stage's own clustering's id)."""
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = auto_kmeans(data.X, k_range, seed=seed, sample_size=sample_size)
    profiles = [{**p.to_dict(), "medoid_image_id": data.image_ids[p.medoid]}
                for p in style_profiles(data.X, result.labels, data.detected)]
    duplicate_of = duplicate_ids(data.image_ids, near_duplicates(data.X, result.labels, data.quality, near_duplicate))
    n_near = sum(d is not None for d in duplicate_of)
    metrics = {**result.metrics(), "near_duplicate": near_duplicate, "n_near_duplicates": n_near,
               "warnings": [str(w.message) for w in caught],
               **({"parent": clustering_id(data.job_id), "parameters": parameters} if variant else {})}
    result_id = store.save_clustering(job_id=data.job_id, round=data.round, k=result.k, metrics=metrics,
                                      image_ids=data.image_ids, labels=result.labels, distances=result.distances,
                                      profiles=profiles, variant=variant, duplicate_of=duplicate_of)
    return result, ClusterResult(result_id, len(data), result.k, result.scores, profiles, time.perf_counter() - t0,
                                 n_near_duplicates=n_near)


def run(ctx: RunContext, round_number: int, variant: str | None = None) -> ClusterResult:
    cfg = ctx.config.cluster
    _, result = cluster_round(ctx.store, ctx.round_data(round_number), k_range=cfg.k_range,
                              seed=ctx.seed(round_number), sample_size=cfg.silhouette_sample,
                              near_duplicate=cfg.near_duplicate, variant=variant,
                              parameters=cfg.model_dump(mode="json") if variant else None)
    return result


STAGE = Stage(4, "cluster", "Style clustering", "cluster", run, seed_numbers=(7,), check=embedder_loads,
              enabled=needs_embeddings, explore=run)

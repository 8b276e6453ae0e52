"""The selections a researcher compares the DPP against, and the table that compares them.

Every selector takes what :func:`bffkit.dpp.select` takes — embeddings ``X``, a ``quality`` per
row, ``k``, optional cluster labels and a seed — and returns row indices in selection order.
:func:`select_with` applies the same candidate mask the DPP gets (indices still refer to all
rows), so every method chooses among the same images. :func:`compare_selections` gives one
row per method: Vendi, distinct detected values covered, the subset's coverage score, defect
share, mean quality, the smallest pairwise cosine distance and seconds.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from .dpp import SelectionWarning, normalised_rows, cluster_quotas, greedy_map, vendi_score

Selector = Callable[..., np.ndarray]


def random_subset(X: np.ndarray, quality: np.ndarray, k: int, *, clusters=None, seed: int = 0) -> np.ndarray:
    """`k` rows uniformly at random (the floor any selection must clear)."""
    n = len(quality)
    return np.random.default_rng(seed).choice(n, size=min(k, n), replace=False)


def stratified_random(X: np.ndarray, quality: np.ndarray, k: int, *, clusters=None, seed: int = 0) -> np.ndarray:
    """Random within each cluster, in the DPP's cluster quotas (plain random without clusters)."""
    if clusters is None:
        return random_subset(X, quality, k, seed=seed)
    rng = np.random.default_rng(seed)
    clusters = np.asarray(clusters)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SelectionWarning)
        quotas = cluster_quotas(clusters, min(k, len(clusters)))
    picks = [rng.choice(np.flatnonzero(clusters == c), size=q, replace=False) for c, q in quotas.items() if q]
    return np.concatenate(picks) if picks else np.array([], dtype=int)


def top_k_quality(X: np.ndarray, quality: np.ndarray, k: int, *, clusters=None, seed: int = 0) -> np.ndarray:
    """The `k` rows of highest quality (ties by row order)."""
    return np.argsort(-np.asarray(quality, dtype=np.float64), kind="stable")[:k]


def k_center_greedy(X: np.ndarray, quality: np.ndarray, k: int, *, clusters=None, seed: int = 0) -> np.ndarray:
    """Farthest-point traversal on cosine distance (Gonzalez 1985): start at the best-quality row,
    then add the row farthest from everything chosen. One GEMV per pick: O(N k d), no N x N."""
    Xn = normalised_rows(X)
    n = len(Xn)
    k = min(k, n)
    if k == 0:
        return np.array([], dtype=int)
    first = int(np.argmax(np.asarray(quality, dtype=np.float64)))
    chosen = [first]
    nearest = 1.0 - Xn @ Xn[first]  # each row's distance to its nearest chosen row
    nearest[first] = -np.inf
    for _ in range(k - 1):
        pick = int(np.argmax(nearest))
        chosen.append(pick)
        nearest = np.minimum(nearest, 1.0 - Xn @ Xn[pick])
        nearest[chosen] = -np.inf
    return np.array(chosen, dtype=int)


def dpp(theta: float = 0.7, cluster_aware: bool = True, *, kernel: str = "cosine",
        bandwidth: float | None = None, min_distance: float | None = None) -> Selector:
    """The greedy MAP DPP as a selector (cluster quotas when labels are given and `cluster_aware`);
    its defaults are :func:`bffkit.dpp.greedy_map`'s, the run config's are in ``select``."""
    def selector(X, quality, k, *, clusters=None, seed: int = 0):
        return greedy_map(X, quality, k, theta=theta, clusters=clusters if cluster_aware else None, kernel=kernel,
                          bandwidth=bandwidth, min_distance=min_distance)
    return selector


SELECTORS: dict[str, Selector] = {
    "random": random_subset,
    "stratified random": stratified_random,
    "top-k quality": top_k_quality,
    "k-center greedy": k_center_greedy,
}


def select_with(selector: Selector, X: np.ndarray, quality: np.ndarray, k: int, *,
                candidates: np.ndarray | None = None, clusters: np.ndarray | None = None,
                seed: int = 0) -> np.ndarray:
    """`selector` on the candidate rows only (a boolean mask, as :func:`bffkit.dpp.select` takes
    it); the indices refer to all rows."""
    quality = np.asarray(quality, dtype=np.float64)
    if candidates is None:
        return np.asarray(selector(X, quality, k, clusters=clusters, seed=seed), dtype=int)
    candidates = np.asarray(candidates, dtype=bool)
    if candidates.shape != quality.shape:
        raise ValueError(f"candidates must be a boolean mask of length {len(quality)}, got shape {candidates.shape}")
    rows = np.flatnonzero(candidates)
    sub = selector(np.asarray(X)[rows], quality[rows], k, seed=seed,
                   clusters=None if clusters is None else np.asarray(clusters)[rows])
    return rows[np.asarray(sub, dtype=int)]


def min_pairwise_distance(X: np.ndarray) -> float:
    """The smallest cosine distance between two rows (how close the subset's nearest pair is)."""
    Xn = normalised_rows(np.asarray(X, dtype=np.float64))
    if len(Xn) < 2:
        return float("nan")
    sim = Xn @ Xn.T
    np.fill_diagonal(sim, -np.inf)
    return float(1.0 - sim.max())


def values_covered(detected: Sequence[Mapping[str, str]]) -> int:
    """Distinct (attribute, value) pairs detected across the images."""
    return len({(a, v) for d in detected for a, v in d.items()})


def compare_selections(X: np.ndarray, quality: np.ndarray, k: int, *, candidates: np.ndarray | None = None,
                       clusters: np.ndarray | None = None, detected: Sequence[Mapping[str, str]] | None = None,
                       defects: Sequence[str | None] | None = None,
                       targets: Mapping[tuple[str, str], float] | None = None,
                       methods: Mapping[str, Selector] | None = None, seed: int = 0,
                       random_repeats: int = 20, selections: Mapping[str, np.ndarray] | None = None,
                       scores: Mapping[str, np.ndarray] | None = None) -> pd.DataFrame:
    """One row per method on the same candidates: ``vendi``, ``values_covered`` (with `detected`),
    ``coverage`` (the subset's coverage score against `targets`), ``defect_share`` (with
    `defects`, the sketch backend's), ``mean_quality``, ``min_distance`` and ``seconds``.

    `methods` defaults to :func:`dpp` at its defaults and :data:`SELECTORS`. The
    random methods are averaged over `random_repeats` seeds (seed, seed + 1, ...).
    `selections` ({name: indices into all rows}) are subsets made already, e.g. the stored one:
    measured the same way, first, with no seconds. `scores` ({column: one value per row}, e.g. the
    preference head's P(liked)) add their mean over each subset as a column.
    """
    from .coverage import measure_coverage

    if k < 1:
        raise ValueError(f"k={k}: must be at least 1")
    methods = dict(methods) if methods is not None else {"DPP θ 0.7": dpp(0.7), **SELECTORS}
    quality = np.asarray(quality, dtype=np.float64)
    defect = None if defects is None else np.array([d is not None for d in defects])

    def measured(idx: np.ndarray, seconds: float) -> dict:
        idx = np.asarray(idx, dtype=int)
        m = {"n": len(idx), "vendi": vendi_score(np.asarray(X)[idx]),
             "mean_quality": float(quality[idx].mean()) if len(idx) else float("nan"),
             "min_distance": min_pairwise_distance(np.asarray(X)[idx]), "seconds": seconds}
        if detected is not None:
            subset = [detected[i] for i in idx]
            m["values_covered"] = values_covered(subset)
            if targets is not None:
                m["coverage"] = measure_coverage(detected, subset, targets).score_selected
        if defect is not None:
            m["defect_share"] = float(defect[idx].mean()) if len(idx) else float("nan")
        for column, values in (scores or {}).items():
            m[column] = float(np.asarray(values, dtype=np.float64)[idx].mean()) if len(idx) else float("nan")
        return m

    rows = [{"method": name, **measured(idx, float("nan")), "repeats": 1} for name, idx in (selections or {}).items()]
    for name, selector in methods.items():
        repeats = random_repeats if selector in (random_subset, stratified_random) else 1
        measures = []
        for r in range(repeats):
            t = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", SelectionWarning)
                idx = select_with(selector, X, quality, k, candidates=candidates, clusters=clusters, seed=seed + r)
            measures.append(measured(idx, time.perf_counter() - t))
        row = {"method": name, **pd.DataFrame(measures).mean(numeric_only=True).to_dict(), "repeats": repeats}
        row["n"] = int(round(row["n"]))
        rows.append(row)
    order = ["method", "n", "vendi", "values_covered", "coverage", "defect_share", "mean_quality", "min_distance",
             "seconds", "repeats"]
    table = pd.DataFrame(rows)
    return table[[c for c in order if c in table.columns] + list(scores or {})]

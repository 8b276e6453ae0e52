"""The baseline selectors and the comparison table the DPP is judged by."""
from __future__ import annotations

import numpy as np
import pytest

from bffkit.baselines import (SELECTORS, compare_selections, dpp, k_center_greedy, min_pairwise_distance,
                              select_with, stratified_random, top_k_quality)
from bffkit.dpp import cluster_quotas


def _pool(n=300, d=48, centres=6, seed=0):
    """Points around `centres` directions: tight clusters, a quality per point, a few 'defects'."""
    rng = np.random.default_rng(seed)
    C = rng.normal(size=(centres, d))
    labels = rng.integers(0, centres, size=n)
    X = C[labels] + 0.15 * rng.normal(size=(n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X.astype(np.float32), rng.uniform(size=n), labels


def _farthest_point_reference(X, first, k):
    D = 1 - X @ X.T
    chosen = [first]
    for _ in range(k - 1):
        near = D[:, chosen].min(axis=1)
        near[chosen] = -np.inf
        chosen.append(int(np.argmax(near)))
    return chosen


def test_k_center_greedy_is_farthest_point_from_the_best_row():
    X, q, _ = _pool()
    idx = k_center_greedy(X, q, 20)
    assert idx[0] == int(np.argmax(q)) and len(set(idx.tolist())) == 20
    assert idx.tolist() == _farthest_point_reference(X.astype(np.float64), int(np.argmax(q)), 20)


def test_stratified_random_fills_the_dpp_quotas_and_is_seeded():
    X, q, labels = _pool()
    idx = stratified_random(X, q, 30, clusters=labels, seed=3)
    counts = {int(c): int((labels[idx] == c).sum()) for c in np.unique(labels)}
    assert counts == cluster_quotas(labels, 30) and len(set(idx.tolist())) == 30
    assert idx.tolist() == stratified_random(X, q, 30, clusters=labels, seed=3).tolist()
    assert idx.tolist() != stratified_random(X, q, 30, clusters=labels, seed=4).tolist()


def test_every_selector_keeps_to_the_candidates():
    X, q, labels = _pool()
    candidates = np.arange(len(q)) % 3 != 0
    for name, selector in {**SELECTORS, "dpp": dpp(0.7)}.items():
        idx = select_with(selector, X, q, 25, candidates=candidates, clusters=labels, seed=1)
        assert len(idx) == 25 and candidates[idx].all() and len(set(idx.tolist())) == 25, name
    top = select_with(top_k_quality, X, q, 5, candidates=candidates)
    assert top.tolist() == [i for i in np.argsort(-q) if candidates[i]][:5]
    with pytest.raises(ValueError, match="candidates must be a boolean mask of length 300"):
        select_with(top_k_quality, X, q, 5, candidates=candidates[:10])


def test_compare_selections_one_row_per_method_on_the_same_candidates():
    X, q, labels = _pool()
    detected = [{"pattern": f"p{c}", "colour": f"c{i % 4}"} for i, c in enumerate(labels)]
    defects = ["smudge" if i % 10 == 0 else None for i in range(len(q))]
    targets = {("pattern", f"p{c}"): 0.1 for c in range(6)}
    table = compare_selections(X, q, 24, candidates=np.array([d is None for d in defects]), clusters=labels,
                               detected=detected, defects=defects, targets=targets, random_repeats=5)
    assert table["method"].tolist() == ["DPP θ 0.7", "random", "stratified random", "top-k quality",
                                        "k-center greedy"]
    by = table.set_index("method")
    assert (by["n"] == 24).all() and (by["defect_share"] == 0).all()  # the mask held for every method
    assert by.loc["random", "repeats"] == 5 and by.loc["k-center greedy", "repeats"] == 1
    assert by["mean_quality"].idxmax() == "top-k quality"
    # spreading out: farthest-point keeps the nearest pair further apart than random, and sees every cluster
    assert by.loc["k-center greedy", "min_distance"] > by.loc["random", "min_distance"]
    assert by.loc["k-center greedy", "values_covered"] == 6 + 4
    from bffkit.coverage import measure_coverage

    top = select_with(top_k_quality, X, q, 24, candidates=np.array([d is None for d in defects]))
    assert by.loc["top-k quality", "coverage"] == measure_coverage(detected, [detected[i] for i in top],
                                                                   targets).score_selected
    assert by.loc["DPP θ 0.7", "vendi"] > by.loc["top-k quality", "vendi"]
    assert min_pairwise_distance(X[:1]) != min_pairwise_distance(X[:1])  # NaN for fewer than two rows

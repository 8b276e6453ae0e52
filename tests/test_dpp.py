"""Stage 5: greedy MAP DPP selection — exactness against a naive greedy, limits, degenerate input."""

import warnings

import numpy as np
import pytest

from bffkit.dpp import (SelectionWarning, cluster_quotas, greedy_map, log_det_diversity, median_bandwidth, select,
                        vendi_score)


def naive_greedy(X, quality, k, theta, bandwidth=None):
    """The definition: add the item that maximises log det L_Y, recomputing every determinant.
    With `bandwidth`, S is the RBF kernel exp(-||x - y||^2 / (2 h^2)) on the unit rows."""
    X = X.astype(np.float64)
    X = X / np.linalg.norm(X, axis=1, keepdims=True)
    r = quality if 0 <= quality.min() and quality.max() <= 1 else (quality - quality.min()) / np.ptp(quality)
    q = np.exp(theta / (2 * (1 - theta)) * r)
    if bandwidth is None:
        S = X @ X.T
    else:
        S = np.exp(-((X[:, None, :] - X[None, :, :]) ** 2).sum(-1) / (2 * bandwidth ** 2))
    L = q[:, None] * S * q[None, :]
    chosen = []
    for _ in range(k):
        best, best_val = None, -np.inf
        for i in range(len(X)):
            if i in chosen:
                continue
            idx = chosen + [i]
            sign, val = np.linalg.slogdet(L[np.ix_(idx, idx)])
            if sign > 0 and val > best_val + 1e-9:  # exact ties: the lowest index
                best, best_val = i, val
        chosen.append(best)
    return np.array(chosen)


@pytest.mark.parametrize("seed", range(8))
def test_identical_to_naive_greedy(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 301))
    d = int(rng.integers(8, 48))
    k = int(rng.integers(2, min(d, 25)))
    theta = float(rng.choice([0.0, 0.3, 0.7, 0.9]))
    X = rng.standard_normal((n, d)).astype(np.float32)
    quality = rng.random(n)
    fast = greedy_map(X, quality, k, theta=theta)
    assert fast.tolist() == naive_greedy(X, quality, k, theta).tolist()


@pytest.mark.parametrize("seed", range(4))
def test_rbf_kernel_identical_to_naive_greedy(seed):
    rng = np.random.default_rng(100 + seed)
    n, d, k = int(rng.integers(20, 120)), int(rng.integers(4, 32)), int(rng.integers(2, 16))
    theta = float(rng.choice([0.0, 0.5, 0.9]))
    X = rng.standard_normal((n, d)).astype(np.float32)
    quality = rng.random(n)
    Xn = X.astype(np.float64) / np.linalg.norm(X, axis=1, keepdims=True)
    pair = np.sqrt(((Xn[:, None] - Xn[None]) ** 2).sum(-1))[np.triu_indices(n, 1)]
    assert median_bandwidth(X) == pytest.approx(np.median(pair), rel=1e-5)
    for h in (None, 0.5):
        fast = greedy_map(X, quality, k, theta=theta, kernel="rbf", bandwidth=h)
        assert fast.tolist() == naive_greedy(X, quality, k, theta, bandwidth=h or np.median(pair)).tolist()


def test_theta_zero_is_pure_diversity():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((200, 16)).astype(np.float32)
    a = greedy_map(X, rng.random(200), 10, theta=0.0)
    b = greedy_map(X, rng.random(200) * 100, 10, theta=0.0)
    assert a.tolist() == b.tolist()  # quality plays no part
    assert a.tolist() == naive_greedy(X, np.arange(200.0), 10, 0.0).tolist()


@pytest.mark.parametrize("theta", [0.9999, 1 - 1e-6, 1.0])
def test_theta_near_one_is_top_k_by_quality(theta):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((500, 32)).astype(np.float32)
    quality = rng.random(500)
    got = greedy_map(X, quality, 20, theta=theta)
    assert got.tolist() == np.argsort(-quality)[:20].tolist()


def test_exact_duplicates_never_both_selected():
    rng = np.random.default_rng(3)
    base = rng.standard_normal((60, 64)).astype(np.float32)
    X = np.vstack([base, base, base[:10]])  # every item twice, ten three times
    quality = np.concatenate([rng.random(60)] * 2 + [rng.random(10)])
    for theta in (0.0, 0.7, 0.95):
        for clusters in (None, np.arange(len(X)) % 4):
            got = greedy_map(X, quality, 50, theta=theta, clusters=clusters)
            assert len(got) == 50
            originals = got % 60
            assert len(set(originals.tolist())) == len(got), (theta, clusters is None)


def test_k_above_rank_and_n_warns_and_returns_what_is_independent():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((40, 8)).astype(np.float32)
    with pytest.warns(SelectionWarning, match="numerical rank"):
        got = greedy_map(X, rng.random(40), 20)
    assert len(got) == 8 and len(set(got.tolist())) == 8
    with pytest.warns(SelectionWarning, match="exceeds the 5 items"):
        got = greedy_map(rng.standard_normal((5, 16)), np.ones(5), 10)
    assert sorted(got.tolist()) == [0, 1, 2, 3, 4]


def test_all_zero_quality_is_diversity_with_a_warning():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((100, 16)).astype(np.float32)
    with pytest.warns(SelectionWarning, match="constant"):
        got = greedy_map(X, np.zeros(100), 10, theta=0.7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert got.tolist() == greedy_map(X, np.zeros(100), 10, theta=0.0).tolist()
    sel = select(X, np.zeros(100), 10)
    assert np.isfinite(sel.vendi) and np.isfinite(sel.log_det) and sel.mean_quality == 0


def test_bad_input_is_a_clear_error():
    X = np.ones((4, 3))
    with pytest.raises(ValueError, match="theta=1.5"):
        greedy_map(X, np.ones(4), 2, theta=1.5)
    with pytest.raises(ValueError, match="finite"):
        greedy_map(X, np.array([1, np.nan, 0, 0]), 2)
    with pytest.raises(ValueError, match="3 values for 4 items"):
        greedy_map(X, np.ones(3), 2)
    with pytest.raises(ValueError, match="k=0"):
        greedy_map(X, np.ones(4), 0)
    with pytest.raises(ValueError, match="kernel='gauss': must be one of cosine, rbf"):
        greedy_map(X, np.ones(4), 2, kernel="gauss")
    with pytest.raises(ValueError, match="bandwidth=-1: must be > 0"):
        greedy_map(X, np.ones(4), 2, kernel="rbf", bandwidth=-1)


def test_cluster_quotas_proportional_with_one_each():
    labels = np.array([0] * 70 + [1] * 25 + [2] * 5)
    assert cluster_quotas(labels, 10) == {0: 7, 1: 2, 2: 1}
    assert sum(cluster_quotas(labels, 37).values()) == 37
    assert cluster_quotas(labels, 100) == {0: 70, 1: 25, 2: 5}
    with pytest.warns(SelectionWarning, match="below the 3 clusters"):
        assert cluster_quotas(labels, 2) == {0: 1, 1: 1}


def test_cluster_aware_fills_quotas_and_conditions_across_clusters():
    rng = np.random.default_rng(6)
    centres = rng.standard_normal((3, 32)) * 3
    labels = np.repeat([0, 1, 2], [120, 60, 20])
    X = (centres[labels] + rng.standard_normal((200, 32))).astype(np.float32)
    quality = rng.random(200)
    got = greedy_map(X, quality, 20, theta=0.7, clusters=labels)
    counts = np.bincount(labels[got], minlength=3)
    assert counts.tolist() == [12, 6, 2]
    # conditioned on everything already selected: the same as the plain greedy restricted by quota,
    # i.e. the selection's log det is at least that of picking each cluster's quota independently
    independent = np.concatenate([np.flatnonzero(labels == c)[greedy_map(X[labels == c], quality[labels == c], m)]
                                  for c, m in zip(range(3), counts)])
    assert log_det_diversity(X[got]) >= log_det_diversity(X[independent]) - 1e-6


def test_vendi_score_matches_definition():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((30, 8))
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    lam = np.linalg.eigvalsh(Xn @ Xn.T / 30)
    lam = lam[lam > 1e-12]
    assert vendi_score(X) == pytest.approx(np.exp(-(lam * np.log(lam)).sum()))
    assert vendi_score(np.ones((10, 4))) == pytest.approx(1.0)
    assert vendi_score(np.eye(6)) == pytest.approx(6.0)


def test_candidates_limit_the_picks_and_indices_refer_to_all_rows():
    rng = np.random.default_rng(3)
    X, q = rng.normal(size=(60, 16)).astype(np.float32), rng.random(60)
    mask = np.zeros(60, dtype=bool)
    mask[::2] = True
    sel = select(X, q, 10, theta=0.7, candidates=mask)
    assert len(sel.indices) == 10 and mask[sel.indices].all()
    rows = np.flatnonzero(mask)
    np.testing.assert_array_equal(sel.indices, rows[greedy_map(X[rows], q[rows], 10, theta=0.7)])
    labels = rng.integers(0, 3, 60)
    sel = select(X, q, 9, clusters=labels, candidates=mask)
    assert len(sel.indices) == 9 and mask[sel.indices].all()
    np.testing.assert_array_equal(select(X, q, 10, candidates=np.ones(60, bool)).indices, select(X, q, 10).indices)


def test_too_few_candidates_warns_and_selects_from_all_rows():
    rng = np.random.default_rng(4)
    X, q = rng.normal(size=(30, 8)), rng.random(30)
    mask = np.zeros(30, dtype=bool)
    mask[:3] = True
    with pytest.warns(SelectionWarning, match="only 3 of 30 rows are candidates"):
        sel = select(X, q, 10, candidates=mask)
    np.testing.assert_array_equal(sel.indices, select(X, q, 10).indices)
    with pytest.raises(ValueError, match="candidates must be a boolean mask of length 30"):
        select(X, q, 10, candidates=mask[:5])


def test_min_distance_keeps_every_pair_that_far_apart_and_stops_when_none_is_left():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((300, 8)).astype(np.float32)
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    quality = rng.random(300)
    free = greedy_map(X, quality, 40, kernel="rbf")
    closest = 1 - (Xn[free] @ Xn[free].T)[np.triu_indices(40, 1)].max()
    assert greedy_map(X, quality, 40, kernel="rbf", min_distance=0.0).tolist() == free.tolist()
    apart = 2 * closest  # more than this pool offers for 40 picks
    with pytest.warns(SelectionWarning, match="within min_distance"):
        got = greedy_map(X, quality, 40, kernel="rbf", min_distance=apart)
    assert 1 < len(got) < 40
    assert 1 - (Xn[got] @ Xn[got].T)[np.triu_indices(len(got), 1)].max() >= apart - 1e-6
    # up to the stop, the picks are the free greedy's picks (the rule only removes candidates)
    assert got[0] == free[0]
    with pytest.raises(ValueError, match=r"min_distance=3: must be a cosine distance in \[0, 2\]"):
        greedy_map(X, quality, 5, min_distance=3)


def test_quality_on_the_unit_interval_is_taken_as_it_is():
    from bffkit.dpp import quality_scale

    q = np.array([0.95, 0.97, 0.99])
    assert quality_scale(q).tolist() == q.tolist()  # a good pool stays a good pool: diversity decides
    np.testing.assert_allclose(quality_scale(np.array([2.0, 4.0, 6.0])), [0, 0.5, 1])  # other scales: min-max
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 64)).astype(np.float32)
    narrow = 0.95 + 0.04 * rng.random(200)  # every candidate good
    stretched = (narrow - narrow.min()) / np.ptp(narrow)  # the same ranking over [0, 1]

    def picked(q, theta):
        idx = greedy_map(X, q, 20, theta, kernel="rbf")
        return vendi_score(X[idx]), narrow[idx].mean()

    (v0, _), (v7, q7), (vs, qs), (_, top) = picked(narrow, 0), picked(narrow, 0.7), picked(stretched, 0.7), \
        picked(narrow, 0.99)
    # at theta 0.7 a spread of 0.04 costs almost no diversity; stretched, it is nearly top-k by quality
    assert v7 >= 0.99 * v0 and vs < v7 and qs > q7 and qs >= top - 1e-3

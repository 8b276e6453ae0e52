"""Stage 4: auto-K K-means, sampled silhouette, style profiles."""

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import silhouette_score

from bffkit.cluster import ClusterWarning, auto_kmeans, medoids, silhouette_from_distances, style_profiles


def test_silhouette_matches_sklearn():
    X, _ = make_blobs(400, 12, centers=4, random_state=0)
    labels = KMeans(4, n_init=1, random_state=0).fit_predict(X)
    D = np.sqrt(((X[:, None] - X[None]) ** 2).sum(-1))
    assert silhouette_from_distances(D, labels) == pytest.approx(silhouette_score(X, labels), abs=1e-9)


@pytest.mark.parametrize("true_k", [3, 5, 7])
def test_finds_the_true_k_and_agrees_with_exhaustive_sklearn(true_k):
    X, y = make_blobs(3000, 24, centers=true_k, cluster_std=1.5, random_state=true_k)
    r = auto_kmeans(X, (3, 8), seed=0, sample_size=1000)
    assert r.k == true_k
    assert sorted(r.scores) == list(range(3, 9)) and len(r.labels) == 3000
    assert r.centroids.shape == (true_k, 24) and r.distances.shape == (3000,)
    # the exhaustive reference on the same sample picks the same K
    sample = np.sort(np.random.default_rng(0).choice(3000, 1000, replace=False))
    ref = {k: silhouette_score(X[sample], KMeans(k, n_init=3, random_state=0).fit_predict(X)[sample])
           for k in range(3, 9)}
    assert max(ref, key=ref.get) == r.k
    # inertia is the within-cluster sum of squares of the returned labels
    assert r.inertia == pytest.approx(float(((X - r.centroids[r.labels]) ** 2).sum()), rel=1e-4)


def test_large_n_fits_on_a_sample_and_assigns_everything():
    X, y = make_blobs(30000, 16, centers=4, random_state=1)
    r = auto_kmeans(X, (3, 6), seed=0, sample_size=2000, fit_sample=5000)
    assert r.method == "kmeans-sampled" and r.k == 4 and r.sample_size == 2000
    # every point is assigned to its nearest centroid
    d = ((X[:500, None] - r.centroids[None]) ** 2).sum(-1)
    assert (d.argmin(1) == r.labels[:500]).all()


def test_few_points_shrink_the_range_and_too_few_is_an_error():
    X = np.random.default_rng(0).standard_normal((5, 4))
    with pytest.warns(ClusterWarning, match="shrinks to 3..4"):
        r = auto_kmeans(X, (3, 8))
    assert 3 <= r.k <= 4
    with pytest.raises(ValueError, match="at least 3 points, got 2"):
        auto_kmeans(X[:2])
    with pytest.raises(ValueError, match="k_range"):
        auto_kmeans(X, (5, 3))


def test_duplicate_points_are_fine():
    rng = np.random.default_rng(2)
    base = rng.standard_normal((4, 8)) * 10
    X = np.repeat(base, 50, axis=0)  # 4 distinct points, 50 copies each
    with pytest.warns(ClusterWarning, match="4 distinct"):
        r = auto_kmeans(X, (3, 8))
    assert r.k == 4 and np.isfinite(list(r.scores.values())).all()
    assert len(np.unique(r.labels)) == 4
    with pytest.raises(ValueError, match="2 distinct"):
        auto_kmeans(np.ones((10, 3)))


def test_deterministic_for_a_seed():
    X, _ = make_blobs(800, 10, centers=5, random_state=3)
    a, b = auto_kmeans(X, seed=4), auto_kmeans(X, seed=4)
    assert a.k == b.k and (a.labels == b.labels).all() and a.scores == b.scores


def test_style_profiles_name_clusters_by_lift():
    rng = np.random.default_rng(5)
    X = np.vstack([rng.normal(c, 0.1, (30, 6)) for c in (0, 5)])
    labels = np.repeat([0, 1], 30)
    detected = [{"category": "dress", "length": "midi", "pattern": "floral"} for _ in range(30)] + \
               [{"category": "dress", "length": "mini", "pattern": "solid" if i % 3 else "floral"} for i in range(30)]
    profiles = style_profiles(X, labels, detected)
    assert [p.size for p in profiles] == [30, 30]
    assert profiles[0].name.startswith("midi") and "floral" in profiles[0].name
    assert profiles[1].name.split(" · ")[0] in ("mini", "solid")
    assert "dress" not in profiles[0].name  # present everywhere: no lift
    assert profiles[0].medoid in range(30) and profiles[1].medoid in range(30, 60)


def test_medoid_is_the_min_total_cosine_distance():
    rng = np.random.default_rng(6)
    X = rng.standard_normal((40, 5))
    labels = np.zeros(40, dtype=int)
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    assert medoids(X, labels)[0] == int(np.argmin((1 - Xn @ Xn.T).sum(1)))

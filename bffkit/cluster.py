"""Stage 4: style clustering. K-means with K chosen by silhouette, and readable style profiles.

:func:`auto_kmeans` fits K-means for every K in a range and keeps the K with the best
silhouette. Two things keep it fast at any N:

* the silhouette is computed on one fixed-size seeded sample (the same for every K) from a
  single pairwise-distance matrix, each K costing one (sample x sample) @ (sample x K)
  product; the full O(N^2) silhouette is never computed;
* above ``fit_sample`` points, each K-means is fitted on a seeded sample of that size (one
  k-means++ start) and then every point is assigned to its nearest centroid (faiss trains
  its k-means the same way, on 256 points per centroid by default). Below it, K-means sees
  every point, best of ``n_init`` starts.

:func:`style_profiles` turns clusters into named styles: the detected attribute values that
are over-represented in a cluster (lift over their global frequency), the medoid image and
the size.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .tagging import DESIGN_ATTRIBUTES

class ClusterWarning(UserWarning):
    """The K range was shrunk to what the data allows."""


@dataclass(frozen=True)
class ClusterResult:
    """K-means at the chosen K, plus the silhouette (and inertia) of every K tried."""

    k: int
    labels: np.ndarray  # (N,) cluster per point
    centroids: np.ndarray  # (k, d)
    distances: np.ndarray  # (N,) Euclidean distance to the own centroid
    scores: dict[int, float]  # silhouette per K, on the sample
    inertias: dict[int, float]  # within-cluster sum of squares per K, on all points
    sample_size: int
    method: str  # "kmeans" (all points) or "kmeans-sampled"

    @property
    def inertia(self) -> float:
        return self.inertias[self.k]

    @property
    def sizes(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=self.k)

    def metrics(self) -> dict:
        return {"k": self.k, "silhouette": {str(k): v for k, v in self.scores.items()},
                "inertia": {str(k): v for k, v in self.inertias.items()}, "sample_size": self.sample_size,
                "method": self.method, "sizes": self.sizes.tolist()}


def _check_matrix(X) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (points x features), got shape {X.shape}")
    if X.shape[0] < 3:
        raise ValueError(f"clustering needs at least 3 points, got {X.shape[0]}")
    X = X.astype(np.float32, copy=False) if X.dtype != np.float64 else X
    if not np.all(np.isfinite(X)):
        raise ValueError("X must be finite (no NaN or inf)")
    return X


def pairwise_distances_sq(A: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances between the rows of A (float32, clipped at 0)."""
    A = A.astype(np.float32, copy=False)
    sq = np.einsum("ij,ij->i", A, A)
    D = A @ A.T
    D *= -2
    D += sq[:, None]
    D += sq[None, :]
    np.maximum(D, 0, out=D)
    np.fill_diagonal(D, 0)
    return D


def silhouette_from_distances(D: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette from a precomputed Euclidean distance matrix (sklearn's definition).

    Points alone in their cluster score 0; clusters absent from `labels` are ignored.
    """
    ids, lab = np.unique(labels, return_inverse=True)
    if len(ids) < 2:
        return float("nan")
    onehot = np.zeros((len(lab), len(ids)), dtype=D.dtype)
    onehot[np.arange(len(lab)), lab] = 1
    sums = D @ onehot  # (n, k): total distance from each point to each cluster
    counts = onehot.sum(0)
    own = counts[lab]
    a = sums[np.arange(len(lab)), lab] / np.maximum(own - 1, 1)
    mean_other = sums / counts
    mean_other[np.arange(len(lab)), lab] = np.inf
    b = mean_other.min(1)
    s = np.where(own > 1, (b - a) / np.maximum(np.maximum(a, b), 1e-12), 0.0)
    return float(s.mean())


def _assign(X: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centroid and the distance to it, for every row (chunked: no N x k x d temporaries)."""
    c = centroids.astype(X.dtype, copy=False)
    c_sq = np.einsum("ij,ij->i", c, c)
    labels = np.empty(len(X), dtype=np.int64)
    dist = np.empty(len(X), dtype=np.float64)
    for s in range(0, len(X), 65536):
        block = X[s:s + 65536]
        d2 = block @ c.T
        d2 *= -2
        d2 += c_sq[None, :]
        d2 += np.einsum("ij,ij->i", block, block)[:, None]
        lab = d2.argmin(1)
        labels[s:s + len(block)] = lab
        dist[s:s + len(block)] = np.sqrt(np.maximum(d2[np.arange(len(block)), lab], 0))
    return labels, dist


def auto_kmeans(X, k_range: tuple[int, int] = (3, 8), seed: int = 0, *, sample_size: int = 5000,
                fit_sample: int = 8000, n_init: int = 3) -> ClusterResult:
    """K-means for each K in `k_range` (inclusive); the K with the best sampled silhouette wins.

    The range shrinks (with a :class:`ClusterWarning`) when there are too few points or too
    few distinct points for it; fewer than 3 points is an error. Ties go to the smaller K.
    """
    from sklearn.cluster import KMeans

    X = _check_matrix(X)
    k_min, k_max = int(k_range[0]), int(k_range[1])
    if not 2 <= k_min <= k_max:
        raise ValueError(f"k_range={k_range}: need 2 <= k_min <= k_max")
    n = len(X)
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(n, size=min(n, sample_size), replace=False))
    distinct = len(np.unique(X[sample], axis=0))
    hi = min(k_max, n - 1, distinct)  # silhouette needs 2 <= K <= n - 1 non-empty clusters
    lo = min(k_min, hi)
    if hi < 2:
        raise ValueError(f"clustering needs at least 2 distinct points, got {distinct}")
    if (lo, hi) != (k_min, k_max):
        warnings.warn(f"K range {k_min}..{k_max} shrinks to {lo}..{hi}: only {n} points "
                      f"({distinct} distinct in the sample)", ClusterWarning, stacklevel=2)
    sampled_fit = n > fit_sample
    fit_rows = np.sort(rng.choice(n, size=fit_sample, replace=False)) if sampled_fit else None
    D = np.sqrt(pairwise_distances_sq(X[sample]))
    scores, inertias, fits = {}, {}, {}
    for k in range(lo, hi + 1):
        # one k-means++ start on a large sample (1000 points per centroid at K=8) is as good as
        # several on a small one, and keeps 100k x 512 inside its time budget
        km = KMeans(n_clusters=k, n_init=1 if sampled_fit else n_init, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # duplicates: "fewer distinct clusters than K" is handled below
            km.fit(X[fit_rows] if sampled_fit else X)
        labels, dist = _assign(X, km.cluster_centers_)
        scores[k] = round(silhouette_from_distances(D, labels[sample]), 6)
        inertias[k] = float(np.sum(dist ** 2))
        fits[k] = (labels, dist, km.cluster_centers_.astype(np.float32))
    valid = {k: s for k, s in scores.items() if np.isfinite(s)}
    best = max(valid, key=lambda k: (valid[k], -k)) if valid else lo
    labels, dist, centroids = fits[best]
    return ClusterResult(k=best, labels=labels, centroids=centroids, distances=dist, scores=scores,
                         inertias=inertias, sample_size=len(sample),
                         method="kmeans-sampled" if sampled_fit else "kmeans")


# --------------------------------------------------------------------------- style profiles

PROFILE_ATTRIBUTES = DESIGN_ATTRIBUTES  # what names a style


@dataclass(frozen=True)
class StyleProfile:
    cluster_id: int
    name: str
    size: int
    medoid: int  # row index of the medoid image
    attributes: list[dict] = field(default_factory=list)  # dominant values: attribute, value, share, lift

    def to_dict(self) -> dict:
        return {"cluster_id": self.cluster_id, "name": self.name, "size": self.size, "medoid": self.medoid,
                "attributes": self.attributes}


def medoids(X: np.ndarray, labels: np.ndarray) -> dict[int, int]:
    """Row index of each cluster's medoid under cosine distance.

    For unit vectors, sum_j (1 - x_i . x_j) is smallest where x_i . sum_j x_j is largest: exact in O(N d).
    """
    Xn = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    out = {}
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        out[int(c)] = int(rows[np.argmax(Xn[rows] @ Xn[rows].sum(0))])
    return out


def style_profiles(X: np.ndarray, labels: np.ndarray, detected: Sequence[Mapping[str, str]], *,
                   min_share: float = 0.35, min_lift: float = 1.15, name_parts: int = 3,
                   attributes: Sequence[str] = PROFILE_ATTRIBUTES) -> list[StyleProfile]:
    """Named style profiles: per cluster the detected values over-represented in it.

    A value is dominant in a cluster when at least `min_share` of its members show it and it
    is `min_lift` times more frequent there than overall. The name joins the dominant values
    with the highest share x lift (e.g. "midi · floral · wrap"); names are unique per result.
    """
    labels = np.asarray(labels)
    if len(detected) != len(labels):
        raise ValueError(f"{len(detected)} detected-attribute rows for {len(labels)} labels")
    n = len(labels)
    overall = Counter((a, v) for d in detected for a, v in d.items() if a in attributes)
    centre = medoids(X, labels)
    profiles, used = [], Counter()
    for c in sorted(int(c) for c in np.unique(labels)):
        rows = np.flatnonzero(labels == c)
        local = Counter((a, v) for i in rows for a, v in detected[i].items() if a in attributes)
        dominant = []
        for (a, v), m in local.items():
            share, lift = m / len(rows), (m / len(rows)) / (overall[(a, v)] / n)
            if share >= min_share and lift >= min_lift:
                dominant.append({"attribute": a, "value": v, "share": round(share, 3), "lift": round(lift, 3)})
        dominant.sort(key=lambda d: -d["share"] * d["lift"])
        parts = [d["value"] for d in dominant[:name_parts]]
        if not parts:  # nothing stands out: name it by its most common category
            cats = Counter(detected[i].get("category") for i in rows if detected[i].get("category"))
            parts = [f"mixed {cats.most_common(1)[0][0]}" if cats else "mixed"]
        name = " · ".join(parts)
        used[name] += 1
        if used[name] > 1:
            name = f"{name} #{used[name]}"
        profiles.append(StyleProfile(cluster_id=c, name=name, size=len(rows), medoid=centre[c], attributes=dominant))
    return profiles


def kmeans_for_k(X: np.ndarray, k: int, seed: int = 0, sample_size: int = 5000) -> tuple[np.ndarray, float]:
    """(labels, silhouette) of K-means at one K exactly as :func:`auto_kmeans` computes it (same
    starts, same silhouette sample): what the notebook's K slider recomputes, so that at the
    stored K it shows the stored clustering and silhouette."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ClusterWarning)  # a K the data cannot take shrinks to one it can
        result = auto_kmeans(X, (k, k), seed=seed, sample_size=sample_size)
    return result.labels, float(result.scores[result.k])

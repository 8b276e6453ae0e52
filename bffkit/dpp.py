"""Stage 5: diverse, high-quality selection with a Determinantal Point Process.

The kernel is ``L = Diag(q) S Diag(q)``: ``S`` the similarity of the (normalised) embeddings
(cosine, or RBF on cosine distance), ``q = exp(alpha r)`` with ``r`` the quality on [0, 1]
(:func:`quality_scale`: as it is when it lies there, else min-max scaled) and
``alpha = theta / (2 (1 - theta))``. ``theta = 0`` ignores quality (pure diversity); theta
towards 1 turns the selection into top-k by quality.

:func:`greedy_map` is the fast greedy MAP inference of Chen, Zhang & Zhou (NeurIPS 2018):
an incremental Cholesky factor gives every candidate's marginal gain ``d_i^2`` after each
pick in O(N k) per step, O(N k^2 + N k d) in all. Kernel rows are computed from the float32
feature matrix when needed (one GEMV per pick), so no N x N matrix is ever formed.

Two details matter in practice:

* ``d_i^2 = q_i^2 s_i`` where ``s_i`` is the candidate's residual under ``S`` alone. The
  greedy tracks ``s`` and ranks by ``log q_i^2 + log s_i`` when ``q^2`` would overflow or
  underflow (theta near 1), so every theta in [0, 1) gives exact greedy picks.
* A candidate is spent when ``d_i^2 < eps * q_i^2`` (``s_i < eps``): epsilon relative to the
  candidate's own ``q_i^2``, the most its gain can be. An absolute 1e-10 lets float32
  duplicates through; a relative one stops them at any quality scale.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

THETA_MAX = 1.0 - 1e-6
EPS = 1e-4
# Above this 2*alpha, q^2 = exp(2 alpha (r - 1)) spans more than float32 can hold: rank in logs.
_LOG_DOMAIN_ABOVE = 60.0


class SelectionWarning(UserWarning):
    """A selection came out smaller than asked, or ignored a degenerate input."""


def quality_weights(quality: np.ndarray, theta: float) -> tuple[np.ndarray, float]:
    """(2 alpha r, 2 alpha): the log of q^2 up to a constant, and its scale."""
    quality = np.asarray(quality, dtype=np.float64)
    if quality.ndim != 1:
        raise ValueError(f"quality must be 1-D, got shape {quality.shape}")
    if not np.all(np.isfinite(quality)):
        raise ValueError("quality must be finite (no NaN or inf)")
    if not 0 <= theta <= 1:
        raise ValueError(f"theta={theta}: must be in [0, 1) (1 is clamped to {THETA_MAX})")
    theta = min(float(theta), THETA_MAX)
    alpha = theta / (2 * (1 - theta))
    span = float(quality.max() - quality.min()) if quality.size else 0.0
    if quality.size and span == 0 and theta > 0:
        warnings.warn("quality is constant; the selection is by diversity alone", SelectionWarning, stacklevel=3)
    return 2 * alpha * quality_scale(quality), 2 * alpha


def quality_scale(quality: np.ndarray) -> np.ndarray:
    """``r`` in [0, 1]: quality already on [0, 1] as it is, any other range min-max scaled.

    A score on [0, 1] (stage 3's, a probability) means the same in every pool: when every
    candidate is good, r varies little and diversity decides. Min-max scaling it would stretch
    the differences of such a pool, noise included, over the whole range."""
    quality = np.asarray(quality, dtype=np.float64)
    if not quality.size or (quality.min() >= 0 and quality.max() <= 1):
        return quality
    span = float(quality.max() - quality.min())
    return (quality - quality.min()) / span if span > 0 else np.zeros_like(quality)


def normalised_rows(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (items x features), got shape {X.shape}")
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float32)
    if not np.all(np.isfinite(X)):
        raise ValueError("X must be finite (no NaN or inf)")
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    if np.all(np.abs(norms - 1) < 1e-4):
        return X  # already unit rows: no copy (a 1M x 512 matrix is 2 GB)
    return X / np.where(norms > 0, norms, 1).astype(X.dtype)


def cluster_quotas(labels: np.ndarray, k: int) -> dict[int, int]:
    """Per-cluster quotas summing to k: proportional to size, at least one each (largest remainder)."""
    ids, sizes = np.unique(labels, return_counts=True)
    if k < len(ids):
        warnings.warn(f"k={k} is below the {len(ids)} clusters; the largest {k} get one each",
                      SelectionWarning, stacklevel=3)
        order = np.argsort(-sizes, kind="stable")[:k]
        return {int(ids[i]): 1 for i in order}
    share = sizes / sizes.sum() * k
    quota = np.maximum(1, np.floor(share)).astype(int)
    while quota.sum() < k:  # largest remainder first
        quota[np.argmax(share - quota)] += 1
    while quota.sum() > k:  # the one-each floor overshot: take from the most over-served
        over = np.where(quota > 1, quota - share, -np.inf)
        quota[np.argmax(over)] -= 1
    quota = np.minimum(quota, sizes)
    while quota.sum() < min(k, sizes.sum()):  # a small cluster's surplus goes to those with room
        quota[np.argmax(np.where(quota < sizes, share - quota, -np.inf))] += 1
    return {int(c): int(n) for c, n in zip(ids, quota)}


KERNELS = ("cosine", "rbf")


def median_bandwidth(X: np.ndarray, sample: int = 2000, seed: int = 0) -> float:
    """The median heuristic: the median Euclidean distance between unit rows (over a seeded
    sample of at most `sample` rows, so it costs O(sample^2 d) at any N)."""
    X = np.asarray(X)
    if len(X) > sample:  # sample first: checking and normalising all of a 1M x 512 X costs seconds
        X = X[np.sort(np.random.default_rng(seed).choice(len(X), sample, replace=False))]
    X = normalised_rows(X).astype(np.float64)
    d2 = np.clip(2.0 - 2.0 * (X @ X.T), 0, None)[np.triu_indices(len(X), 1)]
    h = float(np.sqrt(np.median(d2))) if d2.size else 1.0
    return h if h > 1e-6 else 1.0


def rbf_gamma(X: np.ndarray, bandwidth: float | None) -> float:
    """``gamma`` of the RBF kernel ``exp(-gamma ||x - y||^2)`` on unit rows, ``1 / (2 h^2)``."""
    h = median_bandwidth(X) if bandwidth is None else float(bandwidth)
    if not h > 0:
        raise ValueError(f"bandwidth={bandwidth}: must be > 0 (or None for the median heuristic)")
    return 1.0 / (2.0 * h * h)


def greedy_map(X: np.ndarray, quality: np.ndarray, k: int, theta: float = 0.7,
               clusters: np.ndarray | None = None, eps: float = EPS, *, kernel: str = "cosine",
               bandwidth: float | None = None, min_distance: float | None = None) -> np.ndarray:
    """Greedy MAP selection of up to `k` rows of `X`; their indices in selection order.

    `kernel` is the similarity ``S``: ``cosine`` (the Gram matrix of the unit rows; rewards
    linear independence) or ``rbf``, ``exp(-||x - y||^2 / (2 h^2))`` on the unit rows, i.e. on
    cosine distance (``||x - y||^2 = 2 (1 - cos)``); rewards distance. `bandwidth` is ``h``
    (None: :func:`median_bandwidth`). Either kernel's row is one GEMV and an elementwise map.

    `clusters` (one label per row) turns on the cluster-aware mode: each cluster gets a quota
    proportional to its size (at least one), and the greedy fills quotas while conditioning on
    everything already selected, so diversity holds across clusters too. A cluster whose
    candidates are spent passes its remaining quota on.

    `min_distance` (cosine distance, ``1 - cos``) rules out every candidate closer than that to an
    image already selected, so the selection stops early when the pool has nothing that far from
    it; its minimum pairwise distance is then at least `min_distance`.

    Fewer than `k` come back (with a :class:`SelectionWarning`) when ``k > N``, when every
    remaining candidate lies in the span of the selection (``k`` above the kernel's rank) or
    within `min_distance` of it.
    """
    if kernel not in KERNELS:
        raise ValueError(f"kernel={kernel!r}: must be one of {', '.join(KERNELS)}")
    if min_distance is not None and not 0 <= min_distance <= 2:
        raise ValueError(f"min_distance={min_distance}: must be a cosine distance in [0, 2]")
    X = normalised_rows(X)
    n = X.shape[0]
    gamma = 2.0 * rbf_gamma(X, bandwidth) if kernel == "rbf" else None  # S = exp(gamma (cos - 1))
    w, scale = quality_weights(quality, theta)
    if len(w) != n:
        raise ValueError(f"quality has {len(w)} values for {n} items")
    if k < 1:
        raise ValueError(f"k={k}: must be >= 1")
    if k > n:
        warnings.warn(f"k={k} exceeds the {n} items; selecting at most {n}", SelectionWarning, stacklevel=2)
        k = n
    quotas = None
    if clusters is not None:
        clusters = np.asarray(clusters)
        if clusters.shape != (n,):
            raise ValueError(f"clusters must have one label per item ({n}), got shape {clusters.shape}")
        quotas = cluster_quotas(clusters, k)
        k = sum(quotas.values())
    dtype = X.dtype
    # Rank by q^2 s directly while q^2 fits the dtype, else by log q^2 + log s (theta near 1).
    q2 = None if scale > _LOG_DOMAIN_ABOVE else np.exp(w - scale).astype(dtype)  # q^2 / max q^2
    s = np.ones(n, dtype=dtype)  # residual of each candidate under S given the selection; -inf: out
    C = np.empty((k, n), dtype=dtype)  # Cholesky rows: C[t, i] = (e_t)_i
    closed = None  # cluster-aware: candidates whose cluster's quota is filled
    if quotas is not None:
        remaining = dict(quotas)
        closed = ~np.isin(clusters, [c for c, m in remaining.items() if m > 0])
    selected: list[int] = []
    gain = np.empty(n, dtype=dtype if q2 is not None else np.float64)
    proj = np.empty(n, dtype=dtype)
    while len(selected) < k:
        j = _pick(s, q2, w, closed, eps, gain)
        if j is None and closed is not None and np.isfinite(s).any():
            closed = None  # the open clusters are spent: their quota passes to the others
            j = _pick(s, q2, w, closed, eps, gain)
        if j is None:
            reason = (f"every other item is within min_distance={min_distance:g} of the selection"
                      if min_distance else "k exceeds the kernel's numerical rank")
            warnings.warn(f"only {len(selected)} of {k} items selected ({reason}); returning {len(selected)}",
                          SelectionWarning, stacklevel=2)
            break
        t = len(selected)
        selected.append(j)
        # e = (S[j, :] - C[:t, j] . C[:t, :]) / sqrt(s_j): the new Cholesky row, then s -= e^2
        row = C[t]
        np.dot(X, X[j], out=row)  # cosine to the pick
        too_close = row > 1.0 - min_distance if min_distance else None
        if gamma is not None:
            row -= 1.0
            row *= gamma
            np.exp(row, out=row)
        if t:
            np.dot(C[:t, j].copy(), C[:t], out=proj)  # a contiguous copy of the column: faster GEMV
            row -= proj
        row *= 1.0 / math.sqrt(float(s[j]))
        np.square(row, out=proj)
        s -= proj
        s[j] = -np.inf
        if too_close is not None:
            s[too_close] = -np.inf  # within min_distance of the pick: out
        if closed is not None:
            c = int(clusters[j])
            remaining[c] -= 1
            if remaining[c] == 0:
                closed |= clusters == c
    return np.asarray(selected, dtype=np.int64)


def _pick(s: np.ndarray, q2: np.ndarray | None, w: np.ndarray, closed: np.ndarray | None, eps: float,
          gain: np.ndarray) -> int | None:
    """The candidate with the largest gain d^2 = q^2 s, or None if every candidate is out or spent."""
    while True:
        if q2 is not None:
            np.multiply(q2, s, out=gain)
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                np.add(w, np.log(s.astype(np.float64)), out=gain)
            gain[~(s > 0)] = -np.inf
        if closed is not None:
            gain[closed] = -np.inf
        j = int(np.argmax(gain))
        if not gain[j] > -np.inf:
            return None
        if s[j] >= eps:
            return j
        # spent: in the span of the selection (a duplicate, or beyond the kernel's rank)
        s[s < eps] = -np.inf


# --------------------------------------------------------------------------- measures

def log_det_diversity(X: np.ndarray) -> float:
    """log det of the cosine-similarity matrix of the rows of X (0 for one item, -inf if dependent)."""
    Xn = normalised_rows(np.asarray(X, dtype=np.float64))
    sign, logdet = np.linalg.slogdet(Xn @ Xn.T)
    return float(logdet) if sign > 0 else float("-inf")


def vendi_score(X: np.ndarray) -> float:
    """Vendi score (Friedman & Dieng 2023) with the cosine kernel: exp of the eigenvalue entropy of K/n.

    K = X Xᵀ and the d x d matrix XᵀX share their nonzero eigenvalues, so the smaller is used.
    """
    Xn = normalised_rows(np.asarray(X, dtype=np.float64))
    n = len(Xn)
    if n == 0:
        return 0.0
    gram = Xn @ Xn.T if n <= Xn.shape[1] else Xn.T @ Xn
    lam = np.clip(np.linalg.eigvalsh(gram / n), 0, None)
    lam = lam[lam > 1e-12]
    return float(np.exp(-np.sum(lam * np.log(lam))))


@dataclass(frozen=True)
class Selection:
    """A DPP selection and its measures."""

    indices: np.ndarray
    theta: float
    k: int  # asked for
    log_det: float
    vendi: float
    mean_quality: float

    def to_dict(self) -> dict:
        return {"theta": self.theta, "k": self.k, "n_selected": len(self.indices), "log_det": self.log_det,
                "vendi": self.vendi, "mean_quality": self.mean_quality}


def select(X: np.ndarray, quality: np.ndarray, k: int, theta: float = 0.7,
           clusters: np.ndarray | None = None, candidates: np.ndarray | None = None, *, kernel: str = "cosine",
           bandwidth: float | None = None, min_distance: float | None = None) -> Selection:
    """:func:`greedy_map` plus the measures stored with a selection.

    `candidates` (a boolean mask over the rows) limits the picks to those rows -- the images not
    flagged as artefacts, say; indices still refer to all rows. When fewer than `k` are
    candidates, the mask is dropped with a warning rather than returning a short selection.
    """
    quality = np.asarray(quality, dtype=np.float64)
    if candidates is not None:
        candidates = np.asarray(candidates, dtype=bool)
        if candidates.shape != quality.shape:
            raise ValueError(f"candidates must be a boolean mask of length {len(quality)}, got shape {candidates.shape}")
        if candidates.sum() < min(k, len(quality)):
            warnings.warn(f"only {int(candidates.sum())} of {len(quality)} rows are candidates, fewer than k={k}; "
                          "selecting from all rows", SelectionWarning, stacklevel=2)
            candidates = None
    if candidates is None or candidates.all():  # no row subset: X is not copied (1M x 512 is 2 GB)
        idx = greedy_map(X, quality, k, theta=theta, clusters=clusters, kernel=kernel, bandwidth=bandwidth,
                         min_distance=min_distance)
    else:
        rows = np.flatnonzero(candidates)
        idx = rows[greedy_map(np.asarray(X)[rows], quality[rows], k, theta=theta,
                              clusters=None if clusters is None else np.asarray(clusters)[rows], kernel=kernel,
                              bandwidth=bandwidth, min_distance=min_distance)]
    return Selection(indices=idx, theta=float(theta), k=int(k), log_det=log_det_diversity(X[idx]) if len(idx) else 0.0,
                     vendi=vendi_score(X[idx]), mean_quality=float(quality[idx].mean()) if len(idx) else float("nan"))


def theta_sweep(X: np.ndarray, quality: np.ndarray, k: int, thetas: Sequence[float] = (0, .3, .5, .7, .8, .9, .95, .99),
                clusters: np.ndarray | None = None, candidates: np.ndarray | None = None, *, kernel: str = "cosine",
                bandwidth: float | None = None, min_distance: float | None = None) -> list[dict]:
    """The diversity / quality frontier: one :class:`Selection` summary per theta."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SelectionWarning)
        return [select(X, quality, k, theta=t, clusters=clusters, candidates=candidates, kernel=kernel,
                       bandwidth=bandwidth, min_distance=min_distance).to_dict() for t in thetas]

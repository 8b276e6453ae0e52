"""Stage 4-5 benchmarks: greedy MAP against a reference and the memory floor, auto-K, the sliders."""

from __future__ import annotations

import time

from .timing import best_of, pinned


def reference_greedy_map(X, quality, k: int, theta: float = 0.7, eps: float = 1e-4, gamma: float | None = None):
    """The plain numpy fast greedy MAP (Chen et al. 2018, Algorithm 1) that the anchors were
    measured with: the same algorithm as :func:`bffkit.dpp.greedy_map`, written directly.
    `gamma`: the RBF kernel exp(-gamma ||x - y||^2) on unit rows instead of the cosine one."""
    import numpy as np

    in_unit = quality.min() >= 0 and quality.max() <= 1  # as bffkit.dpp.quality_scale
    r = quality if in_unit else (quality - quality.min()) / max(float(quality.max() - quality.min()), 1e-12)
    q = np.exp(theta / (2 * (1 - theta)) * (r - 1)).astype(X.dtype)
    n = len(X)
    cis = np.zeros((k, n), dtype=X.dtype)
    di2 = q * q
    j = int(np.argmax(di2))
    selected = [j]
    while len(selected) < k:
        t = len(selected) - 1
        ci_opt, di_opt = cis[:t, j], np.sqrt(di2[j])
        sim = X @ X[j]
        elements = q[j] * q * (sim if gamma is None else np.exp(2 * gamma * (sim - 1)))
        eis = (elements - ci_opt @ cis[:t]) / di_opt
        cis[t] = eis
        di2 -= eis * eis
        di2[selected] = -np.inf
        j = int(np.argmax(di2))
        if di2[j] < eps * float(q.max()) ** 2:
            break
        selected.append(j)
    return np.asarray(selected)


def gemv_bandwidth(X, repeats: int = 5) -> float:
    """Bytes/s a matrix-vector product streams `X` at: the memory floor of one kernel row."""
    import numpy as np

    v = np.ones(X.shape[1], dtype=X.dtype)
    out = np.empty(X.shape[0], dtype=X.dtype)
    t = best_of(lambda: np.dot(X, v, out=out), repeats)
    return X.nbytes / t


def unit_rows(n: int, d: int, seed: int):
    import numpy as np

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d), dtype=np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X, rng.random(n)


def bench_dpp(n: int | None = None, repeats: int = 3, k: int = 200, d: int = 512,
              sizes: tuple[int, ...] = (10_000, 50_000, 1_000_000)) -> dict:
    """Greedy MAP selection (k=200, d=512, float32) against the plain numpy reference, and
    against the memory floor: the bytes the algorithm must stream (k reads of X plus the
    growing Cholesky rows) at the GEMV bandwidth measured on the same X. `n` replaces the
    largest size. Targets: 10k <= 0.15 s, 50k <= 1.0 s, 1M <= 20 s and <= 1.25x the floor; the
    same ratios for the RBF kernel (``rbf``)."""
    from ..dpp import greedy_map

    if n is not None:
        sizes = tuple(s for s in sizes if s < n) + (n,)
    targets = {10_000: 0.15, 50_000: 1.0, 1_000_000: 20.0}
    out = {"k": k, "d": d, "dtype": "float32", "threads": 1, "sizes": {}}
    out["rbf"] = {"bandwidth": "median heuristic on a 2,000-row sample, timed apart", "sizes": {}}
    with pinned(1):
        for size in sizes:
            X, quality = unit_rows(size, d, seed=size)
            reps = repeats if size <= 100_000 else 1
            greedy_map(X[:2000], quality[:2000], 10)  # warm-up
            bw = gemv_bandwidth(X)
            floor = (k * X.nbytes + 4 * size * k * (k - 1) / 2) / bw
            row = _dpp_row(X, quality, k, reps, floor, bw, kernel="cosine")
            if size in targets:
                row["target_seconds"] = targets[size]
                row["meets_target"] = row["seconds"] <= targets[size] and (size < 1_000_000 or
                                                                            row["ratio_to_floor"] <= 1.25)
            out["sizes"][str(size)] = row
            out["rbf"]["sizes"][str(size)] = _dpp_row(X, quality, k, reps, floor, bw, kernel="rbf")
            del X
    return out


def _dpp_row(X, quality, k: int, reps: int, floor: float, bw: float, *, kernel: str) -> dict:
    """One size of `bench dpp` for one kernel: ours vs the reference, both against the memory floor
    (the RBF's elementwise exp adds no bytes to stream). Targets: <= 1.1x the reference, <= 1.25x the floor."""
    from ..dpp import greedy_map, median_bandwidth, rbf_gamma

    h = gamma = None
    row = {}
    if kernel == "rbf":
        t = time.perf_counter()
        h = median_bandwidth(X)
        row["bandwidth_seconds"] = round(time.perf_counter() - t, 4)
        gamma = rbf_gamma(X, h)
    t_ours = best_of(lambda: greedy_map(X, quality, k, theta=0.7, kernel=kernel, bandwidth=h), reps)
    t_ref = best_of(lambda: reference_greedy_map(X, quality, k, theta=0.7, gamma=gamma), reps)
    same = (greedy_map(X, quality, k, kernel=kernel, bandwidth=h).tolist()
            == reference_greedy_map(X, quality, k, gamma=gamma).tolist()) if len(X) <= 100_000 else None
    return {**row, "seconds": round(t_ours, 4), "reference_seconds": round(t_ref, 4),
            "ratio_to_reference": round(t_ours / t_ref, 3), "floor_seconds": round(floor, 4),
            "ratio_to_floor": round(t_ours / floor, 3), "gemv_gb_per_s": round(bw / 1e9, 1),
            "same_selection_as_reference": same, "meets_ratio_targets": t_ours / t_ref <= 1.1 and
            (len(X) < 1_000_000 or t_ours / floor <= 1.25)}


# --------------------------------------------------------------------------- cluster

def bench_cluster(n: int | None = None, repeats: int = 1, d: int = 512, true_k: int = 6,
                  k_range: tuple[int, int] = (3, 8), sample_size: int = 5000) -> dict:
    """Auto-K (3..8) at 100k x 512 against exhaustive sklearn KMeans on all points + sklearn's
    silhouette on the same sample. Target: <= 3 s, the same K."""
    import numpy as np
    from sklearn.cluster import KMeans
    from sklearn.datasets import make_blobs
    from sklearn.metrics import silhouette_score

    from ..cluster import auto_kmeans

    n = n or 100_000
    X, _ = make_blobs(n, d, centers=true_k, cluster_std=4.0, random_state=0)
    X = X.astype(np.float32)
    out = {"n": n, "d": d, "true_k": true_k, "k_range": list(k_range), "sample_size": sample_size, "threads": 1}
    with pinned(1):
        result = {}
        t_ours = best_of(lambda: result.setdefault("r", auto_kmeans(X, k_range, seed=0, sample_size=sample_size)),
                         repeats)
        ours = auto_kmeans(X, k_range, seed=0, sample_size=sample_size)
        sample = np.sort(np.random.default_rng(0).choice(n, size=min(n, sample_size), replace=False))
        t0 = time.perf_counter()
        ref_scores = {}
        for k in range(k_range[0], k_range[1] + 1):
            labels = KMeans(n_clusters=k, random_state=0).fit_predict(X)
            ref_scores[k] = float(silhouette_score(X[sample], labels[sample]))
        t_ref = time.perf_counter() - t0
    ref_k = max(ref_scores, key=ref_scores.get)
    out.update(seconds=round(t_ours, 3), reference_seconds=round(t_ref, 3), ratio_to_reference=round(t_ours / t_ref, 3),
               k=ours.k, reference_k=ref_k, same_k=ours.k == ref_k, method=ours.method,
               silhouette={str(k): v for k, v in ours.scores.items()},
               reference_silhouette={str(k): round(v, 6) for k, v in ref_scores.items()},
               target_seconds=3.0, meets_target=t_ours <= 3.0 and ours.k == ref_k)
    return out


# --------------------------------------------------------------------------- notebook sliders

def bench_sliders(n: int | None = None, repeats: int | None = None, **_ignored) -> dict:
    """The K and theta explorers at N images (default 500): in the browser, a slider step to the
    redrawn map and a feedback click to its acknowledgement, against the explorer it replaced
    (:func:`bffkit.bench.browser.bench_browser_sliders`); in the kernel, what one move recomputes."""
    from .browser import bench_browser_sliders

    n = n or 500
    return {"n": n, "browser": bench_browser_sliders(n), "kernel": slider_recompute(n, repeats or 3)}


def slider_recompute(n: int | None = None, repeats: int = 3, d: int = 512, k: int = 48) -> dict:
    """What the notebooks' K and theta sliders recompute per move, at N = 500 x 512 (target < 1 s),
    against a baseline of one plain K-means fit at the same K."""
    import numpy as np
    from sklearn.cluster import KMeans
    from sklearn.datasets import make_blobs

    from ..cluster import kmeans_for_k
    from ..stages.round_data import RoundData
    from ..stages.select import selection_for_theta

    n = n or 500
    X, _ = make_blobs(n, d, centers=5, cluster_std=4.0, random_state=0)
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    quality = np.random.default_rng(0).random(n)
    data = RoundData("bench", 1, "bench", "bench", [str(i) for i in range(n)], X, [{}] * n, [{}] * n, quality,
                     quality, [None] * n)
    with pinned(1):
        t_base = best_of(lambda: KMeans(n_clusters=5, n_init=1, random_state=0).fit(X), repeats)
        t_k = max(best_of(lambda kk=kk: kmeans_for_k(X, kk), repeats) for kk in range(2, 13))
        labels = kmeans_for_k(X, 5)[0]
        t_theta = max(best_of(lambda th=th: selection_for_theta(data, th, k, labels), repeats)
                      for th in (0.0, 0.5, 0.7, 0.95))
    return {"n": n, "d": d, "k_selected": k, "slowest_k_slider_seconds": round(t_k, 4),
            "slowest_theta_slider_seconds": round(t_theta, 4), "baseline_kmeans_seconds": round(t_base, 4),
            "k_slider_ratio_to_baseline": round(t_k / t_base, 2), "target_seconds": 1.0,
            "meets_target": max(t_k, t_theta) < 1.0}


# --------------------------------------------------------------------------- loop

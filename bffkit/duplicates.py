"""Exact and near duplicates in a round, so that selection never shows the same design twice.

- Exact: the same bytes (sha256) twice in a job -- a backend that returned one image for two
  prompts, or a retried request. The first one is kept.
- Near: cosine similarity at or above a threshold within a style cluster, SemDeDup-style (Abbas
  et al. 2023): clustering first makes the pairwise pass cluster by cluster, and an image is a
  duplicate when a better one of its cluster is that close. "Better" is higher quality, so the
  image kept of each near-duplicate group is the one selection would want.

Both return, per image, the position of the image it repeats, or -1: numpy in, numpy out.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# cosine at or above which two images of one style cluster are the same design (config
# cluster.near_duplicate); the demo's closest distinct pairs sit at 0.92-0.96
NEAR_DUPLICATE = 0.95
_BLOCK = 2048  # rows per Gram block: memory O(block x cluster), never cluster x cluster


def exact_duplicates(hashes: Sequence[str]) -> np.ndarray:
    """Per item: the position of the first item with the same hash, or -1 for the first one."""
    first: dict[str, int] = {}
    out = np.full(len(hashes), -1, dtype=np.int64)
    for i, h in enumerate(hashes):
        j = first.setdefault(h, i)
        if j != i:
            out[i] = j
    return out


def near_duplicates(X: np.ndarray, labels: np.ndarray, quality: np.ndarray | None = None,
                    threshold: float = NEAR_DUPLICATE) -> np.ndarray:
    """Per item: the position of the best item of its cluster it is a near duplicate of, or -1.

    Items of a cluster are ranked by `quality` (highest first; ties by position); an item is a
    duplicate of the highest-ranked earlier item with ``cos >= threshold`` (`X` rows are unit
    normalised here). As in SemDeDup, that earlier item may itself be a duplicate: what is kept
    is every item with no better near copy.
    """
    X = np.asarray(X, dtype=np.float32)
    labels = np.asarray(labels)
    if X.ndim != 2 or labels.shape != (len(X),):
        raise ValueError(f"X must be (n, d) with one label per row; got X {X.shape}, labels {labels.shape}")
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold={threshold}: must be in (0, 1]")
    quality = np.zeros(len(X)) if quality is None else np.asarray(quality, dtype=np.float64)
    X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    out = np.full(len(X), -1, dtype=np.int64)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        members = members[np.lexsort((members, -quality[members]))]  # best first
        Xc = X[members]
        for start in range(0, len(members), _BLOCK):
            block = Xc[start:start + _BLOCK] @ Xc[:start + _BLOCK].T  # rows: these items; columns: all before
            rows = np.arange(block.shape[0])
            block[np.arange(block.shape[1])[None, :] >= (start + rows)[:, None]] = -np.inf  # earlier items only
            # float32 Gram of identical rows can land a hair under 1
            hit = block >= threshold - 1e-6
            has = hit.any(axis=1)
            first = np.argmax(hit, axis=1)  # the best-ranked earlier near copy
            out[members[start + rows[has]]] = members[first[has]]
    return out


def duplicate_ids(image_ids: Sequence[str], of: np.ndarray) -> list[str | None]:
    """The positions of :func:`exact_duplicates` / :func:`near_duplicates` as image ids (None: kept)."""
    return [image_ids[j] if j >= 0 else None for j in np.asarray(of)]

"""Exact and near duplicates: what is flagged, what is kept, and that selection never sees them."""

import numpy as np
import pytest

from bffkit import duplicates
from bffkit.duplicates import duplicate_ids, exact_duplicates, near_duplicates


def test_exact_duplicates_point_at_the_first_copy():
    assert exact_duplicates(["a", "b", "a", "c", "b", "a"]).tolist() == [-1, -1, 0, -1, 1, 0]
    assert duplicate_ids(["x", "y", "z"], np.array([-1, 0, 0])) == [None, "x", "x"]


def unit(rng, n, d=16):
    X = rng.standard_normal((n, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def test_a_near_copy_points_at_the_better_image_of_its_cluster():
    rng = np.random.default_rng(0)
    X = unit(rng, 6)
    X = np.vstack([X, X[1] + 0.01 * rng.standard_normal(16), X[1]])  # 6: a near copy of 1; 7: an exact one
    quality = np.array([.5, .4, .5, .5, .5, .5, .9, .3])
    labels = np.zeros(8, dtype=int)
    of = near_duplicates(X, labels, quality, threshold=0.95)
    # 6 is the best of {1, 6, 7}: it is kept, and both others point at it
    assert of.tolist() == [-1, 6, -1, -1, -1, -1, -1, 6]
    # in another cluster, a copy is not a duplicate (SemDeDup compares within clusters)
    labels[7] = 1
    assert near_duplicates(X, labels, quality, threshold=0.95).tolist() == [-1, 6, -1, -1, -1, -1, -1, -1]
    # threshold 1: identical embeddings only
    assert near_duplicates(X, np.zeros(8, int), quality, threshold=1.0).tolist() == [-1] * 7 + [1]


def test_blocks_give_the_same_answer_as_one_gram(monkeypatch):
    rng = np.random.default_rng(3)
    base = unit(rng, 40)
    X = np.vstack([base, base[rng.integers(0, 40, 60)] + 0.02 * rng.standard_normal((60, 16))])
    labels, quality = rng.integers(0, 3, 100), rng.random(100)
    whole = near_duplicates(X, labels, quality, threshold=0.97)
    monkeypatch.setattr(duplicates, "_BLOCK", 7)
    assert near_duplicates(X, labels, quality, threshold=0.97).tolist() == whole.tolist()
    assert (whole >= 0).sum() > 20  # most of the 60 copies are found
    # every flagged image has a better image of its cluster at least that close
    for i in np.flatnonzero(whole >= 0):
        j = whole[i]
        assert labels[i] == labels[j] and quality[j] >= quality[i]
        assert X[i] @ X[j] / np.linalg.norm(X[i]) / np.linalg.norm(X[j]) >= 0.97 - 1e-6


def test_bad_input_is_one_clear_error():
    with pytest.raises(ValueError, match=r"threshold=1.5: must be in \(0, 1\]"):
        near_duplicates(np.eye(3), np.zeros(3), threshold=1.5)
    with pytest.raises(ValueError, match="one label per row"):
        near_duplicates(np.eye(3), np.zeros(2))

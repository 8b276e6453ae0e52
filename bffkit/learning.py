"""Stage 7, learning: what feedback teaches — outliers, attribute posteriors, a preference head, steering.

* **Outliers**: an image the designer liked (positive) whose calibrated alignment is at least
  the threshold (0.75) — a standout that also shows what was asked.
* **Attribute posteriors**: per (attribute, value), Beta(1 + thumbs-up, 1 + thumbs-down) over
  every feedback event on images with it: on detected values in `vlt_attribute_success` (with
  the outlier rate, for analytics), on requested values for steering and the per-user patterns
  (what stage 1 can act on, free of tagger errors).
* **Preference head**: L2-regularised logistic regression on the image embedding joined with a
  one-hot of the design attribute values the image was generated with (:func:`head_features`)
  — pointwise from thumbs, plus Bradley-Terry pairs (x_a - x_b, no intercept) wherever one
  user rated two images differently. C is chosen by stratified cross-validation and the
  held-out AUC is kept; selection uses the head only when that AUC beats chance clearly
  (>= 0.6). The attribute block matters with few labels: on 122 judgements of a 3-round
  maximalist run, nested-CV AUC was 0.67 on the embedding alone and 0.84 with the attributes.
* **Steering**: the next round samples attribute values with weight prior x gap boost x a
  Thompson draw from each value's posterior (relative to the attribute's mean), rescaled so
  that no value's share falls below ``STEERING_FLOOR`` x its prior share, nor below
  ``COVERAGE_MARGIN`` x its coverage target: exploiting what the designer likes cannot starve
  coverage.

Every merge of feedback calls :func:`update_from_feedback`, so learning follows each event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .coverage import COVERAGE_ATTRIBUTES

# The least share of stage 1's draws a value keeps under steering, as a fraction of its prior
# share (coverage's default target is half a uniform share). Measured: docs/learning.md.
STEERING_FLOOR = 0.5
# Nor is a value steered under this multiple of its coverage target (a value drawn at exactly its
# target misses it in about half the rounds). Measured: docs/learning.md.
COVERAGE_MARGIN = 1.5
MIN_HEAD_AUC = 0.6  # below this the head is no better than a coin: selection ignores it
HEAD_WEIGHT_MAX = 0.5  # the share of quality the head can take, reached at HEAD_FULL_AT labels
HEAD_FULL_AT = 48


# --------------------------------------------------------------------------- preference head

@dataclass
class PreferenceHead:
    """Logistic preference model on feature rows (see head_features): P(like | x) = sigmoid(w.x + b)."""

    weights: np.ndarray | None = None
    bias: float = 0.0
    C: float | None = None
    cv_auc: float | None = None
    n: int = 0
    n_pairs: int = 0

    @property
    def fitted(self) -> bool:
        return self.weights is not None

    def fit(self, X: np.ndarray, y: np.ndarray, pairs: Sequence[tuple[int, int]] = (), *, seed: int = 0,
            Cs: Sequence[float] = (0.1, 1.0, 10.0)) -> PreferenceHead:
        """`y`: 1 liked / 0 not; `pairs`: (preferred row, other row) comparisons."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import roc_auc_score
        from sklearn.model_selection import StratifiedKFold

        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=int)
        self.n, self.n_pairs = len(y), len(pairs)
        minority = int(min(y.sum(), len(y) - y.sum())) if len(y) else 0
        if minority < 3:
            self.weights, self.cv_auc = None, None
            return self

        def design(rows: np.ndarray, pair_list) -> tuple[np.ndarray, np.ndarray]:
            # pointwise rows carry a constant column (the bias); pair rows are differences without it
            pts = np.hstack([X[rows], np.full((len(rows), 1), 10.0)])
            labels = y[rows]
            if pair_list:
                a = np.array([p[0] for p in pair_list])
                b = np.array([p[1] for p in pair_list])
                diff = np.vstack([X[a] - X[b], X[b] - X[a]])
                pts = np.vstack([pts, np.hstack([diff, np.zeros((len(diff), 1))])])
                labels = np.concatenate([labels, np.ones(len(a), int), np.zeros(len(a), int)])
            return pts, labels

        folds = StratifiedKFold(n_splits=min(5, minority), shuffle=True, random_state=seed)
        best = None
        for C in Cs:
            scores, truth = np.zeros(len(y)), y
            for train, test in folds.split(X, y):
                inside = set(train.tolist())
                fold_pairs = [p for p in pairs if p[0] in inside and p[1] in inside]
                D, t = design(train, fold_pairs)
                model = LogisticRegression(C=C, fit_intercept=False, max_iter=2000).fit(D, t)
                scores[test] = np.hstack([X[test], np.full((len(test), 1), 10.0)]) @ model.coef_[0]
            auc = float(roc_auc_score(truth, scores))
            if best is None or auc > best[0] + 1e-9:
                best = (auc, C)
        self.cv_auc, self.C = round(best[0], 4), best[1]
        D, t = design(np.arange(len(y)), list(pairs))
        model = LogisticRegression(C=self.C, fit_intercept=False, max_iter=2000).fit(D, t)
        self.weights = model.coef_[0][:-1].astype(np.float32)
        self.bias = float(model.coef_[0][-1] * 10.0)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """P(like) per row; 0.5 everywhere when not fitted."""
        X = np.asarray(X, dtype=np.float32)
        if not self.fitted:
            return np.full(len(X), 0.5)
        return 1 / (1 + np.exp(-(X @ self.weights + self.bias)))


MAX_PAIR_ROWS = 3000


def rating_pairs(frame: pd.DataFrame, row_of: Mapping[str, int], limit: int = 2000, seed: int = 0
                 ) -> list[tuple[int, int]]:
    """(preferred, other) rows wherever one user rated two images differently (at most `limit`).

    An image a user rated twice counts once, with the later rating (as the pointwise labels do).
    """
    rated = frame.dropna(subset=["rating"])
    rated = rated[rated["image_id"].isin(row_of.keys())].drop_duplicates(["user_id", "image_id"], keep="last")
    pairs: list[tuple[int, int]] = []
    for _, g in rated.groupby("user_id"):
        rows = np.array([row_of[i] for i in g["image_id"]], dtype=np.int64)
        r = g["rating"].to_numpy(dtype=float)
        if len(rows) > MAX_PAIR_ROWS:  # n^2 pairs: a user with 20k rated images would need GBs
            keep = np.sort(np.random.default_rng(seed).choice(len(rows), MAX_PAIR_ROWS, replace=False))
            rows, r = rows[keep], r[keep]
        a, b = np.triu_indices(len(rows), 1)  # the pairs in (a, b) order, a < b
        differ = r[a] != r[b]
        a, b = a[differ], b[differ]
        first_higher = r[a] > r[b]
        pairs.extend(zip(np.where(first_higher, rows[a], rows[b]).tolist(),
                         np.where(first_higher, rows[b], rows[a]).tolist()))
    if len(pairs) > limit:
        keep = np.random.default_rng(seed).choice(len(pairs), limit, replace=False)
        pairs = [pairs[i] for i in sorted(keep)]
    return pairs


def head_weight(head: PreferenceHead) -> float:
    """How much of the selection quality the head takes: 0 until it beats chance, then grows with labels."""
    if not head.fitted or (head.cv_auc or 0) < MIN_HEAD_AUC:
        return 0.0
    return HEAD_WEIGHT_MAX * min(1.0, head.n / HEAD_FULL_AT)


def head_vocabulary(taxonomy=None) -> list[tuple[str, str]]:
    """The (attribute, value) columns of the head's attribute block, in taxonomy order."""
    from .tagging import DESIGN_ATTRIBUTES
    from .taxonomy import load_taxonomy

    tax = taxonomy or load_taxonomy()
    return [(a, v) for a in DESIGN_ATTRIBUTES if a in tax for v in tax[a].value_names]


def head_features(X: np.ndarray, attributes: Sequence[Mapping[str, str]] | None, taxonomy=None) -> np.ndarray:
    """[unit embedding | one-hot of each image's design attribute values] per row.

    The attribute block is what the image was generated with (its spec): exact where the
    embedding is noisy, and what the next round's sampler acts on. Rows without attributes
    (None) get zeros there and are scored by the embedding alone.
    """
    X = np.asarray(X, dtype=np.float32)
    vocab = head_vocabulary(taxonomy)
    col = {key: k for k, key in enumerate(vocab)}
    block = np.zeros((len(X), len(vocab)), np.float32)
    for r, attrs in enumerate(attributes or [None] * len(X)):
        for a, v in (attrs or {}).items():
            if (a, v) in col:
                block[r, col[(a, v)]] = 1.0
    return np.hstack([X, block])


def combined_quality(quality: np.ndarray, X: np.ndarray, head: PreferenceHead | None,
                     attributes: Sequence[Mapping[str, str]] | None = None) -> np.ndarray:
    """Selection quality: stage 3's quality times the head's P(liked) once the head has earned it,
    ``q * P(liked) ** (2 lam)`` with ``lam`` = :func:`head_weight` (at most 0.5: then the two weigh
    the same, "worth showing and liked").

    A factor, not an average: an image likely smudged or off its prompt stays low however much the
    head would like its attributes (averaging let a liked defect in at half of quality), and the
    head's pull does not depend on how spread stage 3's quality is."""
    quality = np.asarray(quality, dtype=np.float64)
    lam = head_weight(head) if head is not None else 0.0
    if lam == 0:
        return quality
    F = head_features(X, attributes)
    if len(head.weights) != F.shape[1]:  # a head from an older feature layout: refitted on the next feedback
        return quality
    return quality * np.power(head.predict(F), 2 * lam)


# --------------------------------------------------------------------------- posteriors and steering

def attribute_posteriors(feedback: pd.DataFrame, detected: Mapping[str, Mapping[str, str]],
                         outlier_ids: set[str] = frozenset(), attributes: Sequence[str] = COVERAGE_ATTRIBUTES
                         ) -> pd.DataFrame:
    """Per (attribute, value): n, thumbs-up/down, outliers, Beta(1 + up, 1 + down) and its mean."""
    rows = []
    for fid, image_id, kind in zip(feedback["id"], feedback["image_id"], feedback["feedback_type"]):
        for a, v in (detected.get(image_id) or {}).items():
            if a in attributes:
                rows.append((a, v, kind, fid in outlier_ids))
    if not rows:
        return pd.DataFrame(columns=["attribute", "value", "n", "positive", "negative", "outlier_count",
                                     "outlier_rate", "alpha", "beta", "mean"])
    df = pd.DataFrame(rows, columns=["attribute", "value", "kind", "outlier"])
    g = df.groupby(["attribute", "value"])
    out = pd.DataFrame({"n": g.size(), "positive": g["kind"].apply(lambda s: int((s == "positive").sum())),
                        "negative": g["kind"].apply(lambda s: int((s == "negative").sum())),
                        "outlier_count": g["outlier"].sum().astype(int)}).reset_index()
    out["outlier_rate"] = out["outlier_count"] / out["n"]
    out["alpha"] = 1.0 + out["positive"]
    out["beta"] = 1.0 + out["negative"]
    out["mean"] = out["alpha"] / (out["alpha"] + out["beta"])
    return out


def thompson_preferences(posteriors: pd.DataFrame, taxonomy, rng: np.random.Generator, *, fixed=(),
                         floor: float = STEERING_FLOOR, sharpness: float = 2.0,
                         targets: Mapping[tuple[str, str], float] | None = None,
                         margin: float = COVERAGE_MARGIN) -> dict[str, dict[str, float]]:
    """Stage 1 preference factors from one Thompson draw per value.

    Each value of a steered attribute draws theta ~ Beta(alpha, beta) (Beta(1, 1) if never
    judged) and is weighted by (theta / mean theta) ** sharpness; the factors are then scaled so
    that their prior-weighted mean is 1 (the attribute's draws are redistributed, not inflated)
    with every value at least `floor`: a value's share of the draws never falls below `floor`
    times its prior share (see :func:`floored_factors`). With coverage `targets` ((attribute,
    value) -> target share, as :func:`bffkit.coverage.coverage_targets` gives them), nor below
    `margin` times its target, counted among the images the attribute is drawn for (its
    sample rate).
    """
    out: dict[str, dict[str, float]] = {}
    stats = {(a, v): (al, be) for a, v, al, be in zip(posteriors.get("attribute", []), posteriors.get("value", []),
                                                       posteriors.get("alpha", []), posteriors.get("beta", []))}
    for attr in sorted({a for a, _ in stats} - set(fixed)):
        if attr not in taxonomy:
            continue
        values = taxonomy[attr].value_names
        theta = np.array([rng.beta(*stats.get((attr, v), (1.0, 1.0))) for v in values])
        prior = np.array([v.weight for v in taxonomy[attr].values], dtype=float)
        floors = np.full(len(values), float(floor))
        if targets and taxonomy[attr].sample_rate > 0:
            share = prior / prior.sum()
            least = np.array([margin * targets.get((attr, v), 0.0) for v in values]) / taxonomy[attr].sample_rate
            floors = np.maximum(floors, np.divide(least, share, out=np.zeros_like(least), where=share > 0))
        factors = floored_factors((theta / theta.mean()) ** sharpness, prior, floors)
        out[attr] = {v: round(float(f), 4) for v, f in zip(values, factors)}
    return out


def floored_factors(raw: np.ndarray, prior: np.ndarray, floor: float | np.ndarray) -> np.ndarray:
    """Factors f = max(floor, c * raw) with c chosen so that sum(prior_share * f) = 1.

    Multiplying prior weights by f then gives every value a share of at least `floor` (one for
    all values, or one each) times its prior share, exactly. (Flooring the raw ratios alone did
    not: with sharpness 2 their mean is above 1, so a floored value's share fell to ~0.2 of its
    prior's, under coverage's targets of half a uniform share, and the loop lost coverage as the
    tagger read it more truly.) Floors that take all the draws leave nothing to redistribute:
    the factors are the floors, scaled to a prior-weighted mean of 1 (all 1 for one floor >= 1).
    """
    share = prior / prior.sum()
    floor = np.broadcast_to(np.asarray(floor, dtype=float), np.shape(raw))
    if np.any(floor < 0) or not np.any(raw > 0):
        return np.ones_like(raw)
    if float(share @ floor) >= 1:
        return floor / float(share @ floor)
    lo, hi = 0.0, 1.0 / float(share @ raw)  # at hi the unfloored factors alone sum to 1
    for _ in range(60):  # sum(share * max(floor, c * raw)) rises with c: bisect for 1
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if float(share @ np.maximum(floor, mid * raw)) < 1 else (lo, mid)
    return np.maximum(floor, hi * raw)


def predicted_lift(posteriors: pd.DataFrame, taxonomy, preferences: Mapping[str, Mapping[str, float]],
                   boosts=None) -> dict[str, float]:
    """Expected thumbs-up rate change per steered attribute: sum_v (p_new(v) - p_prior(v)) * mean(v)."""
    from .prompts import sampling_weights

    mean = {(a, v): m for a, v, m in zip(posteriors["attribute"], posteriors["value"], posteriors["mean"])}
    lift = {}
    for attr in preferences:
        w0 = sampling_weights(attr, taxonomy, boosts=boosts)
        w1 = sampling_weights(attr, taxonomy, boosts=boosts, preferences=preferences)
        if w0.sum() <= 0 or w1.sum() <= 0:
            continue
        m = np.array([mean.get((attr, v), 0.5) for v in taxonomy[attr].value_names])
        lift[attr] = round(float(((w1 / w1.sum()) - (w0 / w0.sum())) @ m), 4)
    return lift

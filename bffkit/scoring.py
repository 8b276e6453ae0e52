"""Alignment and quality scores for generated images.

- CLIPScore (Hessel et al. 2021): ``2.5 * max(cos(image, prompt), 0)``, stored raw.
- Calibrated alignment in [0, 1], per model: raw cosines are not comparable across models
  (ViT-B-32 cosines sit around 0.2-0.35, a small sketch model's elsewhere), so each model gets
  a logistic map ``sigmoid(a * cos + b)`` fitted on its own cosines of sketches with their own
  prompt (label 1) and with another sketch's prompt (label 0). The result reads as "the
  probability, by this model, that the image shows its prompt"; the seed's outlier threshold
  0.75 applies to it. The fit uses a fixed, seeded set of clean sketches, so it is reproducible,
  and is stored per model in the `model_calibration` table.
- Quality for selection: the calibrated alignment (the preference head joins it once feedback
  learning exists).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def clip_score(image_emb: np.ndarray, text_emb: np.ndarray) -> np.ndarray:
    """Row-wise CLIPScore of paired image and text embeddings (both L2-normalised)."""
    return 2.5 * np.maximum(np.sum(np.asarray(image_emb) * np.asarray(text_emb), axis=1), 0.0)


def auc(scores_pos: np.ndarray, scores_neg: np.ndarray) -> float:
    """Probability that a random positive outscores a random negative (ties count half)."""
    pos, neg = np.asarray(scores_pos, float)[:, None], np.asarray(scores_neg, float)[None, :]
    return float((pos > neg).mean() + 0.5 * (pos == neg).mean())


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-3, iters: int = 50) -> tuple[float, float]:
    """(a, b) of P(y=1 | x) = sigmoid(a x + b), by Newton's method with a small ridge."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    X = np.stack([x, np.ones_like(x)], axis=1)
    w = np.zeros(2)
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-(X @ w)))
        grad = X.T @ (p - y) + l2 * w
        hess = X.T @ (X * (p * (1 - p))[:, None]) + l2 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return float(w[0]), float(w[1])


@dataclass(frozen=True)
class AlignmentCalibration:
    """Maps a model's raw image-prompt cosine to a calibrated alignment in [0, 1]."""

    model_id: str
    a: float
    b: float
    n_pairs: int
    match_auc: float  # how well the model separates matched from mismatched pairs

    def __call__(self, cos: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(self.a * np.asarray(cos, float) + self.b)))


def calibrate_alignment(embedder, n: int = 400, seed: int = 2024) -> AlignmentCalibration:
    """Fit the model's calibration on `n` clean sketches and their prompts (seeded)."""
    from .generate.sketch import SketchRenderer
    from .prompts import build_specs

    requests = ["dress", "trousers", "coat", "skirt", "shirt", "jumpsuit", "jeans", "t-shirt", "jacket", "shorts",
                "top", "blouse", "sweater", "cardigan", "hoodie", "blazer"]
    per = max(1, n // len(requests))
    specs = [s for i, r in enumerate(requests) for s in build_specs(r, per, seed=seed + i)]
    renderer = SketchRenderer(256, 256, defect_rate=0.0)
    img = embedder.embed_images([renderer.render(s.attributes, s.seed)[0] for s in specs])
    txt = embedder.embed_texts([s.prompt for s in specs])
    pos = np.sum(img * txt, axis=1)
    shift = np.random.default_rng(seed).integers(1, len(specs))
    neg = np.sum(img * np.roll(txt, shift, axis=0), axis=1)  # every image with another one's prompt
    a, b = fit_logistic(np.concatenate([pos, neg]), np.concatenate([np.ones_like(pos), np.zeros_like(neg)]))
    return AlignmentCalibration(model_id=embedder.model_id, a=a, b=b, n_pairs=2 * len(specs),
                                match_auc=round(auc(pos, neg), 4))

"""Alignment and quality scores for generated images.

- CLIPScore (Hessel et al. 2021): ``2.5 * max(cos(image, prompt), 0)``, stored raw.
- Calibrated alignment in [0, 1], per model: raw cosines are not comparable across models
  (ViT-B-32 cosines sit around 0.2-0.35, a small sketch model's elsewhere), so each model gets
  a logistic map ``sigmoid(a * cos + b)`` fitted on its own cosines of sketches with their own
  prompt (label 1) and with another sketch's prompt (label 0). The result reads as "the
  probability, by this model, that the image shows its prompt"; the seed's outlier threshold
  0.75 applies to it. The fit uses a fixed, seeded set of clean sketches, so it is reproducible,
  and is stored per model in the `model_calibration` table.
- Artefacts: a defective generation can match its prompt well (a smudged or cropped sketch of
  the right dress), and it is also the pool's most unusual image, so the DPP's diversity term
  favours it. Each model gets a second logistic map, fitted on the same kind of seeded sketches
  rendered with and without an artefact, from the *artefact evidence*: how much closer the image
  is to its prompt prefixed with an artefact word ("smudged ...", "cropped ...") than to the plain
  prompt -- the antonym-prompt idea of CLIP-IQA (Wang et al. 2023). It is used only where the
  model separates artefacts (AUC >= 0.8 on its calibration set); otherwise it is left out.
  Selection does not pick images more likely artefacts than not (``ARTEFACT_GATE``): a quality
  discount cannot keep them out, because at theta 0.7 the DPP kernel weighs quality by at most
  exp(2 alpha) = 10x, less than such an outlier's diversity gain.
- For the same reason selection does not pick images off their prompt: a sketch drawn in the
  wrong colour, say. Such a sketch still matches the rest of its prompt, so its alignment sits
  far above another sketch's prompt and the 0.5 line passes most of them. Each model therefore
  also gets a *near-miss* line: the cosine at which a sketch is as likely to show its own prompt
  as that prompt with its category, colour or pattern changed (a logistic fit on the same clean
  sketches with their own prompt and with a near miss of it, seeded). Images under it -- in
  alignment terms, ``calibration(near_miss_cos)`` -- are off their prompt for selection, where the
  model separates the two (``MIN_MATCH_AUC``); a model that cannot tell near misses but does
  tell other prompts gates at ``ALIGNMENT_GATE``, and one that tells neither does not gate: it
  would put about half of any pool under the line by chance.
- Quality for selection (:func:`image_quality`): the probability that an image is worth showing,
  ``P(on its prompt rather than a near miss) * P(not an artefact)``. The calibrated alignment
  above says "its prompt rather than another sketch's": that is easy, so it saturates (>= 0.998 for
  every candidate of the demo) and min-max scaling in selection would stretch its noise over the
  whole quality range. The near-miss line is the hard comparison: ``sigmoid(a_nm (cos - cos_nm))``
  with the slope and the line of the near-miss fit, 0.5 on the line and spread over the pool.
  Where the model does not tell near misses it falls back to the calibrated alignment, and the
  artefact factor is left out where the model cannot tell artefacts. The preference head joins it
  once it beats chance (:func:`bffkit.learning.combined_quality`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


# Failure modes a prompt prefix names (sketch-clip's captions name them the same way).
ARTEFACT_WORDS = ("smudged", "cropped")
# Below this AUC on its calibration sketches a model cannot tell artefacts: none are flagged.
MIN_ARTEFACT_AUC = 0.8
# Images at or above this artefact probability are not offered to the selection.
ARTEFACT_GATE = 0.5
# Below this calibrated alignment ("more likely not showing its prompt than showing it") images
# are not offered to the selection, where the model's calibration AUC is at least MIN_MATCH_AUC
# (a model that tells near misses gates higher: AlignmentCalibration.alignment_gate).
ALIGNMENT_GATE = 0.5
MIN_MATCH_AUC = 0.8
# A near miss changes one of these: the head of every prompt, and what a failed generation most
# often gets wrong while the rest of its prompt still fits (a sketch in the wrong colour).
NEAR_MISS_ATTRIBUTES = ("category", "primary_color", "pattern")


def near_miss_prompt(attributes: Mapping[str, str], rng: np.random.Generator, taxonomy=None,
                     free_text: Sequence[str] = ()) -> str:
    """The prompt of `attributes` with one of its NEAR_MISS_ATTRIBUTES set to another value (drawn
    by `rng`); the prompt unchanged where it names none of them."""
    from .prompts import compose_prompt
    from .taxonomy import load_taxonomy

    tax = taxonomy or load_taxonomy()
    named = [a for a in NEAR_MISS_ATTRIBUTES if a in attributes]
    changed = dict(attributes)
    if named:
        attribute = named[int(rng.integers(len(named)))]
        others = [v for v in tax[attribute].value_names if v != attributes[attribute]]
        changed[attribute] = others[int(rng.integers(len(others)))]
    return compose_prompt(changed, tax, free_text)


def artefact_prompts(prompts: Sequence[str]) -> list[str]:
    """Every prompt prefixed with every artefact word, word-major (len(ARTEFACT_WORDS) x len(prompts))."""
    return [f"{word} {p}" for word in ARTEFACT_WORDS for p in prompts]


def artefact_evidence(image_emb: np.ndarray, prompt_emb: np.ndarray, artefact_emb: np.ndarray) -> np.ndarray:
    """Per image: max over artefact words of cos(image, word + prompt) - cos(image, prompt).

    `artefact_emb` holds the embeddings of :func:`artefact_prompts` of the same prompts.
    """
    image_emb, prompt_emb = np.asarray(image_emb), np.asarray(prompt_emb)
    plain = np.sum(image_emb * prompt_emb, axis=1)
    per_word = np.asarray(artefact_emb).reshape(len(ARTEFACT_WORDS), *prompt_emb.shape)
    return np.max(np.einsum("nd,wnd->wn", image_emb, per_word), axis=0) - plain


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -500, 500)))


@dataclass(frozen=True)
class AlignmentCalibration:
    """A model's calibrated alignment (raw image-prompt cosine -> [0, 1]) and artefact probability."""

    model_id: str
    a: float
    b: float
    n_pairs: int
    match_auc: float  # how well the model separates matched from mismatched pairs
    artefact_a: float | None = None
    artefact_b: float | None = None
    artefact_auc: float | None = None  # how well the model separates artefacts from clean sketches
    near_miss_cos: float | None = None  # the cosine where its own prompt and a near miss are even
    near_miss_auc: float | None = None  # how well the model separates its own prompt from a near miss
    near_miss_a: float | None = None  # the near-miss line's slope: its log-odds per unit of cosine

    def __call__(self, cos: np.ndarray) -> np.ndarray:
        return _sigmoid(self.a * np.asarray(cos, float) + self.b)

    @property
    def gates_alignment(self) -> bool:
        """Whether the alignment separates matched from mismatched prompts well enough to gate on."""
        return self.match_auc >= MIN_MATCH_AUC

    @property
    def complete(self) -> bool:
        """Whether every map was fitted (calibrations stored before the artefact or near-miss map
        existed lack them)."""
        return self.artefact_auc is not None and self.near_miss_auc is not None and self.near_miss_a is not None

    @property
    def alignment_gate(self) -> float | None:
        """The alignment under which selection leaves an image out as off its prompt: the near-miss
        line where the model tells near misses, else ALIGNMENT_GATE where it tells other prompts,
        else None (no gate)."""
        if self.near_miss_auc is not None and self.near_miss_auc >= MIN_MATCH_AUC:
            return max(ALIGNMENT_GATE, float(self(self.near_miss_cos)))
        return ALIGNMENT_GATE if self.gates_alignment else None

    @property
    def tells_near_misses(self) -> bool:
        return (self.near_miss_a is not None and self.near_miss_cos is not None
                and (self.near_miss_auc or 0.0) >= MIN_MATCH_AUC)

    def on_prompt(self, cos: np.ndarray) -> np.ndarray:
        """P(the image shows its prompt rather than a near miss of it); the calibrated alignment
        where the model does not tell near misses."""
        if not self.tells_near_misses:
            return self(cos)
        return _sigmoid(self.near_miss_a * (np.asarray(cos, float) - self.near_miss_cos))

    @property
    def detects_artefacts(self) -> bool:
        return self.artefact_a is not None and (self.artefact_auc or 0.0) >= MIN_ARTEFACT_AUC

    def artefact_probability(self, evidence: np.ndarray) -> np.ndarray | None:
        """P(artefact) from :func:`artefact_evidence`; None where the model cannot tell artefacts."""
        if not self.detects_artefacts:
            return None
        return _sigmoid(self.artefact_a * np.asarray(evidence, float) + self.artefact_b)


def image_quality(calibration: AlignmentCalibration, cos: np.ndarray, artefact: np.ndarray | None = None) -> np.ndarray:
    """Selection quality in [0, 1]: P(on its prompt rather than a near miss) * P(not an artefact)
    (`artefact` None: the model cannot tell artefacts, the factor is 1). See the module docstring."""
    quality = calibration.on_prompt(cos)
    if artefact is not None:
        quality = quality * (1.0 - np.nan_to_num(np.asarray(artefact, float), nan=0.0))
    return quality


def calibrate_alignment(embedder, n: int = 400, seed: int = 2024) -> AlignmentCalibration:
    """Fit the model's calibration on `n` sketches and their prompts (seeded).

    Alignment: clean sketches with their own prompt (1) and another sketch's prompt (0).
    Near misses: the same sketches with their own prompt (1) and a near miss of it (0).
    Artefacts: the same prompts' sketches drawn with a failure mode -- those that came out
    smudged or cropped (1) -- against the clean ones (0).
    """
    from .synth import SketchRenderer
    from .prompts import build_specs

    requests = ["dress", "trousers", "coat", "skirt", "shirt", "jumpsuit", "jeans", "t-shirt", "jacket", "shorts",
                "top", "blouse", "sweater", "cardigan", "hoodie", "blazer"]
    per = max(1, n // len(requests))
    specs = [s for i, r in enumerate(requests) for s in build_specs(r, per, seed=seed + i)]
    renderer = SketchRenderer(256, 256, defect_rate=0.0)
    img = embedder.embed_images([renderer.render(s.attributes, s.seed)[0] for s in specs])
    prompts = [s.prompt for s in specs]
    txt = embedder.embed_texts(prompts)
    pos = np.sum(img * txt, axis=1)
    shift = np.random.default_rng(seed).integers(1, len(specs))
    neg = np.sum(img * np.roll(txt, shift, axis=0), axis=1)  # every image with another one's prompt
    a, b = fit_logistic(np.concatenate([pos, neg]), np.concatenate([np.ones_like(pos), np.zeros_like(neg)]))
    # its own generator, so that the alignment map above is the one fitted before near misses existed
    near_rng = np.random.default_rng([seed, 1])
    near_txt = embedder.embed_texts([near_miss_prompt(s.attributes, near_rng, free_text=s.free_text) for s in specs])
    near = np.sum(img * near_txt, axis=1)
    near_a, near_b = fit_logistic(np.concatenate([pos, near]), np.concatenate([np.ones_like(pos), np.zeros_like(near)]))
    # Artefacts: every spec drawn again with a failure mode; smudged and cropped ones are the positives
    faulty = SketchRenderer(256, 256, defect_rate=1.0)
    drawn = [faulty.render(s.attributes, s.seed) for s in specs]
    rows = [i for i, (_, meta) in enumerate(drawn) if meta["defect"] in ARTEFACT_WORDS]
    art_txt = embedder.embed_texts(artefact_prompts(prompts)).reshape(len(ARTEFACT_WORDS), len(specs), -1)
    clean_ev = artefact_evidence(img, txt, art_txt)
    faulty_ev = artefact_evidence(embedder.embed_images([drawn[i][0] for i in rows]), txt[rows], art_txt[:, rows])
    art_a, art_b = fit_logistic(np.concatenate([faulty_ev, clean_ev]),
                                np.concatenate([np.ones_like(faulty_ev), np.zeros_like(clean_ev)]))
    return AlignmentCalibration(model_id=embedder.model_id, a=a, b=b, n_pairs=2 * len(specs),
                                match_auc=round(auc(pos, neg), 4), artefact_a=art_a, artefact_b=art_b,
                                artefact_auc=round(auc(faulty_ev, clean_ev), 4),
                                near_miss_cos=-near_b / near_a if near_a > 0 else None,
                                near_miss_auc=round(auc(pos, near), 4), near_miss_a=near_a if near_a > 0 else None)

"""VLT tagger (the seed's vlt_tagger.py): zero-shot attribute detection with CLIP prompts.

The category is detected first; then each tagged attribute that applies to that category is
classified among its values. Every class is a prompt-template ensemble (the mean of the
normalised text embeddings of several phrasings). Confidence is the softmax probability of
the chosen value at the model's own logit scale.

>>> tagger = VLTTagger(create_embedder("local-dir:data/models/sketch-clip"))  # doctest: +SKIP
>>> tagger.tag(embeddings)[0]["neckline"]  # doctest: +SKIP
{'value': 'v-neck', 'confidence': 0.83}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .taxonomy import Taxonomy, load_taxonomy

# What a drawing can show; the rest of the taxonomy (occasion, era...) is not visual enough.
TAG_ATTRIBUTES = ("category", "primary_color", "pattern", "length", "top_length", "leg_shape", "leg_length",
                  "sleeve_length", "sleeve_type", "neckline", "silhouette", "fit", "background")
# What describes the design, for clustering names, coverage and learning: the background a
# sketch sits on is the renderer's choice, not the garment's.
DESIGN_ATTRIBUTES = tuple(a for a in TAG_ATTRIBUTES if a != "background")
HEAD_ATTRIBUTES = ("primary_color", "pattern")  # said before the garment noun
TEMPLATES = ("a sketch of a {}", "a fashion flat of a {}", "a drawing of a {}", "{}")


def _prompt(attribute: str, value_phrase: str, category: str) -> str:
    if attribute == "category":
        return category
    if attribute in HEAD_ATTRIBUTES:
        return f"{value_phrase} {category}"
    return f"{category}, {value_phrase}"


def class_texts(attribute: str, category: str, tax: Taxonomy, templates: Sequence[str] = TEMPLATES) -> list[str]:
    """The prompts of every value of `attribute` on `category` (value-major, then template)."""
    attr = tax[attribute]
    return [t.format(_prompt(attribute, attr.render(v), category) if attribute != "category" else v)
            for v in attr.value_names for t in templates]


class VLTTagger:
    """Zero-shot tagger over an :class:`~bffkit.models.Embedder`."""

    def __init__(self, embedder, taxonomy: Taxonomy | None = None, attributes: Sequence[str] = TAG_ATTRIBUTES,
                 templates: Sequence[str] = TEMPLATES):
        self.embedder = embedder
        self.tax = taxonomy or load_taxonomy()
        self.attributes = tuple(attributes)
        self.templates = tuple(templates)
        self._classes: dict[tuple[str, str], np.ndarray] = {}
        scale = getattr(embedder.model, "logit_scale", None)
        self.logit_scale = float(scale.exp().item()) if scale is not None else 100.0

    def class_embeddings(self, attribute: str, category: str) -> np.ndarray:
        """(n_values, dim) ensembled text embeddings of an attribute's values for a category."""
        key = (attribute, category)
        if key not in self._classes:
            n_values = len(self.tax[attribute].value_names)
            texts = class_texts(attribute, category, self.tax, self.templates)
            emb = self.embedder.embed_texts(texts).reshape(n_values, len(self.templates), -1).mean(1)
            self._classes[key] = emb / np.linalg.norm(emb, axis=1, keepdims=True)
        return self._classes[key]

    def _classify(self, emb: np.ndarray, attribute: str, category: str) -> tuple[np.ndarray, np.ndarray]:
        logits = self.logit_scale * emb @ self.class_embeddings(attribute, category).T
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        return probs.argmax(1), probs.max(1)

    def tag(self, image_embeddings: np.ndarray) -> list[dict[str, dict]]:
        """Per image: attribute → {"value", "confidence"} for the category and what applies to it."""
        emb = np.asarray(image_embeddings, np.float32)
        out: list[dict[str, dict]] = [{} for _ in range(len(emb))]
        if not len(emb):
            return out
        cats = self.tax["category"].value_names
        idx, conf = self._classify(emb, "category", "")
        for i, (k, c) in enumerate(zip(idx, conf)):
            out[i]["category"] = {"value": cats[k], "confidence": round(float(c), 4)}
        for category in set(cats[k] for k in idx):
            rows = np.flatnonzero([cats[k] == category for k in idx])
            for attribute in self.attributes:
                if attribute == "category" or not self.tax[attribute].applies(category):
                    continue
                values = self.tax[attribute].value_names
                vidx, vconf = self._classify(emb[rows], attribute, category)
                for r, k, c in zip(rows, vidx, vconf):
                    out[r][attribute] = {"value": values[k], "confidence": round(float(c), 4)}
        return out


def detected_values(tags: Mapping[str, dict]) -> dict[str, str]:
    return {a: t["value"] for a, t in tags.items()}


def adherence(requested: Mapping[str, str], detected: Mapping[str, str]) -> float | None:
    """Share of the requested attributes the tagger can see that it detected with the same value."""
    checkable = [a for a in requested if a in detected]
    if not checkable:
        return None
    return sum(requested[a] == detected[a] for a in checkable) / len(checkable)


@dataclass(frozen=True)
class Evaluation:
    n_images: int
    accuracy: dict[str, float]
    support: dict[str, int]


def evaluate_tagger(tagger: VLTTagger, n: int = 1000, seed: int = 987_654) -> Evaluation:
    """Zero-shot accuracy per attribute on `n` clean sketches rendered from a seed stream the
    training never used; truth is what the renderer drew (category defaults included)."""
    from .synth import SketchRenderer
    from .prompts import ParsedRequest, sample_attributes

    renderer = SketchRenderer(256, 256, defect_rate=0.0)
    empty = ParsedRequest(text="", attributes={})
    images, truth = [], []
    for k in range(n):
        rng = np.random.default_rng(np.random.SeedSequence([seed, k]))
        img, meta = renderer.render(sample_attributes(empty, rng, tagger.tax), int(rng.integers(2**31)))
        images.append(img)
        truth.append(meta["rendered"])
    tags = tagger.tag(tagger.embedder.embed_images(images))
    hits: dict[str, int] = {}
    support: dict[str, int] = {}
    for t, got in zip(truth, tags):
        for attribute in tagger.attributes:
            if attribute not in t or not tagger.tax[attribute].applies(t["category"]):
                continue
            support[attribute] = support.get(attribute, 0) + 1
            hits[attribute] = hits.get(attribute, 0) + (got.get(attribute, {}).get("value") == t[attribute])
    return Evaluation(n_images=n, accuracy={a: round(hits[a] / support[a], 4) for a in support}, support=support)

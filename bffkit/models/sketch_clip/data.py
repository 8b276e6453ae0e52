"""sketch-clip's training data: sketch-renderer images with captions of what each really shows."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from ...scoring import ARTEFACT_WORDS

# Attributes the renderer draws, the ones captions talk about, and how often each is mentioned.
CAPTION_ATTRIBUTES = {
    "primary_color": 0.85, "pattern": 0.8, "length": 0.75, "sleeve_length": 0.75, "neckline": 0.7,
    "top_length": 0.5, "leg_shape": 0.6, "leg_length": 0.4, "sleeve_type": 0.4, "silhouette": 0.4,
    "fit": 0.4, "secondary_color": 0.3, "background": 0.3, "surface": 0.3, "waistline": 0.3,
    "collar_type": 0.3, "lapel_type": 0.3, "animal_print": 0.5, "stripe_direction": 0.4,
}
TEMPLATES = (
    "a sketch of a {head}{details}",
    "a fashion flat of a {head}{details}",
    "{head}{details}",
    "a drawing of a {head}{details}",
    "technical flat: {head}{details}",
)
# Zero-shot prompt phrasings trained on: the tagger's, plus two it does not use (generalisation).
PROMPT_TEMPLATES = ("a sketch of a {}", "a fashion flat of a {}", "a drawing of a {}", "{}",
                    "technical flat: {}", "an illustration of a {}")

# Words a greyscale image cannot show: its caption leaves them out.
COLOUR_WORDS = frozenset({"primary_color", "secondary_color", "background"})


def caption(attrs: Mapping[str, str], rng: np.random.Generator, defect: str | None = None,
            grey: bool = False) -> str:
    """A caption of what an image shows: category always, other attributes by chance."""
    from ...taxonomy import load_taxonomy

    tax = load_taxonomy()
    if grey:
        attrs = {k: v for k, v in attrs.items() if k not in COLOUR_WORDS}
    head = [tax["primary_color"].render(attrs["primary_color"])] if "primary_color" in attrs and \
        rng.random() < CAPTION_ATTRIBUTES["primary_color"] else []
    if "pattern" in attrs and attrs["pattern"] != "solid" and rng.random() < CAPTION_ATTRIBUTES["pattern"]:
        head.append(tax["pattern"].render(attrs["pattern"]))
    head.append(attrs["category"])
    details = [tax[a].render(v) for a, v in attrs.items()
               if a in CAPTION_ATTRIBUTES and a not in ("primary_color", "pattern") and tax[a].applies(attrs["category"])
               and rng.random() < CAPTION_ATTRIBUTES[a]]
    if attrs.get("pattern") == "solid" and rng.random() < 0.5:
        details.append("solid colour")
    rng.shuffle(details)
    # a smudged or cropped render is captioned with the word the artefact score looks for
    word = defect if defect in ARTEFACT_WORDS else None
    text = TEMPLATES[int(rng.integers(len(TEMPLATES)))].format(
        head=" ".join(head), details=(", " + ", ".join(details)) if details else "")
    return f"{word} {text}" if word else text


def _render_chunk(args) -> tuple[np.ndarray, list[dict], list[str | None]]:
    seed, start, count, size, defect_rate = args
    from ...prompts import ParsedRequest, sample_attributes
    from ...synth import SketchRenderer
    from ...taxonomy import load_taxonomy

    from PIL import Image

    tax = load_taxonomy()
    # drawn at the default 256 and resized as open_clip's preprocessing will resize real inputs
    renderer = SketchRenderer(256, 256, defect_rate=defect_rate)
    empty = ParsedRequest(text="", attributes={})
    images = np.empty((count, size, size, 3), np.uint8)
    attrs, defects = [], []
    for k in range(count):
        rng = np.random.default_rng(np.random.SeedSequence([seed, start + k]))
        requested = sample_attributes(empty, rng, tax)
        img, meta = renderer.render(requested, int(rng.integers(2**31)))
        images[k] = np.asarray(img.resize((size, size), Image.BICUBIC))
        attrs.append(meta["rendered"])
        defects.append(meta["defect"])
    return images, attrs, defects


def render_dataset(n: int, seed: int, size: int = 128, defect_rate: float = 0.15,
                   workers: int | None = None) -> tuple[np.ndarray, list[dict], list[str | None]]:
    """n sketches (uint8, n x size x size x 3) with the attributes each really shows."""
    workers = workers or min(2, os.cpu_count() or 1)
    chunk = max(1, math.ceil(n / (workers * 4)))
    jobs = [(seed, s, min(chunk, n - s), size, defect_rate) for s in range(0, n, chunk)]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            parts = list(pool.map(_render_chunk, jobs))
    else:
        parts = [_render_chunk(j) for j in jobs]
    return (np.concatenate([p[0] for p in parts]), [a for p in parts for a in p[1]],
            [d for p in parts for d in p[2]])

"""The shipped sketch-clip weights: size, loading path, zero-shot accuracy, defect and artefact separation."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from bffkit.embed import calibration_for, create_embedder, prompt_scores
from bffkit.generate.sketch import SketchRenderer
from bffkit.paths import DATA_DIR
from bffkit.prompts import build_specs
from bffkit.scoring import ARTEFACT_GATE, ARTEFACT_WORDS, auc
from bffkit.tagging import VLTTagger, evaluate_tagger

MODEL_DIR = DATA_DIR / "models" / "sketch-clip"
# Issue 4 asks for category 0.95, primary colour 0.90, pattern 0.85, length 0.80, sleeve length
# 0.80, neckline 0.70. The shipped weights (26 minutes of training on 2 cores) reach 0.715, 0.734,
# 0.592, 0.782, 0.904 and 0.384 (training.json): sleeve length is met, the rest are short and the
# issue stays open. These floors guard what ships against regressions (measured minus a margin).
TARGETS = {"category": 0.95, "primary_color": 0.90, "pattern": 0.85, "length": 0.80, "sleeve_length": 0.80,
           "neckline": 0.70}
REQUIRED = {"category": 0.68, "primary_color": 0.70, "pattern": 0.55, "length": 0.74, "sleeve_length": 0.87,
            "neckline": 0.34}


@pytest.fixture(scope="module")
def sketch_clip():
    return create_embedder("sketch-clip")


def test_shipped_model_is_small_and_loads_through_open_clip(sketch_clip):
    files = {p.name: p.stat().st_size for p in MODEL_DIR.iterdir()}
    assert {"open_clip_config.json", "open_clip_model.safetensors", "calibration.json", "training.json"} <= set(files)
    assert sum(files.values()) <= 25 * 1024 * 1024
    same = create_embedder(f"local-dir:{MODEL_DIR}")
    texts = ["a sketch of a red dress", "a drawing of a striped coat"]
    np.testing.assert_array_equal(sketch_clip.embed_texts(texts), same.embed_texts(texts))


def test_trimmed_text_encoding_equals_open_clip(sketch_clip):
    """Training encodes prompts cut after their end token; the tagger encodes them padded."""
    from bffkit.sketch_clip import encode_text_trimmed

    model, tok = sketch_clip.model, sketch_clip.tokenizer
    tokens = tok(["dress, v-neck", "a fashion flat of a red floral dress, midi, long sleeves, square neckline"])
    with torch.no_grad():
        np.testing.assert_allclose(encode_text_trimmed(model, tokens).numpy(), model.encode_text(tokens).numpy(),
                                   atol=1e-5)


@pytest.mark.slow
def test_zero_shot_accuracy_on_1000_held_out_sketches(sketch_clip):
    ev = evaluate_tagger(VLTTagger(sketch_clip), n=1000)
    for attribute, floor in REQUIRED.items():
        assert ev.accuracy[attribute] >= floor, (attribute, ev.accuracy[attribute], floor)


@pytest.mark.slow
def test_calibrated_alignment_scores_defects_lower_than_clean(sketch_clip):
    cal = calibration_for(sketch_clip)
    requests = ["dress", "coat", "trousers", "skirt", "shirt", "t-shirt", "jacket", "jumpsuit"]
    specs = [s for i, r in enumerate(requests) for s in build_specs(r, 60, seed=100 + i)]
    renderer = SketchRenderer(defect_rate=0.5)
    images, defect = [], []
    for s in specs:
        img, meta = renderer.render(s.attributes, s.seed)
        images.append(img)
        defect.append(meta["defect"] is not None)
    X = sketch_clip.embed_images(images)
    T = sketch_clip.embed_texts([s.prompt for s in specs])
    score = cal(np.sum(X * T, axis=1))
    defect = np.array(defect)
    assert auc(score[~defect], score[defect]) >= 0.8


@pytest.mark.slow
def test_artefact_probability_flags_smudged_and_cropped_sketches(sketch_clip):
    """Held-out sketches (seeds the calibration never saw): measured AUC 0.99, 88% of smudged or
    cropped ones flagged at the gate (cropped 100%, smudged 78%), 1.3% of clean ones."""
    assert calibration_for(sketch_clip).detects_artefacts
    requests = ["dress", "coat", "trousers", "skirt", "shirt", "t-shirt", "jacket", "jumpsuit"]
    specs = [s for i, r in enumerate(requests) for s in build_specs(r, 60, seed=100 + i)]
    renderer = SketchRenderer(defect_rate=0.5)
    drawn = [renderer.render(s.attributes, s.seed) for s in specs]
    kinds = np.array([meta["defect"] or "" for _, meta in drawn])
    X = sketch_clip.embed_images([img for img, _ in drawn])
    artefact = prompt_scores(sketch_clip, X, [s.prompt for s in specs])["artefact"]
    faulty, clean = np.isin(kinds, ARTEFACT_WORDS), kinds == ""
    assert auc(artefact[faulty], artefact[clean]) >= 0.95
    assert (artefact[faulty] >= ARTEFACT_GATE).mean() >= 0.8
    assert (artefact[clean] >= ARTEFACT_GATE).mean() <= 0.04

"""The shipped sketch-clip weights: size, loading path, zero-shot accuracy, defect and artefact separation."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from bffkit.models import create_embedder
from bffkit.stages.embed import calibration_for, prompt_scores
from bffkit.synth import SketchRenderer
from bffkit.paths import DATA_DIR
from bffkit.prompts import build_specs
from bffkit.scoring import ARTEFACT_GATE, ARTEFACT_WORDS, auc
from bffkit.tagging import VLTTagger, evaluate_tagger

MODEL_DIR = DATA_DIR / "models" / "sketch-clip"
# Issue 4 asks for category 0.95, primary colour 0.90, pattern 0.85, length 0.80, sleeve length
# 0.80, neckline 0.70. The shipped weights (26.5 minutes of training on 2 cores, sketch-v6 renders)
# reach 0.971, 0.923, 0.871, 0.937, 0.858 and 0.778 (training.json; the evaluation is seeded, so
# this test measures the same numbers): every target is met, and the floors are the targets.
TARGETS = {"category": 0.95, "primary_color": 0.90, "pattern": 0.85, "length": 0.80, "sleeve_length": 0.80,
           "neckline": 0.70}
REQUIRED = TARGETS


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
    from bffkit.models.sketch_clip.architecture import encode_text_trimmed

    model, tok = sketch_clip.model, sketch_clip.tokenizer
    tokens = tok(["dress, v-neck", "a fashion flat of a red floral dress, midi, long sleeves, square neckline"])
    with torch.no_grad():
        np.testing.assert_allclose(encode_text_trimmed(model, tokens).numpy(), model.encode_text(tokens).numpy(),
                                   atol=1e-5)


def test_training_pool_asks_only_the_pooled_token(sketch_clip):
    """Training swaps the attention pool for one that queries token 0 only: same output, less work."""
    import copy

    from bffkit.models.sketch_clip.architecture import pool_first_token

    x = torch.randn(4, 3, 112, 112)
    fast = pool_first_token(copy.deepcopy(sketch_clip.model))
    with torch.no_grad():
        np.testing.assert_allclose(fast.encode_image(x).numpy(), sketch_clip.model.encode_image(x).numpy(), atol=1e-5)


@pytest.mark.slow
def test_zero_shot_accuracy_on_1000_held_out_sketches(sketch_clip):
    ev = evaluate_tagger(VLTTagger(sketch_clip), n=1000)
    for attribute, floor in REQUIRED.items():
        assert ev.accuracy[attribute] >= floor, (attribute, ev.accuracy[attribute], floor)


@pytest.fixture(scope="module")
def held_out_defects(sketch_clip):
    """480 sketches (seeds the calibration never saw), half drawn with a defect: (prompts, the
    defect of each or "", image embeddings)."""
    requests = ["dress", "coat", "trousers", "skirt", "shirt", "t-shirt", "jacket", "jumpsuit"]
    specs = [s for i, r in enumerate(requests) for s in build_specs(r, 60, seed=100 + i)]
    renderer = SketchRenderer(defect_rate=0.5)
    drawn = [renderer.render(s.attributes, s.seed) for s in specs]
    kinds = np.array([meta["defect"] or "" for _, meta in drawn])
    return [s.prompt for s in specs], kinds, sketch_clip.embed_images([img for img, _ in drawn])


@pytest.mark.slow
def test_calibrated_alignment_scores_defects_lower_than_clean(sketch_clip, held_out_defects):
    prompts, kinds, X = held_out_defects
    score = calibration_for(sketch_clip)(np.sum(X * sketch_clip.embed_texts(prompts), axis=1))
    defect = kinds != ""
    assert auc(score[~defect], score[defect]) >= 0.8


@pytest.mark.slow
def test_artefact_probability_flags_smudged_and_cropped_sketches(sketch_clip, held_out_defects):
    """Held-out sketches (seeds the calibration never saw): measured AUC 0.96, 81% of smudged or
    cropped ones flagged at the gate (cropped 97%, smudged 66%), 1.7% of clean ones (the weights
    before, layers [1, 1, 1, 1]: AUC 0.97, 87%, 2.9%; sketch-v5's: AUC 0.99, 91%, 1.7%)."""
    assert calibration_for(sketch_clip).detects_artefacts
    prompts, kinds, X = held_out_defects
    artefact = prompt_scores(sketch_clip, X, prompts)["artefact"]
    faulty, clean = np.isin(kinds, ARTEFACT_WORDS), kinds == ""
    assert auc(artefact[faulty], artefact[clean]) >= 0.95
    assert (artefact[faulty] >= ARTEFACT_GATE).mean() >= 0.8
    assert (artefact[clean] >= ARTEFACT_GATE).mean() <= 0.04


@pytest.mark.slow
def test_the_off_prompt_gate_leaves_out_wrong_colour_sketches(sketch_clip, held_out_defects):
    """A wrong-colour sketch matches the rest of its prompt: the 0.5 alignment line passes most of
    them (measured: 36% left out), the near-miss line (alignment 0.998) leaves out 92% -- and 97%
    of cropped, 50% of smudged, 26% of missing-sleeve and 15% of clean sketches, those the model
    itself reads closer to a near miss."""
    cal = calibration_for(sketch_clip)
    assert cal.near_miss_auc >= 0.9 and cal.alignment_gate > 0.5
    prompts, kinds, X = held_out_defects
    off = cal(np.sum(X * sketch_clip.embed_texts(prompts), axis=1)) < cal.alignment_gate
    assert off[kinds == "wrong_color"].mean() >= 0.85 and off[kinds == "cropped"].mean() >= 0.85
    assert off[kinds == ""].mean() <= 0.2


def test_prompt_bank_holds_the_taggers_class_embeddings(sketch_clip):
    """Training's image tower learns against exactly the classes the tagger will compare with."""
    from bffkit.models.sketch_clip.losses import PROMPT_ATTRIBUTES, PromptBank
    from bffkit.tagging import TEMPLATES

    tagger = VLTTagger(sketch_clip)
    bank = PromptBank(sketch_clip.tokenizer, tagger.tax, PROMPT_ATTRIBUTES, TEMPLATES)
    bank.refresh(sketch_clip.model)
    for attribute, category in (("category", ""), ("neckline", "dress"), ("primary_color", "jeans")):
        cats, emb = bank.class_embeddings[attribute]
        np.testing.assert_allclose(emb[cats.index(category)].numpy(), tagger.class_embeddings(attribute, category),
                                   atol=1e-4)


def test_attribute_loss_prefers_the_true_values(sketch_clip):
    from bffkit.models.sketch_clip.losses import PromptBank, attribute_loss

    tagger = VLTTagger(sketch_clip)
    bank = PromptBank(sketch_clip.tokenizer, tagger.tax, ("category", "neckline", "primary_color"), ("{}",))
    bank.refresh(sketch_clip.model)
    attrs = [{"category": "dress", "neckline": "v-neck", "primary_color": "red"},
             {"category": "top", "neckline": "halter", "primary_color": "navy"}]
    # image features that are the mean of the true classes' text embeddings
    feats = torch.stack([
        torch.nn.functional.normalize(sum(
            bank.class_embeddings[a][1][0 if a == "category" else bank.class_embeddings[a][0].index(x["category"])]
            [tagger.tax[a].value_names.index(x[a])] for a in ("category", "neckline", "primary_color")), dim=0)
        for x in attrs])
    wrong = [{"category": "coat", "neckline": "crew", "primary_color": "yellow"},
             {"category": "jeans", "neckline": "boat", "primary_color": "pink"}]
    grey = np.zeros(2, bool)
    scale = torch.tensor(50.0)
    true_loss = attribute_loss(feats, attrs, grey, bank.class_embeddings, scale, tagger.tax)
    assert true_loss < attribute_loss(feats, wrong, grey, bank.class_embeddings, scale, tagger.tax)
    # a greyscale copy is not asked its colour: only category and neckline are scored
    only_shape = {a: bank.class_embeddings[a] for a in ("category", "neckline")}
    assert torch.isclose(attribute_loss(feats, attrs, np.ones(2, bool), bank.class_embeddings, scale, tagger.tax),
                         attribute_loss(feats, attrs, grey, only_shape, scale, tagger.tax))


def test_attribute_weights_weigh_the_zero_shot_term(sketch_clip):
    """A weighted mean: weight 0 drops an attribute, equal weights are the plain mean."""
    from bffkit.models.sketch_clip.losses import PromptBank, attribute_loss

    tagger = VLTTagger(sketch_clip)
    bank = PromptBank(sketch_clip.tokenizer, tagger.tax, ("category", "neckline"), ("{}",))
    bank.refresh(sketch_clip.model)
    feats = torch.nn.functional.normalize(torch.randn(3, 512), dim=-1)
    attrs = [{"category": "dress", "neckline": "v-neck"}, {"category": "top", "neckline": "halter"},
             {"category": "coat", "neckline": "crew"}]
    grey, scale, tax = np.zeros(3, bool), torch.tensor(50.0), tagger.tax

    def loss(classes, weights=None):
        return float(attribute_loss(feats, attrs, grey, {a: bank.class_embeddings[a] for a in classes}, scale, tax,
                                    weights))

    category, neckline = loss(["category"]), loss(["neckline"])
    assert loss(["category", "neckline"]) == pytest.approx((category + neckline) / 2, rel=1e-5)
    assert loss(["category", "neckline"], {"neckline": 0.0}) == pytest.approx(category, rel=1e-5)
    assert loss(["category", "neckline"], {"neckline": 3.0}) == pytest.approx((category + 3 * neckline) / 4, rel=1e-5)

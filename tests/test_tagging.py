"""Stage 3 mechanics: zero-shot tagger, scores, calibration, the main job's embed stage, CLI.

A tiny randomly initialised open_clip model drives the code paths (its tags mean nothing);
accuracy requirements apply to the shipped sketch-clip weights (test_sketch_clip_model.py).
"""
from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest
import yaml

from bffkit.models import create_embedder
from bffkit.stages.embed import calibration_beside_weights, calibration_for
from bffkit.stages.round_data import calibration_from_row
from bffkit.exceptions import ConfigError
from bffkit.synth import SketchRenderer
from bffkit.prompts import compose_prompt
from bffkit.scoring import (NEAR_MISS_ATTRIBUTES, AlignmentCalibration, auc, calibrate_alignment, clip_score,
                            fit_logistic, near_miss_prompt)
from bffkit.store import open_store
from bffkit.tagging import VLTTagger, adherence, evaluate_tagger

from .conftest import TINY


@pytest.fixture(scope="module")
def tiny_embedder(tiny_clip):  # noqa: F811
    _, folder = tiny_clip
    return create_embedder(f"local-dir:{folder}")


def test_tagger_tags_the_category_then_only_what_applies(tiny_embedder, tax):
    renderer = SketchRenderer(64, 64, defect_rate=0.0)
    imgs = [renderer.render({"category": c}, seed=i)[0] for i, c in enumerate(["trousers", "dress", "coat"])]
    tags = VLTTagger(tiny_embedder).tag(tiny_embedder.embed_images(imgs))
    for t in tags:
        category = t["category"]["value"]
        assert category in tax.categories
        assert set(t) - {"category"} == {a for a in VLTTagger(tiny_embedder).attributes
                                         if a != "category" and tax[a].applies(category)}
        assert all(0 < v["confidence"] <= 1 for v in t.values())
        assert all(v["value"] in tax[a] for a, v in t.items())


def test_tagger_caches_its_class_prompts(tiny_embedder):
    tagger = VLTTagger(tiny_embedder)
    x = tiny_embedder.embed_images([SketchRenderer(64, 64, 0.0).render({"category": "dress"}, seed=0)[0]])
    tagger.tag(x)
    calls = tiny_embedder.forward_calls
    tagger.tag(x)
    assert tiny_embedder.forward_calls == calls


def test_evaluate_tagger_reports_accuracy_and_support(tiny_embedder):
    ev = evaluate_tagger(VLTTagger(tiny_embedder), n=40)
    assert ev.n_images == 40 and ev.support["category"] == 40
    assert all(0 <= acc <= 1 for acc in ev.accuracy.values())
    assert ev.support["neckline"] < 40  # only garments that have a neckline count


def test_adherence():
    assert adherence({"category": "dress", "primary_color": "red", "era": "1970s"},
                     {"category": "dress", "primary_color": "blue"}) == 0.5
    assert adherence({"era": "1970s"}, {"category": "dress"}) is None


def test_auc_and_logistic_fit():
    assert auc([3, 4], [1, 2]) == 1.0 and auc([1], [1]) == 0.5 and auc([1, 2], [3, 4]) == 0.0
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(1, 0.3, 500), rng.normal(0, 0.3, 500)])
    y = np.concatenate([np.ones(500), np.zeros(500)])
    a, b = fit_logistic(x, y)
    assert a > 0 and abs(-b / a - 0.5) < 0.1  # the decision boundary sits between the classes


def test_clip_score_is_hessels():
    img = np.array([[1.0, 0.0], [0.0, 1.0]])
    txt = np.array([[0.6, 0.8], [0.0, -1.0]])
    np.testing.assert_allclose(clip_score(img, txt), [1.5, 0.0])


def test_a_near_miss_changes_one_head_attribute(tax):
    attrs = {"category": "dress", "primary_color": "navy", "pattern": "stripes", "length": "midi"}
    changed = set()
    for seed in range(30):
        prompt = near_miss_prompt(attrs, np.random.default_rng(seed), tax, free_text=("70s boho",))
        assert prompt == near_miss_prompt(attrs, np.random.default_rng(seed), tax, free_text=("70s boho",))
        # exactly one of the head attributes took another value; the rest of the prompt is the same
        matches = [(a, v) for a in NEAR_MISS_ATTRIBUTES for v in tax[a].value_names
                   if v != attrs[a] and compose_prompt({**attrs, a: v}, tax, ("70s boho",)) == prompt]
        assert len(matches) == 1
        changed.add(matches[0][0])
    assert changed == set(NEAR_MISS_ATTRIBUTES)
    # a prompt that names none of them has no near miss
    assert near_miss_prompt({"length": "midi"}, np.random.default_rng(0), tax) == compose_prompt({"length": "midi"}, tax)


def test_calibration_is_fitted_once_per_model_and_stored(tiny_clip, workspace):
    weights, _ = tiny_clip
    embedder = create_embedder(f"bff-tiny-clip@{weights}")  # a weights file: no calibration beside it
    store = open_store(workspace)
    cal = calibration_for(embedder, store)
    assert cal.model_id == embedder.model_id and cal.n_pairs >= 700
    assert 0 <= cal.match_auc <= 1
    again = calibration_for(embedder, store)
    assert again == calibration_from_row(store.get_calibration(embedder.model_id))
    scores = cal(np.array([-1.0, 0.0, 1.0]))
    assert ((0 < scores) & (scores < 1)).all()
    assert calibrate_alignment(embedder, n=32).a == calibrate_alignment(embedder, n=32).a  # seeded
    # the artefact map is fitted with it; a random model cannot tell artefacts, so none are flagged
    assert cal.artefact_a is not None and 0 <= cal.artefact_auc <= 1
    if not cal.detects_artefacts:
        assert cal.artefact_probability(np.zeros(3)) is None


def test_a_model_folder_carries_its_calibration(tiny_clip, workspace, tmp_path):
    _, folder = tiny_clip
    embedder = create_embedder(f"local-dir:{folder}")
    beside = json.loads((folder / "calibration.json").read_text())
    store = open_store(workspace)
    cal = calibration_for(embedder, store)
    assert cal == AlignmentCalibration(**{**beside, "model_id": embedder.model_id})
    assert calibration_from_row(store.get_calibration(embedder.model_id)) == cal
    # a row stored before the artefact or near-miss map existed gains them
    for maps in ((), (cal.artefact_a, cal.artefact_b, cal.artefact_auc)):
        store.put_calibration(cal.model_id, cal.a, cal.b, cal.n_pairs, cal.match_auc, *maps)
        assert store.get_calibration(cal.model_id)["near_miss_auc"] is None
        assert calibration_for(embedder, store) == cal
        row = store.get_calibration(cal.model_id)
        assert (row["near_miss_cos"], row["near_miss_auc"]) == (cal.near_miss_cos, cal.near_miss_auc)
    # fitted on other weights, or unreadable: not used (calibration_for then fits one)
    other = tmp_path / "other"
    shutil.copytree(folder, other)
    (other / "calibration.json").write_text(json.dumps({**beside, "model_id": "bff-tiny-clip#0123456789ab"}))
    assert calibration_beside_weights(create_embedder(f"local-dir:{other}")) is None
    (other / "calibration.json").write_text("{")
    assert calibration_beside_weights(create_embedder(f"local-dir:{other}")) is None
    (other / "calibration.json").write_text(json.dumps(beside))
    moved = create_embedder(f"local-dir:{other}")
    assert calibration_beside_weights(moved) == dataclasses.replace(cal, model_id=moved.model_id)


def test_artefact_probability_follows_the_evidence():
    from bffkit.scoring import artefact_evidence, artefact_prompts

    assert artefact_prompts(["a red dress"]) == ["smudged a red dress", "cropped a red dress"]
    image = np.array([[1.0, 0.0], [0.0, 1.0]])
    prompt = np.array([[0.8, 0.6], [0.8, 0.6]])
    # word-major: smudged (both images), then cropped (both images)
    words = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0], [0.0, 1.0]])
    np.testing.assert_allclose(artefact_evidence(image, prompt, words), [1.0 - 0.8, 1.0 - 0.6])
    cal = AlignmentCalibration("m", 1.0, 0.0, 10, 0.9, artefact_a=10.0, artefact_b=-1.0, artefact_auc=0.95)
    p = cal.artefact_probability(np.array([-0.5, 0.1, 0.5]))
    assert p[0] < 0.01 and p[1] == pytest.approx(0.5) and p[2] > 0.98
    weak = AlignmentCalibration("m", 1.0, 0.0, 10, 0.9, artefact_a=10.0, artefact_b=-1.0, artefact_auc=0.6)
    assert not weak.detects_artefacts and weak.artefact_probability(np.zeros(2)) is None


def test_the_off_prompt_gate_is_the_near_miss_line_where_the_model_tells_near_misses():
    from bffkit.scoring import ALIGNMENT_GATE

    cal = AlignmentCalibration("m", 10.0, -2.0, 10, 0.99, near_miss_cos=0.4, near_miss_auc=0.9)
    # cos 0.4 maps to sigmoid(10 * 0.4 - 2) = 0.88: images under it are closer to a near miss
    assert cal.alignment_gate == pytest.approx(1 / (1 + np.exp(-2.0)))
    low = dataclasses.replace(cal, near_miss_cos=0.1)  # a line under alignment 0.5 gates at 0.5
    assert low.alignment_gate == ALIGNMENT_GATE
    blind = dataclasses.replace(cal, near_miss_auc=0.7)  # tells other prompts, not near misses
    assert blind.alignment_gate == ALIGNMENT_GATE
    assert dataclasses.replace(blind, match_auc=0.7).alignment_gate is None
    assert dataclasses.replace(cal, near_miss_cos=None, near_miss_auc=None).alignment_gate == ALIGNMENT_GATE


def test_quality_is_the_near_miss_odds_times_not_an_artefact():
    from bffkit.scoring import image_quality

    cal = AlignmentCalibration("m", 40.0, -10.0, 10, 0.99, near_miss_cos=0.5, near_miss_auc=0.9, near_miss_a=20.0)
    cos = np.array([0.5, 0.6, 0.7])
    # the alignment map saturates over this range; the near-miss odds do not
    assert cal(cos).min() > 0.99995
    np.testing.assert_allclose(image_quality(cal, cos), 1 / (1 + np.exp(-20.0 * (cos - 0.5))))
    assert image_quality(cal, cos)[0] == pytest.approx(0.5)  # on the line: as likely a near miss
    with_artefacts = image_quality(cal, cos, np.array([0.0, 0.5, np.nan]))
    np.testing.assert_allclose(with_artefacts, image_quality(cal, cos) * [1.0, 0.5, 1.0])  # NaN: cannot tell
    blind = dataclasses.replace(cal, near_miss_auc=0.7)  # cannot tell near misses: the calibrated alignment
    np.testing.assert_allclose(image_quality(blind, cos), cal(cos))
    assert not dataclasses.replace(cal, near_miss_a=None).complete  # refitted (or read beside the weights)


@pytest.mark.slow  # an end-to-end run
def test_main_job_embeds_tags_and_scores(cli, tmp_path, workspace, tiny_clip):  # noqa: F811
    _, folder = tiny_clip
    cfg = yaml.safe_load(TINY.read_text())
    cfg["embed"] = {"model": f"local-dir:{folder}", "batch_size": 8}
    path = tmp_path / "embed.yaml"
    path.write_text(yaml.safe_dump(cfg))
    code, out, err = cli("run", "--no-notebooks", "--config", path, "--workspace", workspace, "--json")
    assert code == 0, err
    assert "round 1 · embed: 16 images" in err
    store = open_store(workspace)
    emb = json.loads(out)["rounds"][0]["embedding"]
    assert emb["n_images"] == 16 and emb["n_new_embeddings"] >= 1
    tags = store.table("image_tags")
    assert len(tags) == 32 and tags["alignment"].between(0, 1).all() and (tags["clip_score"] >= 0).all()
    first = tags.iloc[0]["detected"]
    assert "category" in first and 0 < first["category"]["confidence"] <= 1
    assert store.get_calibration(emb["model_id"]) is not None
    # another run (a new run id, so its stages run): round 1 draws the same images, all cached
    code, out, _ = cli("run", "--no-notebooks", "--config", path, "--workspace", workspace, "--json", "--run-id", "again")
    assert json.loads(out)["rounds"][0]["embedding"]["n_new_embeddings"] == 0


def test_default_sketch_clip_without_weights_says_how_to_get_them(cli, tmp_path, workspace, monkeypatch):
    import bffkit.models.embedders as embed

    monkeypatch.setitem(embed.PRESETS, "sketch-clip",
                        embed.Preset(f"local-dir:{tmp_path / 'none'}", None, "not trained here"))
    with pytest.raises(ConfigError, match=r"no trained weights in .*run `bffkit train-sketch-clip`"):
        create_embedder("sketch-clip")
    cfg = yaml.safe_load(TINY.read_text())
    cfg["embed"] = {"model": "sketch-clip"}
    path = tmp_path / "default.yaml"
    path.write_text(yaml.safe_dump(cfg))
    code, out, err = cli("run", "--no-notebooks", "--config", path, "--workspace", workspace)
    assert code == 2 and out == "" and "no trained weights" in err and err.count("\n") == 1
    assert not workspace.exists()


def test_cli_tag(cli, tmp_path, tiny_clip):  # noqa: F811
    _, folder = tiny_clip
    renderer = SketchRenderer(defect_rate=0.0)
    paths = []
    for i, colour in enumerate(["red", "navy"]):
        img, _ = renderer.render({"category": "dress", "primary_color": colour}, seed=i)
        paths.append(tmp_path / f"{colour}.png")
        img.save(paths[-1])
    code, out, err = cli("tag", *paths, "--model", f"local-dir:{folder}", "--prompt", "a red dress", "--json")
    assert code == 0, err
    docs = json.loads(out)
    assert [d["image"] for d in docs] == [str(p) for p in paths]
    assert all("category" in d["attributes"] and 0 <= d["alignment"] <= 1 and d["prompt"] == "a red dress"
               for d in docs)
    code, out, err = cli("tag", tmp_path / "missing.png", "--model", f"local-dir:{folder}")
    assert (code, out) == (2, "") and err == f"error: image not found: {tmp_path / 'missing.png'}\n"
    (tmp_path / "bad.png").write_text("nope")
    code, _, err = cli("tag", tmp_path / "bad.png", "--model", f"local-dir:{folder}")
    assert code == 2 and err.endswith("bad.png: not an image file bffkit can read\n")
    code, _, err = cli("tag", paths[0], "--model", "ViT-B-23@openai")
    assert code == 2 and "unknown model; did you mean" in err and "ViT-B-32" in err


@pytest.mark.slow
def test_bench_embed(cli):
    code, out, err = cli("bench", "embed", "--n", "16", "--repeats", "1", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["matmul_gflops_per_s"] > 0
    for spec in ("sketch-clip@random", "ViT-B-32@random"):
        m = doc["models"][spec]
        assert m["images_per_s"] > 0 and 0 < m["share_of_matmul_ceiling"] < 1.5 and m["gflops_per_image"] > 0


@pytest.mark.slow
def test_train_sketch_clip_command_writes_a_loadable_model(cli, tmp_path):
    out = tmp_path / "model"
    code, stdout, err = cli("train-sketch-clip", "--out", out, "--images", "600", "--epochs", "1", "--max-minutes", "1",
                            "--eval-images", "200", "--no-compile")
    assert code == 0, err
    report = json.loads(stdout)
    assert {"category", "primary_color", "pattern", "neckline"} <= set(report["zero_shot_accuracy"])
    assert json.loads((out / "training.json").read_text())["zero_shot_support"]["category"] == 200
    assert {"open_clip_config.json", "open_clip_model.safetensors", "calibration.json", "training.json"} <= \
        {p.name for p in out.iterdir()}
    assert (out / "open_clip_model.safetensors").stat().st_size < 25 * 1024 * 1024
    emb = create_embedder(f"local-dir:{out}")
    assert emb.embed_texts(["a red dress"]).shape == (1, 512)

"""`bffkit train-sketch-clip` end to end on a few images: what it writes, that it loads, that it is seeded."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from safetensors.numpy import load_file

from bffkit.models import create_embedder
from bffkit.models.sketch_clip.train import TrainConfig, fit_steps, train

TINY = dict(n_images=96, epochs=1, batch_size=32, warmup_steps=1, threads=1, log_every=1, compile=False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    first, second = tmp_path_factory.mktemp("first"), tmp_path_factory.mktemp("second")
    reports = [train(TrainConfig(**TINY), out, log=lambda _: None) for out in (first, second)]
    return first, second, reports


def test_training_writes_open_clip_local_dir_layout(trained):
    out, _, (report, _) = trained
    assert {p.name for p in out.iterdir()} == {"open_clip_config.json", "open_clip_model.safetensors", "training.json"}
    assert report["steps"] == report["scheduled_steps"] == 3 and np.isfinite(report["final_loss"])
    recorded = json.loads((out / "training.json").read_text())["train_config"]
    assert recorded["attribute_weights"] == TrainConfig().attribute_weights and recorded["n_images"] == 96
    assert min(recorded["attribute_weights"].values()) > 1  # the attributes with targets weigh more than the rest
    emb = create_embedder(f"local-dir:{out}")
    vectors = emb.embed_texts(["a sketch of a red dress"])
    assert vectors.shape == (1, 512) and np.isclose(np.linalg.norm(vectors), 1, atol=1e-3)


def test_training_is_seeded(trained):
    first, second, _ = trained
    a, b = load_file(str(first / "open_clip_model.safetensors")), load_file(str(second / "open_clip_model.safetensors"))
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_a_given_step_count_runs_across_epochs(tmp_path):
    report = train(TrainConfig(**{**TINY, "steps": 5}), tmp_path, log=lambda _: None)
    assert report["steps"] == report["scheduled_steps"] == 5  # 3 steps an epoch: the second epoch is cut at 5


def test_a_compiled_image_tower_trains_alike_and_saves_plain_weights(trained, tmp_path):
    """torch.compile wraps the image tower for training only: the file has the eager model's keys
    and loads; the first steps follow the eager run's closely (inductor reorders float sums)."""
    logs = []
    report = train(TrainConfig(**{**TINY, "compile": True}), tmp_path, log=logs.append)
    assert report["compiled"] is True, logs
    compiled, eager = load_file(str(tmp_path / "open_clip_model.safetensors")), \
        load_file(str(trained[0] / "open_clip_model.safetensors"))
    assert compiled.keys() == eager.keys()
    assert abs(report["final_loss"] - trained[2][0]["final_loss"]) < 0.05 * trained[2][0]["final_loss"]
    emb = create_embedder(f"local-dir:{tmp_path}")
    assert emb.embed_images([Image.new("RGB", (64, 64), "white")]).shape == (1, 512)


def test_the_step_count_is_fitted_to_the_time_left():
    assert fit_steps(56, pace=1.0, seconds_left=1000, most=5000) == 56 + 970  # 3% of the time kept in hand
    assert fit_steps(56, pace=0.5, seconds_left=1000, most=1500) == 1500  # never past the epochs' worth
    assert fit_steps(56, pace=2.0, seconds_left=-5, most=1500) == 56  # out of time: stop where it is


def test_training_falls_back_to_eager_where_compiling_fails(monkeypatch, tmp_path):
    import torch

    def no_compiler(module, *args, **kwargs):
        raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found\nmore detail")

    monkeypatch.setattr(torch, "compile", no_compiler)
    logs = []
    report = train(TrainConfig(**{**TINY, "compile": True}), tmp_path, log=logs.append)
    assert report["compiled"] is False and report["steps"] == 3
    assert any(m == "torch.compile failed (RuntimeError: InvalidCxxCompiler: No working C++ compiler found); "
                    "training eagerly" for m in logs), logs

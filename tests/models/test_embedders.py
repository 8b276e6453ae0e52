"""open_clip embedder on a tiny randomly initialised architecture: real code paths, no downloads."""
from __future__ import annotations


import numpy as np
import pytest
import torch

from bffkit.models import create_embedder, list_presets
from bffkit.stages.embed import embed_images_cached
from bffkit.exceptions import ConfigError, RequestError
from bffkit.generate import get_generator
from bffkit.stages.generate import run_generation
from bffkit.prompts import build_specs
from bffkit.store import open_store

@pytest.fixture
def sketches(workspace, tax):
    store = open_store(workspace)
    specs = build_specs("dress", 10, seed=1, taxonomy=tax, backend_options={"width": 64, "height": 64})
    store.save_prompt_job(job_id="j", run_id="r", round=1, user_id="u", backend="sketch", model=None, request="dress",
                          specs=specs)
    run_generation(store, "j", get_generator("sketch"), progress=False)
    return store, store.job_images("j").to_dict("records")


def test_file_and_local_dir_load_the_same_model(tiny_clip, sketches):
    weights, folder = tiny_clip
    store, rows = sketches
    paths = [store.workspace / r["path"] for r in rows]
    by_file = create_embedder(f"bff-tiny-clip@{weights}", batch_size=4)
    by_dir = create_embedder(f"local-dir:{folder}", batch_size=4)
    a, b = by_file.embed_images(paths), by_dir.embed_images(paths)
    assert a.shape == (10, 32) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(a, b)
    t1, t2 = by_file.embed_texts(["red dress", "blue coat"]), by_dir.embed_texts(["red dress", "blue coat"])
    np.testing.assert_array_equal(t1, t2)
    assert not np.allclose(t1[0], t1[1])
    assert by_file.forward_calls == 3 + 1  # 10 images in batches of 4, one text batch
    random_init = create_embedder("bff-tiny-clip@random").embed_images(paths[:2])
    assert not np.allclose(random_init, a[:2])  # the weights really were loaded


def test_embeddings_are_cached_by_sha_and_model(tiny_clip, sketches):
    weights, _ = tiny_clip
    store, rows = sketches
    emb = create_embedder(f"bff-tiny-clip@{weights}", batch_size=4)
    first = embed_images_cached(store, emb, rows)
    calls = emb.forward_calls
    again = embed_images_cached(store, emb, rows)
    assert emb.forward_calls == calls  # nothing embedded twice
    np.testing.assert_array_equal(first, again)
    assert store.table_counts()["image_embeddings"] == len({r["sha256"] for r in rows})
    assert set(store.table("image_embeddings")["model"]) == {emb.model_id}
    assert emb.model_id.startswith("bff-tiny-clip@tiny.safetensors#")


def test_bad_inputs_give_one_line(tiny_clip, tmp_path):
    weights, _ = tiny_clip
    emb = create_embedder(f"bff-tiny-clip@{weights}")
    with pytest.raises(RequestError, match="image not found: .*missing.png"):
        emb.embed_images([tmp_path / "missing.png"])
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(RequestError, match="notes.png: not an image file bffkit can read"):
        emb.embed_images([text])
    with pytest.raises(ConfigError, match=r"embed.model='ViT-B-23@openai': unknown model; did you mean .*ViT-B-32"):
        create_embedder("ViT-B-23@openai")
    with pytest.raises(ConfigError, match=r"name the weights as ViT-B-32@TAG.*tags: openai"):
        create_embedder("ViT-B-32")
    with pytest.raises(ConfigError, match="unknown pretrained tag 'laion9b'"):
        create_embedder("ViT-B-32@laion9b")
    with pytest.raises(ConfigError, match="weights file not found"):
        create_embedder(f"bff-tiny-clip@{tmp_path / 'nope.safetensors'}")
    with pytest.raises(ConfigError, match="no open_clip_config.json"):
        create_embedder(f"local-dir:{tmp_path}")
    assert "vit-b-32-laion2b" in list_presets()


@pytest.mark.slow
def test_vit_b_32_architecture_with_random_weights(sketches):
    store, rows = sketches
    emb = create_embedder("ViT-B-32@random", batch_size=8)
    out = emb.embed_images([store.workspace / r["path"] for r in rows[:4]])
    assert out.shape == (4, 512)

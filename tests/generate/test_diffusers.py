"""The diffusers backend on tiny random pipelines, saved and loaded like real checkpoints."""
from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from bffkit.exceptions import ConfigError
from bffkit.generate import get_generator
from bffkit.stages.generate import run_generation
from bffkit.prompts import build_specs
from bffkit.store import open_store

from ..conftest import TINY
from ..tiny_models import build_tiny_sd_pipeline

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def tiny_sd(tmp_path_factory):
    return build_tiny_sd_pipeline(tmp_path_factory.mktemp("models") / "tiny-sd")


@pytest.fixture(scope="session")
def tiny_turbo(tmp_path_factory):
    return build_tiny_sd_pipeline(tmp_path_factory.mktemp("models") / "tiny-sd-turbo", turbo=True)


def options(path, **kw):
    return {"model": str(path), "steps": 2, "guidance": 7.5, "width": 64, "height": 64, **kw}


class Spy:
    """Wraps a pipeline and records the keyword arguments of each call."""

    def __init__(self, pipe):
        self.pipe, self.calls = pipe, []

    def __call__(self, **kwargs):
        self.calls.append(kwargs)
        return self.pipe(**kwargs)


def images(gen, specs):
    return {r.spec_index: np.asarray(r.image) for r in gen.generate(specs)}


def test_loads_through_from_pretrained_and_is_seeded_per_image(tiny_sd, tax):
    opts = options(tiny_sd)
    gen = get_generator("diffusers", batch_size=2, **opts)
    assert (gen.device, str(gen.dtype)) == ("cpu", "torch.float32")  # fp16 only on cuda
    specs = build_specs("red dress", 3, seed=4, taxonomy=tax, backend="diffusers", backend_options=opts)
    gen.pipe = spy = Spy(gen.pipe)
    first, again = images(gen, specs), images(gen, specs)
    assert all(a.shape == (64, 64, 3) for a in first.values())
    assert all(np.array_equal(first[i], again[i]) for i in first)  # same seeds, same images
    assert not np.array_equal(first[0], first[1])  # one generator per image, own seed
    call = spy.calls[0]
    assert len(call["generator"]) == len(call["prompt"]) == 2  # batched
    assert call["negative_prompt"][0] == specs[0].negative_prompt
    assert (call["num_inference_steps"], call["guidance_scale"], call["width"]) == (2, 7.5, 64)
    assert call["generator"][0].initial_seed() == specs[0].seed


def test_turbo_models_get_guidance_zero_few_steps_and_no_negative(tiny_turbo, tax):
    opts = options(tiny_turbo, steps=8)
    specs = build_specs("blue coat", 2, seed=1, taxonomy=tax, backend="diffusers", backend_options=opts)
    assert specs[0].params["guidance_scale"] == 0.0 and specs[0].params["num_inference_steps"] == 4
    gen = get_generator("diffusers", **opts)
    gen.pipe = spy = Spy(gen.pipe)
    assert len(images(gen, specs)) == 2
    assert "negative_prompt" not in spy.calls[0] and spy.calls[0]["guidance_scale"] == 0.0


def test_a_job_with_the_diffusers_backend(tiny_sd, tmp_path, workspace, cli):
    cfg = yaml.safe_load(TINY.read_text())
    cfg["rounds"] = 1
    cfg["generate"].update(target_count=3, overgeneration=2, backend="diffusers",
                           diffusers={"model": str(tiny_sd), "steps": 2, "width": 64, "height": 64, "batch_size": 4})
    path = tmp_path / "sd.yaml"
    path.write_text(yaml.safe_dump(cfg))
    code, out, err = cli("run", "--no-notebooks", "--config", path, "--workspace", workspace, "--json")
    assert code == 0, err
    gen = json.loads(out)["rounds"][0]["generation"]
    assert (gen["status"], gen["n_done"]) == ("done", 6)
    rows = open_store(workspace).job_images(gen["job_id"])
    assert set(rows["backend"]) == {"diffusers"} and set(rows["width"]) == {64}
    assert rows.iloc[0]["metadata"]["steps"] == 2


def test_missing_or_wrong_model_paths_fail_with_one_line(tmp_path):
    with pytest.raises(ConfigError, match=r"generate.diffusers.model='/no/such/model': no such local path"):
        get_generator("diffusers", model="/no/such/model")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="not a diffusers pipeline folder"):
        get_generator("diffusers", model=str(tmp_path / "empty"))


def test_a_resumed_diffusers_job_completes(tiny_sd, workspace, tax):
    opts = options(tiny_sd)
    store = open_store(workspace)
    specs = build_specs("green skirt", 4, seed=2, taxonomy=tax, backend="diffusers", backend_options=opts)
    store.save_prompt_job(job_id="j", run_id="r", round=1, user_id="u", backend="diffusers", model=str(tiny_sd),
                          request="green skirt", specs=specs)

    class StopsEarly:
        name, model = "diffusers", str(tiny_sd)

        def __init__(self):
            self.inner = get_generator("diffusers", batch_size=1, **opts)

        def generate(self, pending):
            for n, result in enumerate(self.inner.generate(pending)):
                if n == 2:
                    raise KeyboardInterrupt
                yield result

    with pytest.raises(KeyboardInterrupt):
        run_generation(store, "j", StopsEarly(), progress=False)
    assert store.job("j")["status"] == "partial" and len(store.job_images("j")) == 2
    result = run_generation(store, "j", get_generator("diffusers", **opts), progress=False)
    assert (result.status, result.n_new, result.n_done) == ("done", 2, 4)

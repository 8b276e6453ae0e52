from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import yaml
from PIL import Image

from bffkit.exceptions import ConfigError
from bffkit.generate import ImageResult, get_generator
from bffkit.stages.generate import run_generation
from bffkit.prompts import build_specs
from bffkit.registry import available_generators
from bffkit.store import open_store

from ..conftest import ROOT, TINY


def plan(store, specs, job_id="job", user="u"):
    store.save_prompt_job(job_id=job_id, run_id="run", round=1, user_id=user, backend="sketch", model=None,
                          request="r", specs=specs)
    return job_id


def check_workspace(store, job_id, planned):
    """Every spec stored exactly once; every row's file exists with its sha; no stray files."""
    rows = store.job_images(job_id)
    assert len(rows) == planned
    assert rows["spec_index"].is_unique and rows["id"].is_unique
    referenced = set()
    for _, row in rows[rows["status"] == "ok"].iterrows():
        data = (store.workspace / row["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == row["sha256"]
        referenced.add(row["path"])
    on_disk = {str(p.relative_to(store.workspace)) for p in store.images_dir.rglob("*.png")}
    assert on_disk == referenced
    assert not list(store.images_dir.rglob("*.part"))


def test_generation_stores_images_rows_and_metadata(workspace, tax):
    store = open_store(workspace)
    specs = build_specs("floral midi dress", 20, seed=3, taxonomy=tax, backend_options={"width": 64, "height": 64})
    job = plan(store, specs)
    result = run_generation(store, job, get_generator("sketch", defect_rate=0.5), progress=False)
    assert (result.status, result.n_done, result.n_new, result.n_failed) == ("done", 20, 20, 0)
    check_workspace(store, job, 20)
    rows = store.job_images(job)
    first = rows.iloc[0]
    assert first["backend"] == "sketch" and first["model"] == "sketch-v6"
    assert (first["width"], first["height"]) == (64, 64)
    assert first["vlt_attributes"] == specs[0].attributes
    assert first["prompt"] == specs[0].prompt and first["seed"] == specs[0].seed
    metas = list(rows["metadata"])
    assert any(m["defect"] for m in metas) and any(m["defect"] is None for m in metas)
    j = store.job(job)
    assert (j["status"], j["n_done"], j["n_failed"]) == ("done", 20, 0)
    # a rerun makes nothing twice
    again = run_generation(store, job, get_generator("sketch"), progress=False)
    assert (again.status, again.n_new) == ("done", 0)
    check_workspace(store, job, 20)


class FlakyGenerator:
    """Fails some specs for good, some transiently, and one image is not an image at all."""

    name, model = "flaky", "flaky-1"

    def __init__(self, transient=True):
        self.transient = transient

    def generate(self, specs):
        for s in specs:
            if s.index == 1:
                yield ImageResult(s.index, error="refused: content policy", permanent=True)
            elif s.index in (2, 3) and self.transient:
                yield ImageResult(s.index, error="server error 500", permanent=False)
            else:
                yield ImageResult(s.index, image=Image.new("RGB", (8, 8), (s.index, 0, 0)))


def test_permanent_failures_are_recorded_and_transient_ones_resume(workspace, tax):
    store = open_store(workspace)
    job = plan(store, build_specs("coat", 6, seed=1, taxonomy=tax))
    first = run_generation(store, job, FlakyGenerator(), progress=False)
    assert (first.status, first.n_done, first.n_failed, first.last_error) == ("partial", 3, 1, "server error 500")
    failed = store.job_images(job).set_index("spec_index").loc[1]
    assert failed["status"] == "failed" and failed["error"] == "refused: content policy"
    assert store.job(job)["status"] == "partial"
    second = run_generation(store, job, FlakyGenerator(transient=False), progress=False)
    assert (second.status, second.n_done, second.n_failed, second.n_new) == ("done", 5, 1, 2)
    check_workspace(store, job, 6)


def test_a_backend_crash_leaves_a_resumable_partial_job(workspace, tax):
    class Crashing:
        name, model = "crash", None

        def generate(self, specs):
            yield from get_generator("sketch").generate(specs[:3])
            raise RuntimeError("GPU fell off the bus")

    store = open_store(workspace)
    job = plan(store, build_specs("shirt", 8, seed=2, taxonomy=tax, backend_options={"width": 32, "height": 32}))
    with pytest.raises(RuntimeError):
        run_generation(store, job, Crashing(), progress=False)
    assert store.job(job)["status"] == "partial" and len(store.job_images(job)) == 3
    assert run_generation(store, job, get_generator("sketch"), progress=False).status == "done"
    check_workspace(store, job, 8)


@pytest.mark.slow
def test_kill_9_at_any_moment_then_rerun_gives_exactly_the_planned_images(tmp_path, workspace):
    cfg = yaml.safe_load(TINY.read_text())
    cfg["rounds"] = 1
    cfg["generate"].update(target_count=120, overgeneration=2, sketch={"width": 128, "height": 128})
    path = tmp_path / "big.yaml"
    path.write_text(yaml.safe_dump(cfg))
    cmd = [os.path.join(os.path.dirname(sys.executable), "bffkit"), "generate", "--config", str(path),
           "--workspace", str(workspace), "--quiet"]
    store = None
    kills = 0
    for delay in (1.2, 1.6, 2.0, 2.4):
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
    assert kills >= 2, "the job finished before it could be killed; make it bigger"
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    store = open_store(workspace)
    jobs = store.jobs()
    assert len(jobs) == 1 and jobs.loc[0, "status"] == "done"
    check_workspace(store, jobs.loc[0, "id"], 240)
    assert store.table_counts()["generated_images"] == 240


def test_unknown_backend_lists_the_available_ones():
    with pytest.raises(ConfigError, match="unknown backend 'midjourney'; available: sketch, diffusers, openai"):
        get_generator("midjourney")


def test_third_party_backend_through_the_entry_point_group(tmp_path, monkeypatch, workspace, tax):
    # a minimal installed distribution: a module plus dist-info declaring the entry point
    (tmp_path / "bff_plugin.py").write_text(textwrap.dedent("""
        from PIL import Image
        from bffkit.generate import ImageResult

        class Solid:
            name = "solid-plugin"
            def __init__(self, shade=90, **options):
                self.model, self.shade = f"solid-{shade}", shade
            def generate(self, specs):
                for s in specs:
                    yield ImageResult(s.index, image=Image.new("RGB", (16, 16), (self.shade,) * 3))
    """))
    dist = tmp_path / "bff_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: bff-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[bffkit.generators]\nsolid-plugin = bff_plugin:Solid\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "solid-plugin" in available_generators()
    gen = get_generator("solid-plugin", shade=42)
    store = open_store(workspace)
    job = plan(store, build_specs("dress", 3, taxonomy=tax))
    assert run_generation(store, job, gen, progress=False).status == "done"
    assert set(store.job_images(job)["model"]) == {"solid-42"}
    # and the config accepts the plug-in's name
    from bffkit.config import RunConfig

    assert RunConfig(request="dress", generate={"backend": "solid-plugin"}).generate.backend == "solid-plugin"


def test_cli_generate_and_resume(cli, workspace):
    code, out, err = cli("generate", "--config", TINY, "--workspace", workspace, "--quiet", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert [r["generation"]["status"] for r in doc["rounds"]] == ["done", "done"]
    job_id = doc["rounds"][0]["job_id"]
    code, out, _ = cli("generate", "--config", TINY, "--workspace", workspace, "--resume", job_id, "--quiet", "--json")
    assert code == 0 and json.loads(out)["n_new"] == 0
    code, _, err = cli("generate", "--config", TINY, "--workspace", workspace, "--resume", "nope")
    assert code == 2 and err.startswith("error: no generation job 'nope'")
    code, _, err = cli("generate", "--config", TINY, "--workspace", workspace, "--backend", "dalle")
    assert code == 2
    assert err == 'error: tiny.yaml: generate.backend="dalle": unknown backend; available: sketch, diffusers, openai\n'

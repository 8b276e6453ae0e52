from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

# One BLAS / torch thread per process, here and in every job, kernel and server a test starts (set
# before numpy loads): on this 2-core machine a 2-thread main job is slower (`bench loop`: 23 s
# against 31 s), and jobs side by side then share the cores. Benchmarks pin their own threads.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
# Tests never download: the hub fails at once instead of retrying a network that is not there
# (read when huggingface_hub is imported, so before bffkit is)
os.environ["HF_HUB_OFFLINE"] = "1"

from bffkit.cli import main  # noqa: E402
from bffkit.taxonomy import load_taxonomy  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
TINY = ROOT / "data" / "configs" / "tiny.yaml"
DEMO = ROOT / "data" / "configs" / "demo.yaml"

# Tests never reach a real API, whatever the developer's shell holds.
os.environ.pop("OPENAI_API_KEY", None)


@pytest.fixture(scope="session")
def tax():
    return load_taxonomy()


@pytest.fixture
def workspace(tmp_path) -> Path:
    return tmp_path / "ws"


@pytest.fixture
def cli(capsys):
    """Run the CLI in-process: returns (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


TINY_CLIP = {"embed_dim": 32,
             "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "head_width": 32, "patch_size": 8},
             "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2}}


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory):
    """(weights file, local-dir folder with its calibration) for a tiny random open_clip model."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    from bffkit.models.embedders import register_model_config

    root = tmp_path_factory.mktemp("clip")
    (root / "bff-tiny-clip.json").write_text(json.dumps(TINY_CLIP))
    register_model_config(root / "bff-tiny-clip.json")
    torch.manual_seed(0)
    model = open_clip.create_model("bff-tiny-clip")
    weights = root / "tiny.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
    folder = root / "tiny-dir"
    folder.mkdir()
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": TINY_CLIP}))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "open_clip_model.safetensors"))
    # the folder carries its calibration, as a trained model's does: runs on it do not fit one each
    from dataclasses import asdict

    from bffkit.models import create_embedder
    from bffkit.scoring import calibrate_alignment

    calibration = calibrate_alignment(create_embedder(f"local-dir:{folder}"))
    (folder / "calibration.json").write_text(json.dumps(asdict(calibration)))
    return weights, folder


def round_tables(ws) -> dict:
    """Every row of the rounds' own results (variants left out), the run-metrics table and the run."""
    from bffkit.store import open_store

    store = open_store(ws)
    own = {"dpp_selection_results": "variant IS NULL", "cluster_results": "variant IS NULL",
           "cluster_assignments": "result_id LIKE '%-clusters'"}
    with store.connect() as con:
        return {t: con.execute(f"SELECT * FROM {t} WHERE {own.get(t, 'true')}").df().to_json(date_format="iso")
                for t in ("dpp_selection_results", "cluster_results", "cluster_assignments", "coverage_reports",
                          "run_metrics", "runs")}

"""Stages 4-6 in the main job: clustering, selection and coverage stored per round, boosts fed forward."""
from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from bffkit.store import open_store

from ..conftest import TINY


def tiny_with_model(tmp_path, folder, **overrides):
    data = yaml.safe_load(TINY.read_text())
    data["embed"] = {"model": f"local-dir:{folder}"}
    data.update(overrides)
    path = tmp_path / "tiny-model.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.slow  # an end-to-end run
def test_main_job_clusters_selects_and_reports_coverage(cli, workspace, tmp_path, tiny_clip):
    _, folder = tiny_clip
    config = tiny_with_model(tmp_path, folder)
    code, out, err = cli("run", "--no-notebooks", "--config", config, "--workspace", workspace, "--json")
    assert code == 0, err
    rounds = json.loads(out)["rounds"]
    assert "round 1 · cluster: K=" in err and "round 2 · select: 8 of 16" in err and "round 2 · coverage" in err
    store = open_store(workspace)
    results = store.table("cluster_results")
    assert len(results) == 2 and set(results["num_clusters"]) <= {3, 4}
    metrics = results.loc[0, "metrics"]
    assert set(metrics["silhouette"]) == {"3", "4"}
    assert len(store.table("cluster_assignments")) == 32
    profiles = store.table("style_profiles")
    assert profiles.groupby("result_id").size().tolist() == results.sort_values("id")["num_clusters"].tolist()
    assert profiles["medoid_image_id"].notna().all() and (profiles["name"].str.len() > 0).all()
    success = store.table("style_profile_success")
    assert success["total_gens"].sum() == 32
    sel = store.table("dpp_selection_results").sort_values("round")
    assert sel["k"].tolist() == [8, 8] and [len(s) for s in sel["selected_ids"]] == [8, 8]
    assert (sel["vendi_score"] > 1).all() and sel["theta"].tolist() == [0.7, 0.7]
    # selected ids belong to their round's job
    for job_id, ids in zip(sel["batch_id"], sel["selected_ids"]):
        assert all(i.startswith(job_id) for i in ids)
    reports = store.table("coverage_reports").sort_values("round")
    assert reports["round"].tolist() == [1, 2] and reports["score"].between(0, 1).all()
    summary = store.table("coverage_summary_view")
    assert len(summary) == 1 and summary.loc[0, "reports"] == 2
    gaps = store.table("attribute_gaps")
    assert len(gaps) > 0 and set(gaps["severity"]) <= {"critical", "high", "medium", "low"}
    # the request fixes colour and length: they are never gaps
    assert not set(gaps["attribute"]) & {"primary_color", "length", "category"}
    # round 1's gaps became round 2's boosts
    boosts = rounds[0]["coverage"]["boosts"]
    assert boosts and all(f > 1 for values in boosts.values() for f in values.values())
    # a rerun replaces, never duplicates
    code, _, _ = cli("run", "--no-notebooks", "--config", config, "--workspace", workspace)
    assert code == 0
    counts = store.table_counts()
    assert counts["cluster_results"] == 2 and counts["cluster_assignments"] == 32
    assert counts["dpp_selection_results"] == 2 and counts["coverage_reports"] == 2


def test_selection_leaves_out_likely_artefacts_off_prompt_images_and_duplicates():
    from bffkit.stages.round_data import RoundData

    n = 5
    data = RoundData(job_id="j", round=1, run_id=None, model_id="m", image_ids=[str(i) for i in range(n)],
                     X=np.eye(n, dtype=np.float32), detected=[{}] * n, requested=[{}] * n, quality=np.ones(n),
                     alignment=np.array([0.9, 0.3, np.nan, 0.6, 0.5]),
                     artefact=np.array([0.1, 0.1, 0.1, 0.7, np.nan]), defects=[None] * n, alignment_gate=0.5)
    # 1: off its prompt, 3: an artefact; no score (NaN) keeps an image, 0.5 is on the prompt
    assert data.selectable.tolist() == [True, False, True, False, True]
    data.alignment_gate = None  # the model's alignment cannot tell: only artefacts are left out
    assert data.selectable.tolist() == [True, True, True, False, True]
    data.artefact = None
    assert data.selectable.all()
    data.duplicate_of = [None, "0", None, None, "2"]  # exact or near copies of a kept image: left out
    assert data.selectable.tolist() == [True, False, True, True, False]


def test_alignment_gates_selection_only_where_the_model_separates_prompts(cli, workspace, tmp_path, tiny_clip):
    from bffkit.scoring import ALIGNMENT_GATE
    from bffkit.stages.round_data import load_round

    _, folder = tiny_clip
    code, out, err = cli("run", "--no-notebooks", "--config", tiny_with_model(tmp_path, folder, rounds=1),
                         "--workspace", workspace, "--json")
    assert code == 0, err
    store = open_store(workspace)
    job, model = json.loads(out)["rounds"][0]["job_id"], store.latest_tag_model()
    row = store.get_calibration(model)
    a, b = row["a"], row["b"]
    stored = {"model_id": row["model"], **{k: v for k, v in row.items() if k != "model"}}
    at_09 = (np.log(9) - b) / a  # the cosine the model's alignment maps to 0.9
    # (match AUC, near-miss line and AUC) -> gate: none, other prompts only, near misses too
    for match_auc, near, gate in ((0.79, (at_09, 0.79), None), (0.8, (at_09, 0.79), ALIGNMENT_GATE),
                                  (0.8, (at_09, 0.8), 0.9)):
        store.put_calibration(**{**stored, "match_auc": match_auc, "near_miss_cos": near[0], "near_miss_auc": near[1]})
        data = load_round(store, job, model)
        assert data.alignment_gate == (None if gate is None else pytest.approx(gate))
        expected = (~(data.artefact >= 0.5) & (True if gate is None else ~(data.alignment < data.alignment_gate))
                    & np.array([d is None for d in data.duplicate_of]))
        assert data.selectable.tolist() == expected.tolist()


def test_stages_need_embeddings_first(workspace, tax):
    import pytest

    from bffkit.exceptions import StageError
    from bffkit.generate import get_generator
    from bffkit.stages.generate import run_generation
    from bffkit.prompts import build_specs
    from bffkit.stages.round_data import load_round

    store = open_store(workspace)
    specs = build_specs("dress", 3, seed=1, taxonomy=tax, backend_options={"width": 64, "height": 64})
    store.save_prompt_job(job_id="j", run_id="r", round=1, user_id="u", backend="sketch", model=None,
                          request="dress", specs=specs)
    with pytest.raises(StageError, match="no generated images"):
        load_round(store, "j", "m")
    run_generation(store, "j", get_generator("sketch"), progress=False)
    with pytest.raises(StageError, match="3 image.s. not embedded and tagged with m.*run the embed stage"):
        load_round(store, "j", "m")

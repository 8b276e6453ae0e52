"""A finished run is history (issue 33): exploring a past round from a notebook stores variants beside it."""

from __future__ import annotations

import pytest

from bffkit import workbench as wb
from bffkit.cli import main
from bffkit.exceptions import ConfigError, StageError
from bffkit.explorers import entered_and_left
from bffkit.store import open_store

from .conftest import TINY, round_tables as tables


pytestmark = pytest.mark.slow  # a main job first


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A workspace holding one finished tiny run (each test compares the tables before and after itself)."""
    ws = tmp_path_factory.mktemp("history") / "ws"
    assert main(["run", "--no-notebooks", "--config", str(TINY), "--workspace", str(ws)]) == 0
    return ws


def test_a_knob_on_a_past_round_stores_a_variant_and_leaves_the_round_unchanged(finished):
    before = tables(finished)
    ctx = wb.open_for_notebook(str(TINY), str(finished), "", stages=("select",), theta=0.2)
    job = ctx.job_id(1)
    assert ctx.run_id == open_store(finished).latest_run_id()  # run_id left empty: the latest run
    out = wb.run(ctx, "select", 1)
    assert out["variant"].startswith("v") and "a variant" in out["message"]
    assert tables(finished) == before  # byte for byte: the round's own selection, metrics and status
    variants = [s for s in ctx.store.selections(job) if isinstance(s["variant"], str)]
    assert len(variants) == 1 and variants[0]["theta"] == 0.2
    assert variants[0]["metrics"]["parent"] == f"{job}-dpp" and variants[0]["metrics"]["parameters"]["theta"] == 0.2
    # the same for a clustering with another K range
    ctx = wb.open_for_notebook(str(TINY), str(finished), "", stages=("cluster",), k_max=3)
    wb.run(ctx, "cluster", 1)
    assert tables(finished) == before
    assert [isinstance(c["variant"], str) for c in ctx.store.clusterings(job)] == [False, True]


def test_a_stage_that_cannot_explore_says_so_in_one_line(finished):
    before = tables(finished)
    ctx = wb.open_for_notebook(str(TINY), str(finished), "", stages=("coverage",), default_target=0.2)
    with pytest.raises(StageError, match="round 1 of run .* is finished and its coverage stage ran under other"):
        wb.run(ctx, "coverage", 1)
    assert tables(finished) == before
    # what a notebook shows for it: the one line, no traceback into bffkit
    err = StageError("round 1 is finished")
    assert err._render_traceback_() == ["StageError: round 1 is finished"]
    assert ConfigError("x: bad")._render_traceback_() == ["ConfigError: x: bad"]


def test_the_latest_run_opens_with_its_own_config_and_resumes(finished):
    ctx = wb.open_for_notebook(str(TINY), str(finished), "", stages=("select",))
    out = wb.run(ctx, "select", 1)
    assert out.get("resumed") and "variant" not in out  # the same settings: the stored result


def test_the_main_job_under_other_settings_leaves_a_finished_run_alone(finished, cli, tmp_path):
    import yaml

    before = tables(finished)
    changed = yaml.safe_load(TINY.read_text())
    changed["coverage"] = {"default_target": 0.2}
    (tmp_path / "changed.yaml").write_text(yaml.safe_dump(changed))
    run_id = open_store(finished).latest_run_id()
    code, _, err = cli("run", "--no-notebooks", "--config", tmp_path / "changed.yaml", "--workspace", finished,
                       "--run-id", run_id)
    assert code == 1 and err.strip().splitlines()[-1].startswith("error: round 1 of run"), err
    assert "Traceback" not in err and tables(finished) == before  # still done, nothing rewritten


def test_the_k_explorer_starts_at_the_stored_clustering_and_redraws_one_map_in_place(finished):
    ctx = wb.open_for_notebook(str(TINY), str(finished), "", stages=("cluster",))
    job = ctx.job_id(1)
    stored = ctx.store.clustering(job)
    explorer = wb.kmeans_explorer(ctx, 1)
    k = int(stored["num_clusters"])
    assert explorer.slider.value == k and not explorer.slider.continuous_update  # a drag sends where it stops
    # the stage's own numbers at the stored K: its silhouette sample, labels and profile names
    labels, sil, names, _ = explorer.at(k)
    assert sil == pytest.approx(stored["metrics"]["silhouette"][str(k)])
    data = ctx.round_data(1)
    assert labels.tolist() == ctx.store.cluster_labels(job, data.image_ids).tolist()
    assert sorted(names.values()) == sorted(p["name"] for p in ctx.store.style_profiles(job))
    figure = explorer.map.figure
    legend = {t.name.rsplit(" (", 1)[0] for t in figure.data if t.showlegend}
    assert legend == set(names.values())  # named profiles, not "cluster 0..11"
    ringed = sum(w == 2 for t in figure.data for w in (t.marker.line.width or ()))
    assert ringed == len(ctx.store.selection(job)["selected_ids"])  # the selected images ringed
    # 50 moves: the same widget, every image still drawn, the title says which K
    for step in range(50):
        explorer.slider.value = 2 + step % (explorer.slider.max - 1)
        assert explorer.map.figure is figure and sum(len(t.x) for t in figure.data) == len(data)
        assert figure.layout.title.text.startswith(f"K={explorer.slider.value}")
    assert {type(t).__name__ for t in figure.data} == {"Scatter"}  # SVG: no WebGL context per map
    # hovering a point shows its image beside the map
    trace = next(i for i, t in enumerate(figure.data) if len(t.x))
    explorer.map._on_hover(None, type("Points", (), {"point_inds": [0], "trace_index": trace})(), None)
    assert explorer.map.thumb.value[:4] == b"RIFF"  # a WebP
    # keep, then adopt: a variant, then the round's clustering
    explorer.slider.value = 3
    assert explorer.keep_variant() == "k3-3" and ctx.store.clustering(job, "k3-3")["num_clusters"] == 3
    assert ctx.store.clustering(job)["variant"] != "k3-3"  # kept is not adopted
    explorer.adopt_variant()
    assert ctx.store.clustering(job)["variant"] == "k3-3" and explorer.stored_k == 3
    wb.adopt(ctx, "cluster", 1, "own")


def test_the_theta_explorer_reproduces_the_stored_selection_and_shows_what_enters_and_leaves(finished):
    ctx = wb.open_for_notebook(str(TINY), str(finished), "", stages=("select",))
    job = ctx.job_id(1)
    row = ctx.store.selection(job)
    explorer = wb.theta_explorer(ctx, 1)
    assert explorer.slider.value == pytest.approx(row["theta"])
    sel, _ = explorer.at(row["theta"])  # round 1 had no preference head: the stage's quality
    assert [explorer.data.image_ids[i] for i in sel.indices] == row["selected_ids"]
    assert f"Vendi {row['vendi_score']:.2f}, mean quality {row['mean_quality']:.3f}" in explorer.status.value
    assert "same images as the stored selection" in explorer.changes.value
    explorer.slider.value = 0.0
    sel0, _ = explorer.at(0.0)
    entered, left = entered_and_left(explorer.stored, sel0.indices)
    assert len(entered) == len(left) > 0  # the same k: as many in as out
    assert f"{len(entered)} entered against the stored selection" in explorer.changes.value
    assert f"{len(left)} entered (green), {len(left)} left" in explorer.map.figure.layout.title.text
    assert explorer.keep_variant().startswith("t0-k") and ctx.store.selection(job)["id"] == row["id"]


def test_adopting_a_variant_makes_it_current_records_it_and_rewrites_nothing(finished, cli):
    from bffkit.history import variants

    ctx = wb.open_for_notebook(str(TINY), str(finished), "", stages=("select",), theta=0.1)
    job = ctx.job_id(1)
    variant = wb.run(ctx, "select", 1)["variant"]
    before = tables(finished)
    # the CLI lists what is stored; an unknown variant or stage is one line naming what is
    code, out, _ = cli("variants", "--round", "1", "--stage", "select", "--workspace", finished)
    assert code == 0 and variant in out and "own" in out
    code, _, err = cli("adopt", "nope", "--round", "1", "--stage", "select", "--workspace", finished)
    assert code == 2 and "variant='nope': no such select result" in err and variant in err and "Traceback" not in err
    code, _, err = cli("adopt", variant, "--round", "9", "--stage", "select", "--workspace", finished)
    assert code == 2 and "round=9" in err
    code, out, err = cli("adopt", variant, "--round", "1", "--stage", "select", "--note", "more diverse",
                         "--workspace", finished)
    assert code == 0, err
    current = ctx.store.selection(job)
    assert current["variant"] == variant and current["theta"] == 0.1
    assert ctx.store.selected_indices(job, ctx.round_data(1).image_ids).tolist() != []
    assert tables(finished) == before  # the stage's own result is still there, byte for byte
    [record] = [a for a in ctx.store.adoptions(job) if a["stage"] == "select"]
    assert (record["stage"], record["variant"], record["note"], record["n"]) == ("select", variant, "more diverse", 1)
    listed = variants(ctx.store, job, "select").set_index("variant")
    assert listed.loc[variant, "current"] and not listed.loc["own", "current"]
    # what reads the round goes through the adopted one: the image listing's `selected`, the page
    chosen = set(current["selected_ids"])
    _, page = ctx.store.image_page(run_id=ctx.run_id, round=1, selected=True, limit=1000)
    assert {r["id"] for r in page} == chosen
    html_page = "".join(x for x in wb.select_view(ctx, 1) if isinstance(x, str))
    assert f"Adopted variant {variant}" in html_page and "more diverse" in html_page
    # `own` undoes it, as a second record
    wb.adopt(ctx, "select", 1, "own")
    assert not isinstance(ctx.store.selection(job)["variant"], str) and len([a for a in ctx.store.adoptions(job) if a["stage"] == "select"]) == 2
    assert tables(finished) == before

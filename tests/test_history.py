"""A finished run is history (issue 33): exploring a past round from a notebook stores variants beside it."""

from __future__ import annotations

import pytest

from bffkit import workbench as wb
from bffkit.cli import main
from bffkit.exceptions import ConfigError, StageError
from bffkit.store import open_store

from .conftest import TINY


pytestmark = pytest.mark.slow  # a main job first


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A workspace holding one finished tiny run (each test compares the tables before and after itself)."""
    ws = tmp_path_factory.mktemp("history") / "ws"
    assert main(["run", "--no-notebooks", "--config", str(TINY), "--workspace", str(ws)]) == 0
    return ws


def tables(ws) -> dict:
    """Every row of the rounds' own results (variants left out), the run-metrics table and the run."""
    store = open_store(ws)
    own = {"dpp_selection_results": "variant IS NULL", "cluster_results": "variant IS NULL",
           "cluster_assignments": "result_id LIKE '%-clusters'"}
    with store.connect() as con:
        return {t: con.execute(f"SELECT * FROM {t} WHERE {own.get(t, 'true')}").df().to_json(date_format="iso")
                for t in ("dpp_selection_results", "cluster_results", "cluster_assignments", "coverage_reports",
                          "run_metrics", "runs")}


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


def test_the_explorers_start_from_the_stored_k_and_theta_on_an_svg_map(finished):
    from bffkit import figures as fg

    ctx = wb.open_for_notebook(str(TINY), str(finished), "", stages=("cluster", "select"))
    job = ctx.job_id(1)
    k_slider = wb.kmeans_explorer(ctx, 1).children[0]
    assert k_slider.value == ctx.store.clustering(job)["num_clusters"]
    theta_slider = wb.theta_explorer(ctx, 1).children[0]
    assert theta_slider.value == ctx.store.selection(job)["theta"]
    # SVG, not one WebGL context per redraw, at the sizes a round has
    data = ctx.round_data(1)
    fig = fg.embedding_map(fg.project_2d(data.X), ctx.store.cluster_labels(job, data.image_ids))
    assert {t.type for t in fig.data} == {"scatter"}


def test_adopting_a_variant_makes_it_current_records_it_and_rewrites_nothing(finished, cli):
    from bffkit.history import variants

    ctx = wb.open_for_notebook(str(TINY), str(finished), "", stages=("select",), theta=0.1)
    job = ctx.job_id(1)
    variant = wb.run(ctx, "select", 1)["variant"]
    own = ctx.store.selection(job)
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
    [record] = ctx.store.adoptions(job)
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
    assert not isinstance(ctx.store.selection(job)["variant"], str) and len(ctx.store.adoptions(job)) == 2
    assert tables(finished) == before

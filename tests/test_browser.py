"""A real browser: JupyterLab on 127.0.0.1, Debian's chromium driven by Playwright (no browser
download): the K explorer moved 50 times, a θ changed in the select notebook, 👍 clicked in the
feedback grid; the click reaches the store and the explored round stays as it was."""
from __future__ import annotations

import time

import pytest
import yaml

from bffkit.bench.browser import (CHROMIUM_ARGS, CLICK_JS, POINTS_JS, chromium, jupyterlab, k_title, moves,
                                  notebook_copy, open_and_run_all, summary, time_steps)
from bffkit.store import open_store

from .conftest import ROOT, TINY, round_tables

CHROMIUM = chromium()
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (make test installs it)")]


@pytest.fixture
def lab(tmp_path, tiny_clip, cli):
    """A workspace with round 1 finished, copies of the cluster, select and feedback notebooks pointing at it
    (select with θ changed in its parameters cell, run_id left empty), JupyterLab serving them."""
    workspace = tmp_path / "ws"
    data = yaml.safe_load(TINY.read_text())
    data.update(embed={"model": f"local-dir:{tiny_clip[1]}"}, feedback={"source": "none"}, rounds=1)
    config = tmp_path / "browser.yaml"
    config.write_text(yaml.safe_dump(data))
    code, _, err = cli("run", "--config", config, "--workspace", workspace, "--no-notebooks")
    assert code == 0, err
    root = tmp_path / "lab"
    root.mkdir()
    common = dict(config_path=str(config), workspace=str(workspace))
    notebook_copy("04_cluster.ipynb", root / "cluster.ipynb", **common)
    notebook_copy("05_select.ipynb", root / "select.ipynb", theta=0.3, **common)
    notebook_copy("07_feedback.ipynb", root / "feedback.ipynb", **common)
    with jupyterlab(root, cwd=ROOT) as url:
        yield url, workspace


def errors_on_page(page) -> list[str]:
    return page.locator(".jp-RenderedText[data-mime-type='application/vnd.jupyter.stderr']:has-text('Error')"
                        ).all_inner_texts()


def test_explore_and_click_in_jupyterlab_stores_feedback_and_leaves_the_round_unchanged(lab):
    from playwright.sync_api import sync_playwright

    url, workspace = lab
    store = open_store(workspace)
    assert store.feedback().empty
    before = round_tables(workspace)
    before.pop("run_metrics")  # the feedback notebook's click appends its own metrics row; results must not change
    job = store.latest_run_id() + "-r1"
    stored_k = int(store.clustering(job)["num_clusters"])
    with store.connect() as con:  # the images the round clustered: the points of its map
        n = con.execute("SELECT count(*) FROM cluster_assignments WHERE result_id = ?", [f"{job}-clusters"]).fetchone()[0]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        # the K explorer: 50 slider moves, each redraws the one map in place, which still has every point
        open_and_run_all(page, url, "cluster.ipynb", ".widget-slider .noUi-handle")
        page.wait_for_function(f"() => [...document.querySelectorAll('.gtitle')].some(e => /{k_title(stored_k)}/"
                               ".test(e.textContent))", timeout=60_000)
        plots = page.locator(".js-plotly-plot").count()  # the stage's figures and the explorer's one map
        k_ms = time_steps(page, moves(stored_k, 2, 12, 50), stored_k, k_title)
        assert summary(k_ms)["missed"] == 0, k_ms
        assert page.evaluate(POINTS_JS) == n and page.locator(".js-plotly-plot").count() == plots
        assert not errors_on_page(page)
        # θ changed in the parameters cell with run_id empty: runs clean, on the latest run, as a variant
        page.goto("about:blank")
        open_and_run_all(page, url, "select.ipynb", ".widget-slider .noUi-handle")
        page.wait_for_selector("text=a variant", timeout=30_000)
        assert not errors_on_page(page)
        # the feedback grid: a click is acknowledged and stored
        page.goto("about:blank")
        open_and_run_all(page, url, "feedback.ipynb", "button.jupyter-button:has-text('👍')")
        assert page.evaluate(CLICK_JS, [0, 30_000]) >= 0
        browser.close()
    after = round_tables(workspace)
    after.pop("run_metrics")
    assert after == before  # exploring round 1 left its stored results byte for byte
    assert [s["theta"] for s in store.selections(job) if isinstance(s["variant"], str)] == [0.3]
    fb = store.feedback()
    assert len(fb) == 1
    row = fb.iloc[0]
    assert (row["feedback_type"], row["source"], row["user_id"]) == ("positive", "widget", "tester")
    selected = store.selection(job)["selected_ids"]
    assert row["image_id"] in selected
    # learning follows the click after its pause (widgets.LEARN_AFTER), on the kernel's timer thread
    deadline = time.monotonic() + 60
    while store.table("learning_updates").empty and time.monotonic() < deadline:
        time.sleep(0.5)
    assert len(store.table("learning_updates")) == 1

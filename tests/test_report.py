"""The main job through the notebooks: papermill, HTML reports, a failing stage, nbval."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import nbformat
import pytest
import yaml

from .conftest import ROOT, TINY

pytestmark = pytest.mark.slow


@pytest.fixture
def tiny_config(tmp_path, tiny_clip):
    data = yaml.safe_load(TINY.read_text())
    data.update(embed={"model": f"local-dir:{tiny_clip[1]}"}, feedback={"source": "persona"})
    path = tmp_path / "tiny-model.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_run_writes_a_self_contained_report(cli, workspace, tmp_path, tiny_config):
    data = yaml.safe_load(tiny_config.read_text())
    data["report"] = {"review_url": "http://review.example:8000"}
    tiny_config.write_text(yaml.safe_dump(data))
    reports = tmp_path / "reports"
    code, out, err = cli("run", "--config", tiny_config, "--workspace", workspace, "--reports", reports, "--json")
    assert code == 0, err
    doc = json.loads(out)
    run_id = doc["run_id"]
    folder = reports / run_id
    assert doc["report"]["index"] == str(folder / "index.html")
    for stage in ("prompts", "generate", "embed", "cluster", "select", "coverage", "feedback"):
        assert f"round 2 · {stage}:" in err
    pages = sorted(p.name for p in folder.glob("*.html"))
    assert len(pages) == 2 * 7 + 2  # 7 stages x 2 rounds, analytics, index
    assert len(list((folder / "notebooks").glob("*.ipynb"))) == 15
    for page in folder.glob("*.html"):
        text = page.read_text()
        # offline: no script or stylesheet from a CDN
        assert not re.search(r'<script[^>]+src="https?://', text), page.name
        assert 'src="https://cdn.plot.ly' not in text and "unpkg.com" not in text, page.name
    clustering = (folder / "r1-04_cluster.html").read_text()
    assert clustering.count("Plotly.newPlot") >= 2  # the map and the silhouette chart
    assert "plotly.js v" in clustering or "plotly.min.js" in clustering or "Plotly=" in clustering
    assert "data:image\\u002fjpeg;base64," in clustering  # thumbnails travel inside the page (JSON-escaped)
    assert "def " not in (folder / "r1-05_select.html").read_text().split("<body")[1][:2000]  # code hidden
    index = (folder / "index.html").read_text()
    assert "Per round" in index and index.count('href="r') == 14 and 'href="08_analytics.html"' in index
    for r in ("r1-01_prompts.html", "r2-07_feedback.html"):
        assert f'href="{r}"' in index
    review = f'href="http://review.example:8000/review/{run_id}"'  # report.review_url: the served review page
    assert review in index and review in (folder / "r2-07_feedback.html").read_text()
    # the run-metrics table: each stage's wall time, items and success rate
    from bffkit.store import open_store

    metrics = open_store(workspace).run_metrics(run_id)
    assert len(metrics) == 15 and (metrics["success_rate"] == 1).all()  # 7 stages x 2 rounds, analytics and metrics["seconds"].notna().all()
    assert "Run metrics" in index and "success_rate" in index
    assert len(doc["rounds"]) == 2 and doc["rounds"][1]["selection"]["n_selected"] == 8


def test_a_failing_notebook_names_its_stage(cli, workspace, tmp_path, tiny_config, monkeypatch):
    import bffkit.report

    books = tmp_path / "notebooks"
    shutil.copytree(bffkit.report.NOTEBOOKS_DIR, books)
    nb = nbformat.read(books / "05_select.ipynb", as_version=4)
    nb.cells.insert(3, nbformat.v4.new_code_cell('raise RuntimeError("the selection notebook broke")'))
    nbformat.write(nb, books / "05_select.ipynb")
    monkeypatch.setattr(bffkit.report, "NOTEBOOKS_DIR", books)
    reports = tmp_path / "reports"
    code, _, err = cli("run", "--config", tiny_config, "--workspace", workspace, "--reports", reports)
    assert code == 1
    line = err.strip().splitlines()[-1]
    assert line.startswith("error: stage select failed (round 1, notebook 05_select.ipynb, cell")
    assert "RuntimeError: the selection notebook broke" in line
    page = next(reports.glob("*/r1-05_select.html"))
    assert "the selection notebook broke" in page.read_text()
    from bffkit.store import open_store

    assert open_store(workspace).table("runs")["status"].tolist() == ["failed"]


def test_every_notebook_runs_under_nbval(tmp_path, tiny_clip):
    """nbval (lax): each notebook top to bottom with its default parameters, on a scratch workspace.

    The notebooks default to data/configs/tiny.yaml; the checked cells assert what each stage did.
    """
    env = {**os.environ, "BFFKIT_WORKSPACE": str(tmp_path / "ws")}
    proc = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-kernel-name", "bffkit",
                           "-p", "no:cacheprovider", "-q", "notebooks/"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    # nbval runs each code cell as one test: every cell of every notebook passed, none was skipped
    cells = sum(c.cell_type == "code" for nb in sorted((ROOT / "notebooks").glob("*.ipynb"))
                for c in nbformat.read(nb, as_version=4).cells)
    assert re.search(rf"\b{cells} passed\b", proc.stdout) and "skipped" not in proc.stdout, proc.stdout[-500:]

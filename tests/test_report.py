"""The main job through the notebooks: papermill, HTML reports (offline in chromium), a failing stage, nbval."""
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


def _tiny_config(folder, tiny_clip, **extra):
    data = yaml.safe_load(TINY.read_text())
    data.update(embed={"model": f"local-dir:{tiny_clip[1]}"}, feedback={"source": "persona"}, **extra)
    path = folder / "tiny-model.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def tiny_config(tmp_path, tiny_clip):
    return _tiny_config(tmp_path, tiny_clip)


@pytest.fixture(scope="module")
def tiny_report(tmp_path_factory, tiny_clip):
    """One `bffkit run` of the tiny config through the notebooks (2 rounds): (json doc, stderr, workspace, folder)."""
    import contextlib
    import io

    from bffkit.cli import main

    root = tmp_path_factory.mktemp("report")
    config = _tiny_config(root, tiny_clip, report={"review_url": "http://review.example:8000"})
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["run", "--config", str(config), "--workspace", str(root / "ws"), "--reports",
                     str(root / "reports"), "--json"])
    assert code == 0, err.getvalue()
    doc = json.loads(out.getvalue())
    return doc, err.getvalue(), root / "ws", root / "reports" / doc["run_id"]


def test_run_writes_a_self_contained_report(tiny_report):
    doc, err, workspace, folder = tiny_report
    run_id = doc["run_id"]
    assert doc["report"]["index"] == str(folder / "index.html")
    for stage in ("prompts", "generate", "embed", "cluster", "select", "coverage", "feedback"):
        assert f"round 2 · {stage}:" in err
    pages = sorted(p.name for p in folder.glob("*.html"))
    assert len(pages) == 2 * 7 + 2  # 7 stages x 2 rounds, analytics, index
    assert len(list((folder / "notebooks").glob("*.ipynb"))) == 15
    # one plotly.js and one notebook stylesheet for the folder; no page or kept notebook carries its own
    from bffkit.report import PLOTLY_JS, plotly_bundle

    bundle = plotly_bundle()
    assert (folder / PLOTLY_JS).read_text() == bundle and len(list(folder.glob("notebook-*.css"))) == 1
    for page in [*folder.glob("*.html"), *(folder / "notebooks").glob("*.ipynb")]:
        text = page.read_text()
        assert bundle[:2000] not in text, page.name
        if page.suffix == ".html" and page.name != "index.html":
            assert "<style" not in text.split("</head>")[0], page.name
        # offline: no script or stylesheet from a CDN
        assert not re.search(r'<(script|link)[^>]+(src|href)="https?://', text), page.name
    assert doc["report"]["bytes"] == sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    from bffkit.bench.report import inlined_bytes  # `bffkit bench report`'s baseline: every page with its own assets

    # 13 pages and 13 notebooks with figures each carried plotly.js; the folder holds one copy
    assert inlined_bytes(folder) > doc["report"]["bytes"] + 25 * len(bundle)
    assert set(doc["report"]["build"]) == {"1", "2", "run"} and doc["report"]["build"]["1"]["pages"] == 7
    clustering = (folder / "r1-04_cluster.html").read_text()
    assert clustering.count("Plotly.newPlot") >= 2  # the map and the silhouette chart
    assert f'<script charset="utf-8" src="{PLOTLY_JS}"></script>' in clustering.split("</head>")[0]
    assert "data:image\\u002fwebp;base64," in clustering  # thumbnails travel inside the page (JSON-escaped)
    assert "def " not in (folder / "r1-05_select.html").read_text().split("<body")[1][:2000]  # code hidden
    index = (folder / "index.html").read_text()
    assert index.count('href="r') == 14 and 'href="08_analytics.html"' in index
    for r in ("r1-01_prompts.html", "r2-07_feedback.html"):
        assert f'href="{r}"' in index
    # the result first: the request, the last round's selected images by style profile, the
    # headline metrics with their change from round 1, then the tables
    request = yaml.safe_load(TINY.read_text())["request"]
    order = [index.index(x) for x in (request if isinstance(request, str) else "", "vs round 1",
                                      "Selected designs, round 2", "Recommendations", "Per round", "Run metrics")]
    assert order == sorted(order)
    grid = index.split("Selected designs, round 2")[1].split("<h2>")[0]
    assert grid.count("<img ") == 8 and grid.count("data:image/webp;base64,") == 8  # 8 selected, inline
    assert "selected</span></h3>" in grid
    shown = re.findall(r"\d+\.\d+", re.sub(r'data:[^"]+', "", index.split("<body")[1]))
    assert shown and all(len(x.replace(".", "").lstrip("0")) <= 3 for x in shown), shown  # 3 significant digits
    review = f'href="http://review.example:8000/review/{run_id}"'  # report.review_url: the served review page
    assert review in index and review in (folder / "r2-07_feedback.html").read_text()
    # the run-metrics table: each stage's wall time, items and success rate, and the report's rows
    from bffkit.store import open_store

    metrics = open_store(workspace).run_metrics(run_id)
    assert len(metrics) == 15 and (metrics["success_rate"] == 1).all()  # 7 stages x 2 rounds, analytics
    assert metrics["seconds"].notna().all()
    table = index.split("<h2>Run metrics</h2>")[1]
    assert "report_mb" in table and table.count("<td>report</td>") == 3
    assert len(doc["rounds"]) == 2 and doc["rounds"][1]["selection"]["n_selected"] == 8


def test_the_static_feedback_page_gives_a_sheet_that_imports(tiny_report, tmp_path, cli):
    import base64

    doc, _, workspace, folder = tiny_report
    page = (folder / "r2-07_feedback.html").read_text()
    assert "make lab" in page and "07_feedback.ipynb" in page and "bffkit feedback import" in page
    sheet = base64.b64decode(re.search(r'href="data:text/csv;base64,([^"]+)"', page)[1]).decode()
    lines = sheet.splitlines()
    assert lines[0] == "image_id,feedback_type,rating,comment" and len(lines) == 1 + 8
    from bffkit.store import open_store

    store = open_store(workspace)
    selected = store.table("dpp_selection_results").sort_values("created_at")["selected_ids"].iloc[-1]
    assert sorted(line.split(",")[0] for line in lines[1:]) == sorted(selected)
    filled = tmp_path / "sheet.csv"
    filled.write_text("\n".join([lines[0], lines[1].replace(",,,", ",positive,5,lovely"), *lines[2:]]) + "\n")
    code, out, err = cli("feedback", "import", filled, "--workspace", workspace, "--user", "sheet-reader", "--json")
    assert code == 0, err
    assert json.loads(out)["stored"] == 1 and len(store.feedback("sheet-reader")) == 1


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-headless-shell")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (make test installs it)")
def test_every_page_renders_offline_in_chromium(tiny_report):
    """Networking off: every page loads, every plotly figure draws its svg, nothing is asked of the network."""
    from playwright.sync_api import sync_playwright

    folder = tiny_report[3]
    off_machine = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run", "--disable-sync"])
        context = browser.new_context(offline=True)

        def watch(route):
            if not route.request.url.startswith(("file:", "data:")):
                off_machine.append(route.request.url)
                return route.abort()
            return route.continue_()

        context.route("**/*", watch)
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        figures = 0
        for html_page in sorted(folder.glob("*.html")):
            page.goto(html_page.as_uri(), wait_until="load")
            divs = page.locator("div.plotly-graph-div")
            for k in range(divs.count()):
                divs.nth(k).locator("svg.main-svg").first.wait_for(state="attached", timeout=10_000)
            figures += divs.count()
            if html_page.name == "index.html":
                assert page.evaluate("[...document.images].every(i => i.complete && i.naturalWidth > 0)")
        browser.close()
    assert not off_machine and not errors, (off_machine, errors)
    assert figures >= 2 * 6 + 1  # every stage page but generation's has a figure; the cluster pages have two


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

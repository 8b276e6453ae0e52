"""The workbench as a researcher meets it: JupyterLab on 127.0.0.1, Debian's chromium driven by
Playwright (no browser download), the stage notebooks run in it.

`bench sliders` times, in the page, a slider step (a key press on the slider) to the explorer's
redrawn map (its title showing the new value), over 50 K moves at N = 500, a θ slider step and
a feedback click to its acknowledgement; the baseline, in the same browser, is the explorer
this one replaced: a new HTML figure (plotly.js inline) displayed per move.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]
TOKEN = "bffkit-bench-token"


def chromium() -> str | None:
    """Debian's chromium, if installed (`make test` installs it)."""
    return shutil.which("chromium") or shutil.which("chromium-headless-shell")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def jupyterlab(root: Path, *, cwd: Path | None = None, env: dict | None = None) -> Iterator[str]:
    """JupyterLab serving `root` on a free port of 127.0.0.1 (token :data:`TOKEN`); its URL."""
    port = _free_port()
    config_dir = Path(tempfile.mkdtemp(prefix="bffkit-jupyter-config-"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--allow-root",
         f"--ServerApp.root_dir={root}", f"--IdentityProvider.token={TOKEN}", "--ServerApp.open_browser=False",
         "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **(env or {}), "JUPYTER_CONFIG_DIR": str(config_dir)})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    proc.kill()
                    raise RuntimeError("JupyterLab did not start: " + (proc.stderr.read() if proc.stderr else ""))
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(config_dir, ignore_errors=True)


def notebook_copy(stage_notebook: str, out: Path, **parameters) -> Path:
    """A stage notebook with its parameters cell's defaults replaced (``name = value`` lines)."""
    import nbformat

    from ..paths import NOTEBOOKS_DIR

    nb = nbformat.read(NOTEBOOKS_DIR / stage_notebook, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    lines = []
    for line in cell.source.splitlines():
        name = line.split(":", 1)[0].split("=", 1)[0].strip()
        lines.append(f"{name} = {parameters.pop(name)!r}" if name in parameters else line)
    cell.source = "\n".join(lines + [f"{k} = {v!r}" for k, v in parameters.items()])
    nbformat.write(nb, out)
    return out


def open_and_run_all(page, url: str, notebook: str, ready: str, timeout_ms: int = 180_000) -> None:
    """Open a notebook in JupyterLab, Run All, and wait for the `ready` selector."""
    page.goto(f"{url}/lab/tree/{notebook}?token={TOKEN}&reset", timeout=60_000)  # reset: only this notebook open
    page.wait_for_selector(".jp-Notebook", timeout=60_000)
    page.wait_for_selector("#jp-main-statusbar >> text=Idle", timeout=60_000)
    page.click("text=Run", timeout=10_000)  # the Run menu
    page.click("text=Run All Cells", timeout=10_000)
    try:
        page.wait_for_selector(ready, timeout=timeout_ms)
    except Exception:
        if os.environ.get("BFFKIT_BENCH_SCREENSHOTS"):  # what the page showed, for whoever debugs it
            page.screenshot(path=str(Path(os.environ["BFFKIT_BENCH_SCREENSHOTS"]) / f"{notebook}.png"), full_page=True)
        raise


# One slider step, timed in the page: a key press on the (last) slider's handle, until a plot title
# matching `pattern` is on the page. Resolves to the milliseconds, or -1 after `limit` ms.
STEP_JS = """
([key, pattern, limit]) => new Promise(resolve => {
  const handles = document.querySelectorAll('.widget-slider .noUi-handle');
  const handle = handles[handles.length - 1];
  const re = new RegExp(pattern);
  let t0 = 0, done = false;
  const seen = () => [...document.querySelectorAll('.gtitle')].some(el => re.test(el.textContent));
  const finish = v => { if (!done) { done = true; obs.disconnect(); resolve(v); } };
  const obs = new MutationObserver(() => { if (seen()) finish(performance.now() - t0); });
  obs.observe(document.body, {subtree: true, childList: true, characterData: true, attributes: true});
  t0 = performance.now();
  handle.focus();
  handle.dispatchEvent(new KeyboardEvent('keydown', {key, code: key, bubbles: true}));
  setTimeout(() => finish(-1), limit);
})
"""

# Points drawn in the page's last plot (the explorer's map).
POINTS_JS = """() => { const plots = document.querySelectorAll('.js-plotly-plot');
  return plots.length ? plots[plots.length - 1].querySelectorAll('.scatterlayer .point').length : 0; }"""

# One feedback click, timed in the page: the first unrated card's like button, until its status says stored.
CLICK_JS = """
([index, limit]) => new Promise(resolve => {
  const buttons = [...document.querySelectorAll('button.jupyter-button')].filter(b => b.textContent.includes('like')
                                                                             && !b.textContent.includes('dislike'));
  const button = buttons[index];
  const card = button.closest('.widget-vbox');
  let t0 = 0, done = false;
  const finish = v => { if (!done) { done = true; obs.disconnect(); resolve(v); } };
  const obs = new MutationObserver(() => { if (card.textContent.includes('positive stored')) finish(performance.now() - t0); });
  obs.observe(card, {subtree: true, childList: true, characterData: true});
  t0 = performance.now();
  button.click();
  setTimeout(() => finish(-1), limit);
})
"""


def k_title(k: int) -> str:
    return f"^K={k}[ :(]"


def theta_title(theta: float) -> str:
    return f"^θ={theta:.2f}[ :(]".replace(".", "\\.")


def moves(start: int, lo: int, hi: int, n: int) -> list[int]:
    """`n` one-step values from `start`, bouncing between `lo` and `hi` (what 50 key presses visit)."""
    out, v, step = [], start, 1
    for _ in range(n):
        if not lo <= v + step <= hi:
            step = -step
        v += step
        out.append(v)
    return out


def time_steps(page, values: Sequence, start, title, limit_ms: int = 20_000) -> list[float]:
    """Milliseconds from each key press to the map titled with its value (-1: it never came)."""
    out, current = [], start
    for v in values:
        key = "ArrowRight" if v > current else "ArrowLeft"
        out.append(float(page.evaluate(STEP_JS, [key, title(v), limit_ms])))
        current = v
    return out


def summary(ms: Sequence[float]) -> dict:
    ok = np.array([m for m in ms if m >= 0])
    return {"n": len(ms), "missed": int(sum(m < 0 for m in ms)),
            "p50_ms": round(float(np.median(ok)), 1) if len(ok) else None,
            "p95_ms": round(float(np.percentile(ok, 95)), 1) if len(ok) else None,
            "max_ms": round(float(ok.max()), 1) if len(ok) else None}


# --------------------------------------------------------------------------- the baseline

def html_redraw_explorer(ctx, round_number: int):
    """The K explorer as it was (the baseline): a new HTML figure with plotly.js inline in an Output
    per move. Kept only for `bench sliders` to measure against."""
    import ipywidgets as w
    from IPython.display import HTML, display

    from .. import figures as fg
    from ..cluster import kmeans_for_k

    data = ctx.round_data(round_number)
    coords = fg.project_2d(data.X)
    out = w.Output()
    slider = w.IntSlider(value=ctx.store.clustering(ctx.job_id(round_number))["num_clusters"], min=2, max=12,
                         description="K", continuous_update=False)

    def redraw(change=None):
        labels, sil = kmeans_for_k(data.X, slider.value, seed=ctx.seed(round_number))
        fig = fg.embedding_map(coords, labels, title=f"K={slider.value}: silhouette {sil:.3f}")
        out.clear_output(wait=True)
        with out:
            display(HTML(fg.figure_html(fig, include_plotlyjs=True)))

    slider.observe(redraw, names="value")
    redraw()
    return w.VBox([slider, out])


# --------------------------------------------------------------------------- the benchmark

def bench_browser_sliders(n: int = 500, k_moves: int = 50, theta_moves: int = 20, clicks: int = 10,
                          baseline_moves: int = 12) -> dict:
    """The workbench's latencies measured in chromium at N images (see the module docstring)."""
    from playwright.sync_api import sync_playwright

    from ..config import load_config
    from ..paths import DATA_DIR, project_dir
    from ..pipeline import run
    from ..store import open_store

    browser_path = chromium()
    if browser_path is None:
        return {"skipped": "chromium not installed (apt-get install chromium)"}
    with tempfile.TemporaryDirectory(prefix="bffkit-sliders-") as tmp:
        tmp = Path(tmp)
        overrides = {"name": "bench-sliders", "rounds": 1, "workspace": str(tmp / "ws"), "feedback.source": "none",
                     "generate.target_count": n // 2, "generate.overgeneration": 2, "user_id": "bench"}
        cfg = load_config(DATA_DIR / "configs" / "demo.yaml", overrides)
        run(cfg, progress=False, log=lambda _: None)
        config_path = tmp / "config.yaml"
        import yaml

        config_path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
        common = dict(config_path=str(config_path), workspace=str(tmp / "ws"), round_number=1)
        notebook_copy("04_cluster.ipynb", tmp / "cluster.ipynb", **common)
        notebook_copy("05_select.ipynb", tmp / "select.ipynb", **common)
        notebook_copy("07_feedback.ipynb", tmp / "feedback.ipynb", **common)
        baseline = notebook_copy("04_cluster.ipynb", tmp / "baseline.ipynb", **common)
        _use_baseline_explorer(baseline)
        store = open_store(tmp / "ws")
        job = store.latest_run_id() + "-r1"
        stored_k = int(store.clustering(job)["num_clusters"])
        stored_theta = float(store.selection(job)["theta"])
        env = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
        out: dict = {"n": n, "device": "chromium (headless) on this machine, kernel pinned to 1 BLAS thread"}
        with jupyterlab(tmp, cwd=project_dir(), env=env) as url, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=browser_path, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            open_and_run_all(page, url, "cluster.ipynb", ".widget-slider .noUi-handle")
            page.wait_for_function(f"() => [...document.querySelectorAll('.gtitle')].some(e => /{k_title(stored_k)}/"
                                   ".test(e.textContent))", timeout=120_000)
            values = moves(stored_k, 2, 12, k_moves)
            k_ms = time_steps(page, values, stored_k, k_title)
            first = {v: m for v, m in reversed(list(zip(values, k_ms)))}  # each K's first visit
            out["k_slider"] = {**summary(k_ms), "first_visit": summary(list(first.values())),
                               "points_after_moves": page.evaluate(POINTS_JS)}
            page.goto("about:blank")
            open_and_run_all(page, url, "baseline.ipynb", ".widget-slider .noUi-handle")
            page.wait_for_function(f"() => [...document.querySelectorAll('.gtitle')].some(e => /{k_title(stored_k)}/"
                                   ".test(e.textContent))", timeout=120_000)
            base_ms = time_steps(page, moves(stored_k, 2, 12, baseline_moves), stored_k, k_title)
            out["baseline_html_redraw"] = summary(base_ms)
            page.goto("about:blank")
            open_and_run_all(page, url, "select.ipynb", ".widget-slider .noUi-handle")
            thetas = [round(stored_theta + 0.05 * d, 2) for d in moves(0, -int(round(stored_theta / 0.05)),
                                                                       int(round((0.95 - stored_theta) / 0.05)),
                                                                       theta_moves)]
            page.wait_for_function(f"() => [...document.querySelectorAll('.gtitle')].some(e => /{theta_title(stored_theta)}/"
                                   ".test(e.textContent))", timeout=120_000)
            out["theta_slider"] = summary(time_steps(page, thetas, stored_theta, theta_title))
            page.goto("about:blank")
            open_and_run_all(page, url, "feedback.ipynb", "button.jupyter-button:has-text('like')")
            out["feedback_click"] = summary([float(page.evaluate(CLICK_JS, [i, 10_000])) for i in range(clicks)])
            browser.close()
        out["stored_clicks"] = len(store.feedback("bench"))
    k, base = out["k_slider"], out["baseline_html_redraw"]
    out["k_step_p50_ratio_to_baseline"] = round(k["p50_ms"] / base["p50_ms"], 3) if k["p50_ms"] and base["p50_ms"] else None
    out["targets"] = {"k_step_p95_ms": 150, "click_ack_p95_ms": 200}
    out["meets_targets"] = bool(k["p95_ms"] is not None and k["p95_ms"] <= 150 and k["missed"] == 0
                                and out["k_slider"]["points_after_moves"] == n
                                and out["feedback_click"]["p95_ms"] is not None
                                and out["feedback_click"]["p95_ms"] <= 200)
    return out


def _use_baseline_explorer(notebook: Path) -> None:
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        if "wb.kmeans_explorer" in cell.source:
            cell.source = ("from bffkit.bench.browser import html_redraw_explorer\n"
                           + cell.source.replace("wb.kmeans_explorer", "html_redraw_explorer"))
    nbformat.write(nb, notebook)

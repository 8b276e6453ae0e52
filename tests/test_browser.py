"""A real browser: JupyterLab on 127.0.0.1, Debian's chromium driven by Playwright (no browser
download), the feedback notebook run in it and 👍 clicked; the row must reach the store."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import nbformat
import pytest
import yaml

from bffkit.store import open_store

from .conftest import ROOT, TINY

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-headless-shell")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (make test installs it)")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path, tiny_clip, cli):
    """A workspace with round 1 selected, a copy of the feedback notebook pointing at it, JupyterLab serving it."""
    workspace = tmp_path / "ws"
    data = yaml.safe_load(TINY.read_text())
    data.update(embed={"model": f"local-dir:{tiny_clip[1]}"}, feedback={"source": "none"}, rounds=1)
    config = tmp_path / "browser.yaml"
    config.write_text(yaml.safe_dump(data))
    code, _, err = cli("run", "--config", config, "--workspace", workspace, "--no-notebooks")
    assert code == 0, err
    root = tmp_path / "lab"
    root.mkdir()
    nb = nbformat.read(ROOT / "notebooks" / "07_feedback.ipynb", as_version=4)
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    params.source = params.source.replace('config_path: str = "data/configs/tiny.yaml"', f'config_path: str = "{config}"')
    params.source = params.source.replace('workspace: str = ""', f'workspace: str = "{workspace}"')
    nbformat.write(nb, root / "feedback.ipynb")
    port, token = _free_port(), "bffkit-test-token"
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--allow-root",
         f"--ServerApp.root_dir={root}", f"--IdentityProvider.token={token}", "--ServerApp.open_browser=False",
         "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config")})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("JupyterLab did not start: " + (proc.stderr.read() if proc.stderr else ""))
            time.sleep(0.3)
    yield url, token, workspace
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_click_thumbs_up_in_jupyterlab_stores_the_row(lab):
    from playwright.sync_api import sync_playwright

    url, token, workspace = lab
    store = open_store(workspace)
    assert store.feedback().empty
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run", "--disable-sync"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/lab/tree/feedback.ipynb?token={token}", timeout=60_000)
        page.wait_for_selector(".jp-Notebook", timeout=60_000)
        page.wait_for_selector("#jp-main-statusbar >> text=Idle", timeout=60_000)
        page.click("text=Run", timeout=10_000)  # the Run menu
        page.click("text=Run All Cells", timeout=10_000)
        thumbs_up = page.locator("button.jupyter-button:has-text('👍')").first
        thumbs_up.wait_for(timeout=120_000)
        thumbs_up.click()
        page.wait_for_selector("text=✓ positive stored", timeout=30_000)
        browser.close()
    fb = store.feedback()
    assert len(fb) == 1
    row = fb.iloc[0]
    assert (row["feedback_type"], row["source"], row["user_id"]) == ("positive", "widget", "tester")
    selected = store.table("dpp_selection_results")["selected_ids"].iloc[0]
    assert row["image_id"] in selected
    # learning follows the click after its pause (widgets.LEARN_AFTER), on the kernel's timer thread
    deadline = time.monotonic() + 60
    while store.table("learning_updates").empty and time.monotonic() < deadline:
        time.sleep(0.5)
    assert len(store.table("learning_updates")) == 1

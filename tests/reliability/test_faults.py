"""Faults: the main job killed with SIGKILL mid-stage, and a disk that fills up mid-run.

Each rerun of the same config must end exactly where an uninterrupted run ends: the same row
counts, no duplicate rows, no image file without its row (or row without its file).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml

from ..conftest import ROOT, TINY

COUNTED = ("generated_images", "image_embeddings", "user_feedback", "dpp_selection_results")
pytestmark = pytest.mark.slow


def config_file(tmp_path: Path, rounds: int = 2) -> Path:
    """The tiny config at `rounds` rounds of 36 specs: long enough stages to be killed inside."""
    data = yaml.safe_load(TINY.read_text())
    data["generate"]["target_count"] = 18
    data["rounds"] = rounds
    path = tmp_path / f"faults-{rounds}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def bffkit(*args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "bffkit", *args], cwd=ROOT, env=env, stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True, start_new_session=True, **kw)


def flags(mode: str) -> tuple[str, ...]:
    return () if mode == "--notebooks" else (mode,)


def run_to_end(config: Path, ws: Path, mode: str = "--no-notebooks", reports: Path | None = None) -> str:
    proc = bffkit("run", *flags(mode), "--config", str(config), "--workspace", str(ws),
                  *(("--reports", str(reports)) if reports else ()))
    _, err = proc.communicate(timeout=400)
    assert proc.returncode == 0, err
    return err


def state(ws: Path) -> dict:
    """Row counts, duplicate (job, spec) rows, and image files versus rows."""
    con = duckdb.connect(str(ws / "bff.duckdb"), read_only=True)
    try:
        counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in COUNTED}
        dupes = con.execute("SELECT count(*) - count(DISTINCT (job_id, spec_index)) FROM generated_images").fetchone()[0]
        paths = {r[0] for r in con.execute("SELECT path FROM generated_images WHERE path IS NOT NULL").fetchall()}
        runs = con.execute("SELECT status FROM runs").fetchall()
    finally:
        con.close()
    # .journal holds the recovery logs, by design; a .tmp/*.part file is half-written
    files = {str(p.relative_to(ws)) for p in (ws / "images").rglob("*") if p.is_file() and ".journal" not in p.parts}
    return {"counts": counts, "duplicate_specs": dupes, "orphan_files": sorted(files - paths),
            "missing_files": sorted(paths - files), "runs": runs}


@pytest.fixture(scope="module")
def references(tmp_path_factory):
    """{rounds: (config, the state of an uninterrupted run)}, each run once, when first asked for."""
    tmp, done = tmp_path_factory.mktemp("faults"), {}

    def reference(rounds: int = 2):
        if rounds not in done:
            config = config_file(tmp, rounds)
            run_to_end(config, tmp / f"reference-{rounds}")
            done[rounds] = config, state(tmp / f"reference-{rounds}")
        return done[rounds]
    return reference


@pytest.fixture(scope="module")
def reference(references):
    return references(2)


# (stage to kill inside, the progress line after which it is running, how the main job runs, rounds)
MOMENTS = [("generate", "round 2 · prompts:", "--no-notebooks", 2), ("embed", "round 1 · generate:", "--no-notebooks", 2),
           ("feedback", "round 1 · coverage:", "--no-notebooks", 2),
           # the notebook main job (the default): the kill takes papermill's kernel down with it; one
           # round, as every notebook stage's kernel is a fresh process and round 2 would only repeat them
           ("embed", "round 1 · generate:", "--notebooks", 1)]


@pytest.mark.parametrize("stage, after, mode, rounds", MOMENTS, ids=[f"{m[0]}{m[2].removeprefix('-')}" for m in MOMENTS])
def test_kill_9_mid_stage_then_rerun_ends_like_an_uninterrupted_run(stage, after, mode, rounds, references, tmp_path):
    config, expected = references(rounds)
    ws = tmp_path / "ws"
    proc = bffkit("run", *flags(mode), "--config", str(config), "--workspace", str(ws),
                  "--reports", str(tmp_path / "reports"))
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.strip().startswith(after):
            os.killpg(proc.pid, signal.SIGKILL)  # the whole main job, not one stage's worker
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "".join(seen)
    assert not any(f"· {stage}:" in line and line.strip().startswith(after.split("·")[0].strip() + " · " + stage)
                   for line in seen), f"{stage} finished before the kill"
    interrupted = state(ws)
    assert interrupted["counts"] != expected["counts"]  # the kill really cut the run short
    run_to_end(config, ws, mode, tmp_path / "reports")
    after_rerun = state(ws)
    assert after_rerun["counts"] == expected["counts"]
    assert after_rerun["duplicate_specs"] == 0
    assert after_rerun["orphan_files"] == [] and after_rerun["missing_files"] == []
    assert after_rerun["runs"] == [("done",)]
    assert not list((ws / "images").glob(".tmp/*")) and not list((ws / "inbox").glob("*.json"))


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MB tmpfs folder (root can mount one; elsewhere the test is skipped, saying why)."""
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({mounted.stderr.decode().strip() or 'not root'})")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


def test_full_disk_is_one_line_keeps_what_committed_and_the_rerun_completes(reference, small_disk, tmp_path):
    config, expected = reference
    ws = small_disk / "ws"
    proc = bffkit("run", "--no-notebooks", "--config", str(config), "--workspace", str(ws))
    _, err = proc.communicate(timeout=300)
    last = err.strip().splitlines()[-1]
    assert proc.returncode == 1, err
    assert last.startswith("error: no space left on the disk") and "Traceback" not in err, err
    # nothing half-written: the store opens, every image row has its file and every file its row
    broken = state(ws)
    assert broken["counts"]["generated_images"] < expected["counts"]["generated_images"]
    assert broken["orphan_files"] == [] and broken["missing_files"] == [] and broken["duplicate_specs"] == 0
    assert not list((ws / "images").glob(".tmp/*.part"))
    # space freed: the rerun completes and ends where an uninterrupted run ends
    subprocess.run(["mount", "-o", "remount,size=200m", str(small_disk)], check=True)
    run_to_end(config, ws)
    assert state(ws) == expected

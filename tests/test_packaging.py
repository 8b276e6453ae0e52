"""bffkit as an installed package: the wheel carries the taxonomy, personas, configs, weights
and notebooks, and a run from an unrelated folder writes only there."""
from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
import tomllib

from .conftest import ROOT


def test_the_listed_packages_are_the_package_folders():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "bffkit").rglob("*.py")
               if "__pycache__" not in p.parts}
    assert listed == folders | {"bffkit.data", "bffkit.notebooks"}


def test_init_makes_a_project_with_notebooks_and_a_config(cli, tmp_path):
    code, out, err = cli("init", tmp_path / "proj")
    assert code == 0, err
    proj = tmp_path / "proj"
    assert sorted(p.name for p in (proj / "notebooks").glob("*.ipynb"))[0] == "01_prompts.ipynb"
    assert "workspace: workspace" in (proj / "config.yaml").read_text()
    assert 'config_path: str = \\"config.yaml\\"' in (proj / "notebooks" / "05_select.ipynb").read_text()
    assert (proj / "workspace" / "bff.duckdb").is_file()
    code, _, err = cli("init", proj)
    assert code == 2 and "exists; nothing written" in err


@pytest.mark.slow
def test_the_wheel_installs_and_runs_from_an_unrelated_folder(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist),
                    str(ROOT)], check=True, capture_output=True)
    wheel = next(dist.glob("bffkit-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for shipped in ("bffkit/data/vlt_taxonomy.yaml", "bffkit/data/configs/tiny.yaml", "bffkit/data/personas/minimalist.yaml",
                    "bffkit/data/models/sketch-clip/open_clip_model.safetensors", "bffkit/notebooks/05_select.ipynb",
                    "bffkit/serve/templates/review.html"):
        assert shipped in names
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = Path(sysconfig.get_paths(vars={"base": str(venv), "platbase": str(venv)})["purelib"])
    # the wheel itself, not editable; its dependencies from this environment (no download)
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True, capture_output=True)
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    python = venv / "bin" / "python"
    where = subprocess.run([python, "-c", "import bffkit, bffkit.paths as p; print(bffkit.__file__, p.DATA_DIR)"],
                           cwd=elsewhere, check=True, capture_output=True, text=True).stdout
    assert str(site) in where and str(ROOT) not in where  # the installed copy, its own data
    init = subprocess.run([python, "-m", "bffkit", "init", "proj"], cwd=elsewhere, capture_output=True, text=True)
    assert init.returncode == 0, init.stderr
    proj = elsewhere / "proj"
    tiny = (site / "bffkit" / "data" / "configs" / "tiny.yaml").read_text()
    (proj / "tiny.yaml").write_text(tiny.replace("workspace: data/workspace", "workspace: workspace"))
    run = subprocess.run([python, "-m", "bffkit", "run", "--no-notebooks", "--config", "tiny.yaml", "--json"],
                         cwd=proj, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert (proj / "workspace" / "bff.duckdb").is_file() and any((proj / "workspace" / "images").rglob("*.png"))
    assert not (site / "bffkit" / "data" / "workspace").exists()  # nothing written inside the package

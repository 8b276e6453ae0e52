"""Every path bffkit uses by default, in one place."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

PROJ_ROOT = Path(__file__).resolve().parents[1]
# A source checkout (what `make setup` installs, editable): the package sits beside data/ and
# notebooks/ and pyproject.toml. An installed wheel has none of them beside it.
SOURCE_CHECKOUT = (PROJ_ROOT / "pyproject.toml").is_file() and (PROJ_ROOT / "notebooks").is_dir()


def shipped(name: str) -> Path:
    """A folder shipped as package data (``bffkit.data``, ``bffkit.notebooks``): pyproject maps
    them from the top-level data/ and notebooks/, so an editable install finds those folders and
    a wheel its copies inside the package."""
    try:
        spec = importlib.util.find_spec(f"bffkit.{name}")
    except ImportError:
        spec = None
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return PROJ_ROOT / name  # run from a checkout without installing (PYTHONPATH=.)


# BFFKIT_DATA points elsewhere (a taxonomy, personas, configs and models of one's own).
DATA_DIR = Path(os.environ.get("BFFKIT_DATA") or shipped("data"))
NOTEBOOKS_DIR = shipped("notebooks")
TAXONOMY_PATH = DATA_DIR / "vlt_taxonomy.yaml"
# In a checkout, data/workspace (ignored by git) as ever; an installed bffkit never writes
# inside itself: ./workspace of wherever it runs.
DEFAULT_WORKSPACE = PROJ_ROOT / "data" / "workspace" if SOURCE_CHECKOUT else Path("workspace")

STORE_FILENAME = "bff.duckdb"
IMAGES_DIRNAME = "images"


def project_dir() -> Path:
    """The folder relative paths in a notebook mean: the project, i.e. the folder above
    notebooks/ when the kernel runs in it (JupyterLab starts kernels in the notebook's folder),
    else the working directory (a batch run starts its kernel there)."""
    cwd = Path.cwd()
    return cwd.parent if cwd.name == "notebooks" else cwd

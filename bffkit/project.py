"""`bffkit init DIR`: a project folder for an installed bffkit, with the stage notebooks and a
starter config to edit (the shipped ones are package data and stay as they are)."""

from __future__ import annotations

import re
from pathlib import Path

from .exceptions import BffkitError
from .paths import DATA_DIR, NOTEBOOKS_DIR

CONFIG_NAME = "config.yaml"
WORKSPACE_NAME = "workspace"
# the notebooks' default config in the source tree; a project's notebooks use the project's own
SOURCE_CONFIG = 'config_path: str = "data/configs/tiny.yaml"'


def starter_config() -> str:
    """The demo config with its workspace in the project folder."""
    text = (DATA_DIR / "configs" / "demo.yaml").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^# The main job.*\n", "# Your run config: edit it, then `bffkit run --config config.yaml` here.\n", text)
    return re.sub(r"(?m)^workspace: .*$", f"workspace: {WORKSPACE_NAME}  # relative to where bffkit runs: this folder",
                  text)


def project_notebook(source: Path) -> str:
    """A stage notebook whose parameters cell reads the project's config."""
    import nbformat

    nb = nbformat.read(source, as_version=4)
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    params.source = params.source.replace(SOURCE_CONFIG, f'config_path: str = "{CONFIG_NAME}"').replace(
        "relative to the project root", "relative to the project folder")
    return nbformat.writes(nb)


def init_project(folder: Path, *, force: bool = False) -> list[Path]:
    """Write config.yaml and notebooks/ into `folder`; the files written. Refuses to replace a
    file that is there unless `force`, before writing anything."""
    folder = Path(folder)
    notebooks = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise BffkitError(f"no stage notebooks found in {NOTEBOOKS_DIR}: reinstall bffkit")
    planned = {folder / CONFIG_NAME: starter_config()}
    planned.update({folder / "notebooks" / nb.name: project_notebook(nb) for nb in notebooks})
    if folder.exists() and not folder.is_dir():
        raise BffkitError(f"DIR={folder}: is a file; give a folder (it is created when missing)")
    there = [p for p in planned if p.exists()]
    if there and not force:
        raise BffkitError(f"{there[0]} exists; nothing written (--force replaces the config and notebooks)")
    (folder / "notebooks").mkdir(parents=True, exist_ok=True)
    for path, text in planned.items():
        path.write_text(text, encoding="utf-8")
    return list(planned)


__all__ = ["CONFIG_NAME", "WORKSPACE_NAME", "init_project"]

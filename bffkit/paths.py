"""Every path bffkit uses by default, in one place."""

from __future__ import annotations

import os
from pathlib import Path

PROJ_ROOT = Path(__file__).resolve().parents[1]
# The data folder ships beside the package (editable install); BFFKIT_DATA points elsewhere.
DATA_DIR = Path(os.environ.get("BFFKIT_DATA", PROJ_ROOT / "data"))
TAXONOMY_PATH = DATA_DIR / "vlt_taxonomy.yaml"
DEFAULT_WORKSPACE = DATA_DIR / "workspace"

STORE_FILENAME = "bff.duckdb"
IMAGES_DIRNAME = "images"

"""The demo's report folder: bytes per round and build seconds, against the same pages with their
assets inlined (what each nbconvert page and kept notebook carried before they shared them)."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

TARGET_BYTES = 15_000_000


def inlined_bytes(folder: Path) -> int:
    """The folder's size if every page carried its own plotly.js and stylesheet and every kept
    notebook its plotly.js, as nbconvert and plotly write them by default."""
    from ..report import PLOTLY_JS

    bundle = (folder / PLOTLY_JS).stat().st_size if (folder / PLOTLY_JS).exists() else 0
    css = {p.name: p.stat().st_size for p in folder.glob("notebook-*.css")}
    total = 0
    for page in folder.glob("*.html"):
        text = page.read_text(encoding="utf-8")
        total += page.stat().st_size + (bundle if f'src="{PLOTLY_JS}"' in text else 0)
        total += sum(size for name, size in css.items() if f'href="{name}"' in text)
    for nb in (folder / "notebooks").glob("*.ipynb"):
        carried = "bffkit" in json.loads(nb.read_text(encoding="utf-8")).get("metadata", {})
        total += nb.stat().st_size + (bundle if carried else 0)
    return total


def bench_report(config: str | None = None, **_ignored) -> dict:
    """`bffkit run` of the demo through the notebooks in a scratch workspace: the report folder's
    bytes (target <= 15 MB) and, per round, pages, bytes and build seconds; baseline: the same
    folder with every page's and notebook's assets inlined (the layout before they were shared)."""
    from ..config import load_config
    from ..paths import DATA_DIR
    from ..report import run_report

    path = Path(config) if config else DATA_DIR / "configs" / "demo.yaml"
    with tempfile.TemporaryDirectory(prefix="bffkit-report-") as tmp:
        cfg = load_config(path, {"workspace": str(Path(tmp) / "ws"), "name": "bench-report"})
        t0 = time.perf_counter()
        result = run_report(cfg, path, reports_dir=Path(tmp) / "reports", log=lambda _: None)
        seconds = time.perf_counter() - t0
        inlined = inlined_bytes(result.report_dir)
    build_seconds = sum(b["seconds"] for b in result.build.values())
    return {"config": path.name, "bytes": result.bytes, "mb": round(result.bytes / 1e6, 2),
            "inlined_bytes": inlined, "inlined_mb": round(inlined / 1e6, 1),
            "ratio_to_inlined": round(result.bytes / inlined, 3), "per_round": result.build,
            "build_seconds": round(build_seconds, 2), "run_seconds": round(seconds, 1),
            "build_share_of_run": round(build_seconds / seconds, 3),
            "target": {"bytes": TARGET_BYTES}, "meets_target": result.bytes <= TARGET_BYTES}

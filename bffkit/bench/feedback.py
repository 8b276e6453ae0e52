"""A large feedback import: validation, one all-or-nothing transaction, then learning."""

from __future__ import annotations

import csv
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from .timing import best_of, pinned


def write_feedback_csv(path: Path, image_ids: list[str], n: int, users: int = 50, seed: int = 0) -> Path:
    """`n` distinct feedback rows over `image_ids` from `users` users (ratings, comments, timestamps)."""
    rng = np.random.default_rng(seed)
    kinds = np.array(["positive", "negative", "neutral"])
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["image_id", "feedback_type", "rating", "comment", "user_id", "created_at"])
        for i, (img, kind, rating) in enumerate(zip(rng.integers(0, len(image_ids), n), rng.integers(0, 3, n),
                                                    rng.integers(1, 6, n))):
            out.writerow([image_ids[img], kinds[kind], int(rating), "" if i % 3 else "lovely drape",
                          f"designer{i % users}", f"2026-11-{1 + i % 28:02d}T{i // 28 % 24:02d}:{i // 672 % 60:02d}:"
                                                  f"{i // 40320 % 60:02d}"])
    return path


def bench_feedback_import(n: int = 100_000, repeats: int = 2, users: int = 50, **_ignored) -> dict:
    """`bffkit feedback import` of `n` rows into a workspace holding a one-round tiny run.

    Baseline: parsing the same file with the csv module alone (the floor any validating import
    in Python sits on). Figures: import rows/s (read, validate, check images and ids, one
    transaction), its ratio to the baseline, a re-import (every row already stored) and the
    learning that follows (outliers, posteriors, one preference head per user).
    """
    from ..config import load_config
    from ..feedback import import_feedback
    from ..paths import DATA_DIR
    from ..pipeline import run
    from ..preferences import update_from_feedback
    from ..store import open_store

    with tempfile.TemporaryDirectory(prefix="bffkit-import-") as tmp, pinned():
        tmp = Path(tmp)
        cfg = load_config(DATA_DIR / "configs" / "tiny.yaml", {"rounds": 1, "feedback.source": "none"},
                          workspace=tmp / "template")
        run(cfg, progress=False, log=lambda _: None)
        image_ids = open_store(cfg.workspace).table("generated_images")["id"].tolist()
        path = write_feedback_csv(tmp / "feedback.csv", image_ids, n, users)

        def parse_only():
            with path.open(newline="", encoding="utf-8") as f:
                return sum(1 for _ in csv.DictReader(f))

        baseline = best_of(parse_only, repeats)
        seconds, learn_s, reimport_s = [], None, None
        for k in range(repeats):
            ws = tmp / f"ws{k}"
            shutil.copytree(cfg.workspace, ws)
            store = open_store(ws)
            t0 = time.perf_counter()
            report = import_feedback(store, path)
            seconds.append(time.perf_counter() - t0)
            assert report["stored"] == n, report  # distinct rows: every one stored
            if k == 0:
                t0 = time.perf_counter()
                update_from_feedback(store, report["users"])
                learn_s = time.perf_counter() - t0
                t0 = time.perf_counter()
                again = import_feedback(store, path)
                reimport_s = time.perf_counter() - t0
                assert again["stored"] == 0 and len(store.feedback()) == n
        best = min(seconds)
    return {"rows": n, "users": users, "import_rows_per_s": round(n / best), "import_seconds": round(best, 2),
            "parse_only_rows_per_s": round(n / baseline), "import_vs_parse_only": round(baseline / best, 3),
            "reimport_rows_per_s": round(n / reimport_s), "learn_seconds": round(learn_s, 2),
            "total_seconds": round(best + learn_s, 2)}

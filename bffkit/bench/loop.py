"""The learning loop end to end, with a simulated designer."""

from __future__ import annotations

import tempfile
import time


def bench_loop(persona: str | None = None, rounds: int = 3, config: str | None = None, n: int | None = None,
               **_ignored) -> dict:
    """The learning loop end to end: sketch backend, a simulated designer, `rounds` rounds of the
    demo request in a scratch workspace. Baseline: round 1 (nothing learned yet). Targets: the
    last round's thumbs-up rate >= round 1's + 25 points, its coverage >= round 1's - 0.02."""
    import logging

    from ..config import load_config, with_overrides
    from ..paths import DATA_DIR
    from ..pipeline import run

    overrides = {"rounds": rounds, "name": "bench-loop", "workspace": None, "feedback.source": "persona",
                 "feedback.persona": persona, "generate.target_count": n}
    with tempfile.TemporaryDirectory(prefix="bffkit-loop-") as ws:
        cfg = load_config(config or DATA_DIR / "configs" / "demo.yaml", {**overrides, "workspace": ws})
        if cfg.embed.model is None:
            cfg = with_overrides(cfg, {"embed.model": "sketch-clip"}, source="bench loop")
        logging.getLogger("bffkit").debug("bench loop config %s", cfg.name)
        t0 = time.perf_counter()
        result = run(cfg, progress=False, log=lambda _: None)
        seconds = time.perf_counter() - t0
    per_round = [{"round": r.round, "thumbs_up_rate": r.feedback["thumbs_up_rate"], "coverage": r.coverage["score"],
                  "coverage_selected": r.coverage["score_selected"], "outliers": r.feedback["n_outliers"],
                  "head_auc": r.feedback["head_auc"], "head_share": r.selection.get("head_share")}
                 for r in result.rounds]
    first, last = per_round[0], per_round[-1]
    gain = round(last["thumbs_up_rate"] - first["thumbs_up_rate"], 4)
    cov = round(last["coverage"] - first["coverage"], 4)
    from ..feedback import load_persona

    return {"persona": load_persona(persona).name, "rounds": per_round, "thumbs_up_gain": gain,
            "coverage_change": cov, "head_auc": last["head_auc"], "seconds": round(seconds, 1),
            "target": {"thumbs_up_gain": 0.25, "coverage_change": -0.02},
            "meets_target": gain >= 0.25 and cov >= -0.02}

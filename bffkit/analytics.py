"""Stage 8, analytics and recommendations over a time window (default 90 days).

Per round and per day: outlier rate, thumbs-up rate, coverage score, diversity (Vendi) score.
Per style profile: outlier rate with a Wilson 95% interval. Per detected attribute value:
outlier rate and lift over the overall rate, ranked by the lift's lower 95% bound. Recommendations carry their evidence, e.g.
"raise 'midi': outlier rate 41% vs 22% overall, n=34" — a value is recommended only when its
Wilson interval clears the overall rate — and "gap: 'houndstooth' never generated in 3 rounds".

Frames in, an :class:`Analytics` out; the analytics stage (:mod:`bffkit.stages.analytics`)
reads the frames from a store and caches the result.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field

import pandas as pd

from .tagging import DESIGN_ATTRIBUTES, detected_values

def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a rate k/n (0, 1 for n=0)."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class Analytics:
    window_days: int
    per_round: pd.DataFrame
    per_day: pd.DataFrame
    profiles: pd.DataFrame
    attributes: pd.DataFrame
    recommendations: list[dict] = field(default_factory=list)
    overall_outlier_rate: float | None = None
    overall_thumbs_up: float | None = None
    computed_at: float = field(default_factory=time.time)

    def to_dict(self) -> dict:
        def records(df: pd.DataFrame) -> list[dict]:
            return json.loads(df.to_json(orient="records", date_format="iso"))

        return {"window_days": self.window_days, "overall_outlier_rate": self.overall_outlier_rate,
                "overall_thumbs_up": self.overall_thumbs_up, "per_round": records(self.per_round),
                "per_day": records(self.per_day), "profiles": records(self.profiles),
                "attributes": records(self.attributes), "recommendations": self.recommendations}


def compute_analytics(frames: dict, window_days: int) -> Analytics:
    """Analytics from the rows of the last `window_days` (the store's ``analytics_frames``)."""
    fb, rounds, sel, cov, prof, gaps = (frames[k] for k in ("feedback", "rounds", "selection", "coverage",
                                                              "profiles", "gaps"))
    n_fb = len(fb)
    overall_out = float(fb["is_outlier"].mean()) if n_fb else None
    overall_up = float((fb["feedback_type"] == "positive").mean()) if n_fb else None
    # per round: feedback joined to its image's job
    if n_fb:
        g = fb.groupby(["run_id", "round"])
        fb_round = pd.DataFrame({"feedback": g.size(), "thumbs_up_rate": g["feedback_type"].apply(
            lambda s: (s == "positive").mean()), "outlier_rate": g["is_outlier"].mean()}).reset_index()
    else:
        fb_round = pd.DataFrame(columns=["run_id", "round", "feedback", "thumbs_up_rate", "outlier_rate"])
    per_round = rounds.merge(sel, on=["run_id", "round"], how="left").merge(cov, on=["run_id", "round"], how="left") \
        .merge(fb_round, on=["run_id", "round"], how="left")
    per_day = (fb.assign(day=pd.to_datetime(fb["created_at"]).dt.date).groupby("day")
               .agg(feedback=("id", "size"), thumbs_up_rate=("feedback_type", lambda s: (s == "positive").mean()),
                    outlier_rate=("is_outlier", "mean")).reset_index()) if n_fb else \
        pd.DataFrame(columns=["day", "feedback", "thumbs_up_rate", "outlier_rate"])
    # per style profile: the profile of each judged image's latest clustering
    if n_fb and len(prof):
        judged = fb.merge(prof, on="image_id", how="inner")
        gp = judged.groupby("profile")
        profiles = pd.DataFrame({"n": gp.size(), "outliers": gp["is_outlier"].sum().astype(int),
                                 "thumbs_up_rate": gp["feedback_type"].apply(lambda s: (s == "positive").mean())})
        profiles["outlier_rate"] = profiles["outliers"] / profiles["n"]
        ci = [wilson(int(k), int(n)) for k, n in zip(profiles["outliers"], profiles["n"])]
        profiles["ci_low"], profiles["ci_high"] = [c[0] for c in ci], [c[1] for c in ci]
        profiles = profiles.reset_index().sort_values("outlier_rate", ascending=False)
    else:
        profiles = pd.DataFrame(columns=["profile", "n", "outliers", "thumbs_up_rate", "outlier_rate", "ci_low",
                                         "ci_high"])
    # per detected attribute value
    rows = []
    for image_id, outlier, kind in zip(fb.get("image_id", []), fb.get("is_outlier", []), fb.get("feedback_type", [])):
        for a, v in detected_values(frames["detected"].get(image_id, {})).items():
            if a in DESIGN_ATTRIBUTES:
                rows.append((a, v, bool(outlier), kind == "positive"))
    if rows:
        df = pd.DataFrame(rows, columns=["attribute", "value", "outlier", "up"])
        ga = df.groupby(["attribute", "value"])
        attributes = pd.DataFrame({"n": ga.size(), "outliers": ga["outlier"].sum().astype(int),
                                   "thumbs_up_rate": ga["up"].mean()}).reset_index()
        attributes["outlier_rate"] = attributes["outliers"] / attributes["n"]
        attributes["lift"] = attributes["outlier_rate"] / overall_out if overall_out else float("nan")
        # ranked by the lift's lower 95% bound: a value seen once with one outlier (lift 2.3, bound
        # 0.1) ranks below one seen 30 times at lift 1.6 (bound 1.1)
        low = [wilson(int(k), int(n))[0] for k, n in zip(attributes["outliers"], attributes["n"])]
        attributes["lift_low"] = [x / overall_out for x in low] if overall_out else float("nan")
        attributes = attributes.sort_values(["lift_low", "lift", "n"], ascending=False)
    else:
        attributes = pd.DataFrame(columns=["attribute", "value", "n", "outliers", "thumbs_up_rate", "outlier_rate",
                                           "lift", "lift_low"])
    recs = _recommendations(attributes, profiles, gaps, overall_out, overall_up=overall_up,
                            n_rounds=int(rounds["round"].max() or 0) if len(rounds) else 0)
    return Analytics(window_days, per_round, per_day, profiles, attributes, recs, overall_out, overall_up)


def _recommendations(attributes: pd.DataFrame, profiles: pd.DataFrame, gaps: pd.DataFrame, overall: float | None,
                     n_rounds: int, min_n: int = 10, overall_up: float | None = None) -> list[dict]:
    """Raise/lower/style/gap recommendations, each with its evidence.

    The signal is the outlier rate; while no image has been an outlier yet (early rounds, a
    strict threshold) it is the thumbs-up rate, and the evidence says which.
    """
    recs = []
    use_up = not overall and overall_up is not None and len(attributes) and "thumbs_up_rate" in attributes
    base = overall_up if use_up else overall
    what = "thumbs-up rate" if use_up else "outlier rate"
    if base is not None and len(attributes):
        for r in attributes.itertuples(index=False):
            if r.n < min_n:
                continue
            rate = r.thumbs_up_rate if use_up else r.outlier_rate
            lo, hi = wilson(int(round(rate * r.n)), int(r.n))
            evidence = f"{what} {rate:.0%} vs {base:.0%} overall, n={r.n}"
            if lo > base + 1e-9:
                recs.append({"kind": "raise", "attribute": r.attribute, "value": r.value, "strength": lo - base,
                             "text": f"raise '{r.value}' ({r.attribute}): {evidence}"})
            elif hi < base - 1e-9:
                recs.append({"kind": "lower", "attribute": r.attribute, "value": r.value, "strength": base - hi,
                             "text": f"lower '{r.value}' ({r.attribute}): {evidence}"})
    if overall and len(profiles):
        for r in profiles.itertuples(index=False):
            if r.n >= min_n and r.ci_low > overall + 1e-9:
                recs.append({"kind": "style", "attribute": "style_profile", "value": r.profile,
                             "strength": r.ci_low - overall,
                             "text": f"more of the style '{r.profile}': outlier rate {r.outlier_rate:.0%} "
                                     f"(95% CI {r.ci_low:.0%}-{r.ci_high:.0%}) vs {overall:.0%} overall, n={r.n}"})
    if len(gaps):
        still = gaps[(gaps["status"] == "open")]
        for r in still.itertuples(index=False):
            rounds_open = (n_rounds - int(r.opened_round) + 1) if r.opened_round is not None else 1
            if r.observed == 0 and rounds_open >= 2:
                recs.append({"kind": "gap", "attribute": r.attribute, "value": r.value, "strength": rounds_open,
                             "text": f"gap: '{r.value}' ({r.attribute}) never generated in {rounds_open} rounds; "
                                     "widen the request or raise its prior"})
    recs.sort(key=lambda d: ({"raise": 0, "style": 1, "lower": 2, "gap": 3}[d["kind"]], -d["strength"]))
    return recs


EQUAL_RATES_WHY = ("The outlier rate equals the thumbs-up rate in every row, so one column is shown: an outlier "
                   "is a liked image whose calibrated alignment clears feedback.outlier_threshold, and every "
                   "liked image here cleared it.")


def fold_rates(frame: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    """`frame` with its outlier rate left out where it equals the thumbs-up rate row for row, and the why."""
    from .formatting import fold_equal_columns

    folded, same = fold_equal_columns(frame, "thumbs_up_rate", "outlier_rate")
    return folded, (EQUAL_RATES_WHY if same else None)


def lift_table(attributes: pd.DataFrame, min_support: int) -> pd.DataFrame:
    """The attribute values judged at least `min_support` times, by the lift's lower bound."""
    return attributes[attributes["n"] >= min_support] if len(attributes) else attributes

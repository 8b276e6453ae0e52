"""Numbers for people, folded equal columns, lift ranking, and the report folder's shared assets."""
from __future__ import annotations

import math

import pandas as pd

from bffkit.analytics import EQUAL_RATES_WHY, compute_analytics, fold_rates, lift_table
from bffkit.formatting import change, for_people, number, percent
from bffkit.report import cut_plotly_bundle, shared_stylesheet


def test_numbers_read_as_people_write_them():
    assert [number(x) for x in (0.4270833333333333, 8.8301, 1234.5, 1101, 48.0, 0.0077, None, math.nan)] == \
        ["0.427", "8.83", "1,234", "1,101", "48", "0.0077", "–", "–"]
    assert [percent(x) for x in (0.4270833, 1.0, 0.0, 0.043, 0.095)] == ["43%", "100%", "0%", "4.3%", "9.5%"]
    assert change(0.874, 0.84, as_percent=True) == "+3 pts" and change(8.83, 9.39) == "−0.56"
    assert change(0.5, 0.5, as_percent=True) == "±0 pts" and change(None, 1.0) == ""
    shown = for_people(pd.DataFrame({"round": [1, 2], "thumbs_up_rate": [0.27083, 0.5833], "diversity": [9.3871, 8.8]}))
    assert shown.to_dict("list") == {"round": ["1", "2"], "thumbs_up_rate": ["27%", "58%"], "diversity": ["9.39", "8.8"]}


def test_equal_rates_are_shown_once_with_the_reason():
    same = pd.DataFrame({"round": [1, 2], "thumbs_up_rate": [0.25, 0.5], "outlier_rate": [0.25, 0.5]})
    folded, why = fold_rates(same)
    assert list(folded.columns) == ["round", "thumbs_up_rate"] and why == EQUAL_RATES_WHY
    differ = same.assign(outlier_rate=[0.25, 0.4])
    kept, why = fold_rates(differ)
    assert list(kept.columns) == list(differ.columns) and why is None


def _frames(rows):
    """analytics_frames for judged images: (image id, detected pattern, outlier)."""
    fb = pd.DataFrame([{"id": f"e{k}", "image_id": i, "feedback_type": "positive" if out else "negative",
                        "is_outlier": out, "created_at": "2026-12-01", "run_id": "r", "round": 1}
                       for k, (i, _, out) in enumerate(rows)])
    detected = {i: {"pattern": {"value": v, "confidence": 0.9}} for i, v, _ in rows}
    empty = pd.DataFrame(columns=["run_id", "round"])
    return {"feedback": fb, "rounds": pd.DataFrame({"run_id": ["r"], "round": [1]}), "selection": empty,
            "coverage": empty, "profiles": pd.DataFrame(columns=["image_id", "profile"]),
            "gaps": pd.DataFrame(), "detected": detected}


def test_a_value_seen_once_does_not_top_the_lift_table():
    # 'plaid' once, an outlier (lift 2.5); 'solid' 30 times, 20 outliers (lift 1.67): 'solid' ranks first
    rows = [("p0", "plaid", True)] + [(f"s{k}", "solid", k < 20) for k in range(30)] + \
        [(f"f{k}", "floral", False) for k in range(49)]
    a = compute_analytics(_frames(rows), 90)
    assert a.attributes.iloc[0]["value"] == "solid" and a.attributes.iloc[0]["lift_low"] > 1
    plaid = a.attributes[a.attributes["value"] == "plaid"].iloc[0]
    assert plaid["lift"] > a.attributes.iloc[0]["lift"] and plaid["lift_low"] < 1
    assert "plaid" not in set(lift_table(a.attributes, 5)["value"]) and len(lift_table(a.attributes, 1)) == 3


def test_report_pages_share_one_plotly_js_and_one_stylesheet(tmp_path):
    bundle = "/** plotly.js v9 */ var Plotly={};" * 10
    page = (f"<html><head><style>body{{}}</style><style>.x{{}}</style></head><body>"
            f'<script type="text/javascript">{bundle}</script><div>figure</div></body></html>')
    cut, n = cut_plotly_bundle(page, bundle)
    assert n == 1 and bundle not in cut and "<div>figure</div>" in cut and "<script" not in cut
    slim = shared_stylesheet(cut, tmp_path)
    [css] = tmp_path.glob("notebook-*.css")
    assert css.read_text() == "body{}\n.x{}" and f'<link rel="stylesheet" href="{css.name}">' in slim
    assert "<style" not in slim and shared_stylesheet(cut, tmp_path) == slim  # the same name for the same css

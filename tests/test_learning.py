"""Stage 8: outliers, Beta posteriors, the preference head, Thompson steering, analytics."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bffkit.analytics import _recommendations, wilson
from bffkit.stages.analytics import analytics_for as analytics
from bffkit.coverage import coverage_targets
from bffkit.learning import (COVERAGE_MARGIN, STEERING_FLOOR, PreferenceHead, attribute_posteriors, combined_quality,
                             floored_factors, head_features, head_weight, predicted_lift, rating_pairs,
                             thompson_preferences)
from bffkit.prompts import sampling_weights


def synthetic_likes(n, d=64, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(d)
    X = rng.standard_normal((n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = (X @ w + 0.1 * rng.standard_normal(n) > 0).astype(int)
    return X.astype(np.float32), y


def test_head_learns_and_reports_held_out_auc():
    X, y = synthetic_likes(300)
    head = PreferenceHead().fit(X[:200], y[:200])
    assert head.fitted and head.cv_auc > 0.75 and head.C in (0.1, 1.0, 10.0)
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(y[200:], head.predict(X[200:])) > 0.75
    assert head_weight(head) == pytest.approx(0.5)  # 200 labels >= HEAD_FULL_AT: the full share


def test_head_reads_the_attribute_block_and_quality_blends_it():
    """Likes that follow an attribute value, with embeddings that carry no signal: the head
    learns them from the attribute block of head_features, and selection quality follows."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((240, 32)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    patterns = rng.choice(["floral", "solid", "stripes", "check"], 240)
    attrs = [{"category": "dress", "pattern": p} for p in patterns]
    y = ((patterns == "floral") ^ (rng.random(240) < 0.1)).astype(int)
    head = PreferenceHead().fit(head_features(X[:160], attrs[:160]), y[:160])
    assert head.cv_auc > 0.8
    q = combined_quality(np.full(80, 1.0), X[160:], head, attrs[160:])
    assert q[patterns[160:] == "floral"].mean() > q[patterns[160:] != "floral"].mean() + 0.2
    # a factor on quality: a poor image (a likely defect) stays at or under its own quality, liked or not
    poor = combined_quality(np.full(80, 0.2), X[160:], head, attrs[160:])
    assert (poor <= 0.2 + 1e-12).all() and np.allclose(poor, 0.2 * q)
    assert np.allclose(q, head.predict(head_features(X[160:], attrs[160:])) ** (2 * head_weight(head)))
    stale = PreferenceHead(weights=np.ones(32, np.float32), cv_auc=0.9, n=100)  # an older, embedding-only layout
    assert (combined_quality(np.full(80, 0.5), X[160:], stale, attrs[160:]) == 0.5).all()


def test_head_uses_bradley_terry_pairs():
    X, y = synthetic_likes(120, seed=1)
    score = X @ np.random.default_rng(1).standard_normal(64)
    pairs = [(i, j) if score[i] > score[j] else (j, i) for i, j in zip(range(0, 60), range(60, 120))]
    with_pairs = PreferenceHead().fit(X, y, pairs)
    assert with_pairs.n_pairs == 60 and with_pairs.fitted


def test_head_needs_both_classes_and_then_weighs_by_evidence():
    X, _ = synthetic_likes(20)
    head = PreferenceHead().fit(X, np.ones(20, int))
    assert not head.fitted and head_weight(head) == 0
    assert (head.predict(X) == 0.5).all()
    weak = PreferenceHead(weights=np.zeros(64, np.float32), cv_auc=0.55, n=50)
    assert head_weight(weak) == 0  # not better than chance: ignored


def test_rating_pairs_from_one_users_ratings():
    frame = pd.DataFrame({"user_id": ["a", "a", "a", "b"], "image_id": ["x", "y", "z", "x"],
                          "rating": [5, 2, 5, 1]})
    pairs = rating_pairs(frame, {"x": 0, "y": 1, "z": 2})
    assert sorted(pairs) == [(0, 1), (2, 1)]


def test_posteriors_and_thompson_floor(tax):
    feedback = pd.DataFrame({"id": [f"f{i}" for i in range(40)], "image_id": [f"i{i}" for i in range(40)],
                             "feedback_type": ["positive"] * 20 + ["negative"] * 20})
    detected = {f"i{i}": {"pattern": "solid" if i < 20 else "floral", "category": "dress"} for i in range(40)}
    post = attribute_posteriors(feedback, detected, outlier_ids={"f0", "f1"})
    solid = post[(post["attribute"] == "pattern") & (post["value"] == "solid")].iloc[0]
    assert (solid["alpha"], solid["beta"], solid["n"], solid["outlier_count"]) == (21, 1, 20, 2)
    draws = [thompson_preferences(post, tax, np.random.default_rng(s), fixed={"category"}) for s in range(50)]
    assert all("category" not in d for d in draws)
    solid_f = np.mean([d["pattern"]["solid"] for d in draws])
    floral_f = np.mean([d["pattern"]["floral"] for d in draws])
    assert solid_f > 1.5 and floral_f < STEERING_FLOOR + 0.1  # pushed down to the floor
    assert min(min(d["pattern"].values()) for d in draws) >= STEERING_FLOOR - 1e-4  # the coverage floor
    prior = np.array([v.weight for v in tax["pattern"].values])
    for d in draws[:5]:  # redistributed, not inflated: the prior-weighted mean factor is 1
        assert np.isclose(prior @ np.array(list(d["pattern"].values())) / prior.sum(), 1, atol=1e-3)
    lift = predicted_lift(post, tax, draws[0])
    assert lift["pattern"] > 0
    # with coverage targets, a disliked value keeps COVERAGE_MARGIN x its target of the draws
    targets = coverage_targets(tax, fixed={"category"})
    steered = [thompson_preferences(post, tax, np.random.default_rng(s), fixed={"category"}, targets=targets)
               for s in range(50)]
    for d in steered:
        w = sampling_weights("pattern", tax, preferences=d)
        least = [COVERAGE_MARGIN * targets[("pattern", v)] / tax["pattern"].sample_rate for v in tax["pattern"].value_names]
        assert np.all(w / w.sum() >= np.array(least) * (1 - 1e-3))  # factors are stored to 4 places
    floral_share = np.mean([d["pattern"]["floral"] for d in steered]) * prior[tax["pattern"].value_names.index("floral")] / prior.sum()
    assert floral_share == pytest.approx(COVERAGE_MARGIN * targets[("pattern", "floral")], rel=0.05)
    # still steered to what is liked, within the room the floors leave: every print at 4.7% of the
    # draws leaves solid at most 30%, 1.5x its prior share
    assert np.mean([d["pattern"]["solid"] for d in steered]) > 1.25


def test_floored_factors_keep_every_value_a_floor_share_of_the_draws():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(2, 30))
        raw, prior = rng.gamma(0.3, size=n) ** 2, rng.uniform(0.2, 3, size=n)
        floor = float(rng.uniform(0, 0.95))
        f = floored_factors(raw, prior, floor)
        share, prior_share = prior * f / (prior * f).sum(), prior / prior.sum()
        assert np.isclose((prior_share * f).sum(), 1) and np.all(share >= floor * prior_share - 1e-9)
        free = f > floor + 1e-9  # above the floor, the raw ratios are kept
        if free.sum() >= 2:
            np.testing.assert_allclose(f[free] / raw[free], (f[free] / raw[free])[0])
    # flooring the raw ratios alone (the old rule) left a disliked value ~0.2 of its prior share
    raw = np.array([4.0, 3.0, 0.01, 0.01])
    assert floored_factors(raw, np.ones(4), 0.35)[2] == 0.35
    # one floor per value; floors that take every draw leave the floors' own proportions
    f = floored_factors(raw, np.ones(4), np.array([0.2, 0.2, 0.9, 0.5]))
    assert f[2] == pytest.approx(0.9) and f[3] == pytest.approx(0.5) and np.isclose(f.mean(), 1)
    np.testing.assert_allclose(floored_factors(raw, np.ones(4), np.array([1.0, 1.0, 2.0, 4.0])), [0.5, 0.5, 1, 2])
    np.testing.assert_allclose(floored_factors(raw, np.ones(4), 1.0), np.ones(4))


def test_wilson_interval():
    lo, hi = wilson(41, 100)
    assert 0.31 < lo < 0.41 < hi < 0.51
    assert wilson(0, 0) == (0.0, 1.0)


def test_recommendations_carry_evidence():
    attrs = pd.DataFrame({"attribute": ["length", "pattern", "pattern"], "value": ["midi", "floral", "solid"],
                          "n": [34, 40, 5], "outliers": [20, 2, 5], "thumbs_up_rate": [0.7, 0.2, 1.0]})
    attrs["outlier_rate"] = attrs["outliers"] / attrs["n"]
    profiles = pd.DataFrame(columns=["profile", "n", "outliers", "outlier_rate", "ci_low", "ci_high"])
    gaps = pd.DataFrame({"attribute": ["pattern"], "value": ["houndstooth"], "status": ["open"], "observed": [0.0],
                         "opened_round": [1]})
    recs = _recommendations(attrs, profiles, gaps, overall=0.22, n_rounds=3)
    texts = [r["text"] for r in recs]
    assert texts[0] == "raise 'midi' (length): outlier rate 59% vs 22% overall, n=34"
    assert any(t.startswith("lower 'floral' (pattern): outlier rate 5% vs 22% overall, n=40") for t in texts)
    assert not any("solid" in t for t in texts)  # n=5: too little evidence
    assert any(t.startswith("gap: 'houndstooth' (pattern) never generated in 3 rounds") for t in texts)


@pytest.mark.slow  # an end-to-end run
def test_main_job_learns_from_the_persona_and_analytics_caches(cli, workspace, tmp_path, tiny_clip):
    import json

    import yaml

    from bffkit.feedback import make_event, record_feedback
    from bffkit.store import open_store

    from .conftest import TINY

    data = yaml.safe_load(TINY.read_text())
    data.update(embed={"model": f"local-dir:{tiny_clip[1]}"}, rounds=3, feedback={"source": "persona"})
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(data))
    code, out, err = cli("run", "--no-notebooks", "--config", config, "--workspace", workspace, "--json")
    assert code == 0, err
    rounds = json.loads(out)["rounds"]
    assert "round 1 · feedback: (persona) 8 events" in err and "steered by feedback on" in err
    assert [r["feedback"]["n_events"] for r in rounds] == [8, 8, 8]
    assert rounds[0]["steering"] is None and rounds[1]["steering"]
    assert not set(rounds[1]["steering"]) & {"primary_color", "length", "category"}  # fixed by the request
    store = open_store(workspace)
    # the simulated designer's judgements are under its own user, never the designer's
    assert store.feedback("tester").empty
    fb = store.feedback("tester@minimalist")
    assert len(fb) == 24 and set(fb["source"]) == {"persona"}
    assert len(store.table("vlt_attribute_success")) > 0
    updates = store.table("learning_updates")
    assert len(updates) == 3 and set(updates["user_id"]) == {"tester@minimalist"}
    impact = updates.sort_values("created_at").iloc[-1]["impact"]
    assert impact["n_feedback"] == 24 and "predicted_lift" in impact
    # analytics over the run, cached until new feedback arrives
    a1 = analytics(store, 90)
    assert a1.per_round["round"].tolist() == [1, 2, 3] and a1.per_round["feedback"].tolist() == [8, 8, 8]
    assert {"coverage", "diversity", "thumbs_up_rate", "outlier_rate"} <= set(a1.per_round.columns)
    assert analytics(store, 90) is a1
    image = fb["image_id"].iloc[0]
    assert record_feedback(workspace, make_event({"image_id": image, "feedback_type": "positive"}, user_id="tester"),
                           learn=True) == "stored"
    a2 = analytics(store, 90)
    assert a2 is not a1 and a2.per_round["feedback"].sum() == 25
    assert len(store.table("learning_updates")) == 4  # learning followed the single event
    code, out, _ = cli("analytics", "--workspace", workspace, "--json")
    assert code == 0 and json.loads(out)["per_round"][0]["round"] == 1


def test_outliers_are_liked_and_aligned(cli, workspace):
    from bffkit.preferences import update_from_feedback
    from bffkit.store import open_store

    from .conftest import TINY

    assert cli("generate", "--config", TINY, "--workspace", workspace)[0] == 0
    store = open_store(workspace)
    ids = store.table("generated_images")["id"].tolist()[:3]
    tags = {"pattern": {"value": "solid", "confidence": 0.9}}
    store.save_image_tags("m", [{"image_id": i, "detected": tags, "alignment": a, "quality": a}
                                for i, a in zip(ids, (0.9, 0.5, 0.95))])
    store.add_feedback_events([{"id": f"f{k}", "user_id": "u", "image_id": i, "feedback_type": t, "source": "api",
                                "created_at": "2026-11-26T10:00:00+00:00"}
                               for k, (i, t) in enumerate(zip(ids, ("positive", "positive", "negative")))])
    update_from_feedback(store, ["u"], model_id="m", threshold=0.75)
    out = store.table("outliers")
    assert out["image_id"].tolist() == [ids[0]] and out["confidence"].tolist() == [0.9]
    assert not out["used_for_training"].any()
    fb = store.feedback("u").set_index("id")
    assert fb.loc["f0", "is_outlier"] and not fb.loc["f1", "is_outlier"] and not fb.loc["f2", "is_outlier"]
    success = store.table("vlt_attribute_success").set_index("value")
    assert success.loc["solid", "n"] == 3 and success.loc["solid", "outlier_count"] == 1
    assert (success.loc["solid", "alpha"], success.loc["solid", "beta"]) == (3, 2)
    from bffkit.stages.prompts import steering_for_next_round
    from bffkit.taxonomy import load_taxonomy

    steering_for_next_round(store, "u", "m", load_taxonomy())
    assert store.table("outliers")["used_for_training"].all()

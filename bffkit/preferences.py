"""Learning from stored feedback: outliers, attribute posteriors, preference heads, learning updates.

The algorithms are :mod:`bffkit.learning`'s (arrays and frames in, out); this module reads what
they need from a workspace store and writes back what they found. The feedback stage, the
widget grid and ``bffkit feedback import`` all learn through :func:`update_from_feedback`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from tqdm.auto import tqdm

from .learning import (PreferenceHead, attribute_posteriors, head_features, predicted_lift, rating_pairs,
                       thompson_preferences)
from .store import ids
from .tagging import detected_values
from .taxonomy import load_taxonomy


def stored_head(store, user_id: str, model_id: str) -> PreferenceHead | None:
    """The user's stored preference head for a model, or None."""
    row = store.preference_head(user_id, model_id)
    return None if row is None else PreferenceHead(**row)


def detected_by_image(store, image_ids: Sequence[str], model_id: str | None) -> tuple[dict, dict]:
    """(image -> detected attribute values, image -> calibrated alignment) from the latest tags."""
    tags = store.latest_tags(image_ids, model_id)
    detected = {r["image_id"]: detected_values(r["detected"]) for r in tags}
    alignment = {r["image_id"]: r["alignment"] for r in tags}
    return detected, alignment


def requested_by_image(store, image_ids: Sequence[str]) -> dict[str, dict[str, str]]:
    """image -> the attribute values its prompt asked for."""
    images = store.images_by_id(list(image_ids))
    return {i: r["vlt_attributes"] or {} for i, r in images.items()}


def fit_head(store, user_id: str, model_id: str, seed: int = 0) -> PreferenceHead:
    """The user's preference head on `model_id` embeddings (plus attributes), from all their thumbs and ratings."""
    fb = store.feedback(user_id)
    fb = fb[fb["feedback_type"] != "neutral"].drop_duplicates("image_id", keep="last")
    head = PreferenceHead()
    if fb.empty:
        return head
    shas = store.image_shas(fb["image_id"].tolist())
    vectors = store.get_embeddings(model_id, list(shas.values()))
    fb = fb[[shas.get(i) in vectors for i in fb["image_id"]]]
    if fb.empty:
        return head
    requested = requested_by_image(store, fb["image_id"].tolist())
    X = head_features(np.stack([vectors[shas[i]] for i in fb["image_id"]]), [requested.get(i) for i in fb["image_id"]])
    y = (fb["feedback_type"] == "positive").to_numpy().astype(int)
    row_of = {i: k for k, i in enumerate(fb["image_id"])}
    return head.fit(X, y, rating_pairs(store.feedback(user_id), row_of, seed=seed), seed=seed)


def update_from_feedback(store, user_ids: Sequence[str], *, model_id: str | None = None, threshold: float = 0.75,
                         taxonomy=None, progress: bool = False) -> dict:
    """After feedback arrives: mark outliers, refresh posteriors and the head, log a learning update."""
    tax = taxonomy or load_taxonomy()
    feedback = store.feedback()
    if feedback.empty:
        return {}
    detected, alignment = detected_by_image(store, feedback["image_id"].unique().tolist(), model_id)
    # 1. Outliers: liked, and aligned with what was asked
    liked = feedback[(feedback["feedback_type"] == "positive")]
    outliers = [(fid, img, uid, alignment[img]) for fid, img, uid in zip(liked["id"], liked["image_id"],
                                                                       liked["user_id"])
                if alignment.get(img) is not None and alignment[img] >= threshold]
    store.save_outliers(outliers)
    # 2. Posteriors per detected attribute value
    post = attribute_posteriors(feedback, detected, {o[0] for o in outliers})
    store.save_attribute_success(post)
    store.refresh_style_profile_success()
    # 3. Preference heads and the learning update, per user who gave feedback
    summary = {}
    model_id = model_id or store.latest_tag_model()
    for uid in tqdm(list(dict.fromkeys(user_ids)), disable=None if progress else True, unit="user", desc="learn",
                    leave=False):
        head = fit_head(store, uid, model_id) if model_id else PreferenceHead()
        if head.fitted:
            store.save_preference_head(uid, model_id, head)
        mine = feedback[feedback["user_id"] == uid]
        upost = attribute_posteriors(mine, requested_by_image(store, mine["image_id"].unique().tolist()))
        judged = upost[upost["n"] >= 3].sort_values("mean")
        prefs = thompson_preferences(upost, tax, np.random.default_rng(len(mine)))
        lift = predicted_lift(upost, tax, prefs) if len(upost) else {}
        patterns = {
            "top_positive": [{"attribute": a, "value": v, "mean": round(m, 3), "n": int(n)} for a, v, m, n in
                             judged[::-1][["attribute", "value", "mean", "n"]].head(5).itertuples(index=False)],
            "top_negative": [{"attribute": a, "value": v, "mean": round(m, 3), "n": int(n)} for a, v, m, n in
                             judged[["attribute", "value", "mean", "n"]].head(5).itertuples(index=False)],
        }
        impact = {"n_feedback": int(len(mine)), "thumbs_up_rate": round(float((mine["feedback_type"] == "positive").mean()), 4),
                  "n_outliers": sum(1 for o in outliers if o[2] == uid),
                  "predicted_lift": round(float(np.mean(list(lift.values()))), 4) if lift else 0.0,
                  "lift_by_attribute": dict(sorted(lift.items(), key=lambda kv: -kv[1])[:5]),
                  "head_auc": head.cv_auc, "head_n": head.n, "head_pairs": head.n_pairs}
        store.add_learning_update(ids.new_id(), "feedback", patterns, impact, uid)
        summary[uid] = {"patterns": patterns, "impact": impact}
    return summary

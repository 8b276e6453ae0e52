"""Designer feedback, outliers, what learning fitted, and the rows analytics reads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import StoreError
from .connection import Connection, decoded, encode_json
from .ids import new_id
from .schema import FEEDBACK_TYPES

INSERT_FEEDBACK = """
INSERT INTO user_feedback (id, user_id, image_id, feedback_type, rating, comment, is_outlier, source)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)"""

FEEDBACK_CONTENT = """
SELECT id, user_id, image_id, feedback_type, rating, comment FROM user_feedback WHERE id IN (SELECT unnest(?))"""

EXISTING_FEEDBACK = "SELECT id FROM user_feedback WHERE id IN (SELECT unnest(?))"

INSERT_FEEDBACK_FROM = """
INSERT INTO user_feedback (id, user_id, image_id, feedback_type, rating, comment, is_outlier, source, created_at)
SELECT id, user_id, image_id, feedback_type, CAST(rating AS INTEGER), comment, false, source,
       CAST(created_at AS TIMESTAMPTZ)::TIMESTAMP
FROM new_feedback WHERE id NOT IN (SELECT id FROM user_feedback)"""

SELECT_FEEDBACK = "SELECT * FROM user_feedback WHERE (? IS NULL OR user_id = ?) ORDER BY created_at, id"

INSERT_OUTLIERS_FROM = """
INSERT INTO outliers (id, image_id, feedback_id, confidence, user_id)
SELECT id, image_id, id, confidence, user_id FROM new_outliers
ON CONFLICT (id) DO UPDATE SET confidence = excluded.confidence"""

MARK_OUTLIERS_FROM = "UPDATE user_feedback SET is_outlier = true WHERE id IN (SELECT id FROM new_outliers)"

DELETE_ATTRIBUTE_SUCCESS = "DELETE FROM vlt_attribute_success"

INSERT_ATTRIBUTE_SUCCESS_FROM = """
INSERT INTO vlt_attribute_success (attribute, value, n, outlier_count, outlier_rate, alpha, beta)
SELECT attribute, value, CAST(n AS INTEGER), CAST(outlier_count AS INTEGER), outlier_rate, alpha, beta
FROM new_success"""

UPSERT_HEAD = """
INSERT OR REPLACE INTO preference_heads (user_id, model, weights, bias, c, cv_auc, n, n_pairs)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)"""

GET_HEAD = "SELECT weights, bias, c, cv_auc, n, n_pairs FROM preference_heads WHERE user_id = ? AND model = ?"

INSERT_LEARNING_UPDATE = """
INSERT INTO learning_updates (id, update_type, patterns, impact, user_id) VALUES (?, ?, ?, ?, ?)"""

SELECT_LEARNING_UPDATES = ("SELECT * FROM learning_updates WHERE (? IS NULL OR user_id = ?) "
                           "ORDER BY created_at, id")
USER_FEEDBACK_PAGE = """
SELECT id, image_id, feedback_type, rating, comment, source, is_outlier, created_at FROM user_feedback
WHERE user_id = ? ORDER BY created_at DESC, id LIMIT ? OFFSET ?"""
COUNT_USER_FEEDBACK = "SELECT count(*) FROM user_feedback WHERE user_id = ?"
USER_FEEDBACK_EVENT = """
SELECT id, image_id, feedback_type, rating, comment, source, is_outlier, created_at FROM user_feedback
WHERE user_id = ? AND id = ?"""
USER_OUTLIERS = """
SELECT o.id, o.image_id, o.feedback_id, o.confidence, o.used_for_training, o.created_at FROM outliers o
WHERE o.user_id = ? ORDER BY o.created_at DESC, o.id LIMIT ? OFFSET ?"""
COUNT_USER_OUTLIERS = "SELECT count(*) FROM outliers WHERE user_id = ?"
USER_VERDICTS = """
SELECT image_id, arg_max(feedback_type, created_at), arg_max(comment, created_at) FROM user_feedback
WHERE user_id = ? AND image_id IN (SELECT unnest(?)) GROUP BY image_id"""
FEEDBACK_STAMP = "SELECT count(*), max(created_at) FROM user_feedback"

ANALYTICS_QUERIES = {
    "feedback": """
        SELECT f.id, f.image_id, f.user_id, f.feedback_type, f.rating, f.is_outlier, f.created_at, j.run_id, j.round
        FROM user_feedback f JOIN generated_images i ON i.id = f.image_id JOIN generation_jobs j ON j.id = i.job_id
        WHERE f.created_at >= now()::TIMESTAMP - to_days(CAST(? AS INTEGER))""",
    "rounds": """
        SELECT run_id, round, id AS job_id, n_done AS generated, n_failed AS failed,
               CASE WHEN n_done + n_failed > 0 THEN n_done / (n_done + n_failed) END AS success_rate, created_at
        FROM generation_jobs WHERE created_at >= now()::TIMESTAMP - to_days(CAST(? AS INTEGER))
        ORDER BY created_at, round""",
    "selection": """
        SELECT j.run_id, s.round, s.vendi_score AS diversity, s.mean_quality, json_array_length(s.selected_ids) AS selected
        FROM current_selections s JOIN generation_jobs j ON j.id = s.batch_id
        WHERE s.created_at >= now()::TIMESTAMP - to_days(CAST(? AS INTEGER))""",
    "coverage": """
        SELECT batch_id AS run_id, round, score AS coverage, score_selected AS coverage_selected
        FROM coverage_reports WHERE created_at >= now()::TIMESTAMP - to_days(CAST(? AS INTEGER))""",
    "profiles": """
        SELECT a.image_id, arg_max(p.name, r.created_at) AS profile
        FROM cluster_assignments a JOIN current_clusterings r ON r.id = a.result_id
        JOIN style_profiles p ON p.result_id = a.result_id AND p.cluster_id = a.cluster_id
        WHERE r.created_at >= now()::TIMESTAMP - to_days(CAST(? AS INTEGER))
        GROUP BY a.image_id""",
    "gaps": """
        SELECT * FROM attribute_gaps WHERE opened_at >= now()::TIMESTAMP - to_days(CAST(? AS INTEGER))""",
}


class FeedbackTables(Connection):
    """The store's methods for designer feedback, outliers, what learning fitted, and the rows analytics reads."""

    def add_feedback(self, *, user_id: str, image_id: str, feedback_type: str, rating: int | None = None,
                     comment: str | None = None, is_outlier: bool = False, source: str = "api",
                     feedback_id: str | None = None) -> str:
        """Record one feedback event; returns its id."""
        if feedback_type not in FEEDBACK_TYPES:
            raise StoreError(f"feedback_type={feedback_type!r}: must be one of {', '.join(FEEDBACK_TYPES)}")
        if rating is not None and not (isinstance(rating, int) and 1 <= rating <= 5):
            raise StoreError(f"rating={rating!r}: must be an integer in [1, 5]")
        feedback_id = feedback_id or new_id()
        with self.transaction() as con:
            con.execute(INSERT_FEEDBACK, [feedback_id, user_id, image_id, feedback_type, rating, comment,
                                          is_outlier, source])
        return feedback_id

    def add_feedback_events(self, events: Sequence[dict[str, Any]]) -> list[str]:
        """Store feedback events (dicts with id, user_id, image_id, feedback_type, rating, comment,
        source, created_at) in one transaction; ids already stored are skipped. Returns the new ids."""
        if not events:
            return []
        frame = pd.DataFrame([{k: e.get(k) for k in ("id", "user_id", "image_id", "feedback_type", "rating", "comment",
                                                        "source", "created_at")} for e in events])
        frame["rating"] = frame["rating"].astype("Int64")
        frame = frame.drop_duplicates("id")
        with self.transaction() as con:
            old = {r[0] for r in con.execute(EXISTING_FEEDBACK, [frame["id"].tolist()]).fetchall()}
            con.register("new_feedback", frame)
            con.execute(INSERT_FEEDBACK_FROM)
        return [i for i in frame["id"] if i not in old]

    def feedback_content(self, feedback_ids: Sequence[str]) -> dict[str, tuple]:
        """id -> (user_id, image_id, feedback_type, rating, comment) of the ids already stored."""
        with self.connect() as con:
            rows = con.execute(FEEDBACK_CONTENT, [list(feedback_ids)]).fetchall()
        return {r[0]: tuple(r[1:]) for r in rows}

    def feedback(self, user_id: str | None = None) -> pd.DataFrame:
        with self.connect() as con:
            return decoded(con.execute(SELECT_FEEDBACK, [user_id, user_id]))

    def user_feedback_page(self, user_id: str, *, limit: int, offset: int = 0) -> tuple[int, list[dict[str, Any]]]:
        """(total, one page of one user's feedback, newest first)."""
        with self.connect() as con:
            total = int(con.execute(COUNT_USER_FEEDBACK, [user_id]).fetchone()[0])
            return total, decoded(con.execute(USER_FEEDBACK_PAGE, [user_id, limit, offset])).to_dict("records")

    def user_feedback_event(self, user_id: str, feedback_id: str) -> dict[str, Any] | None:
        """One of a user's feedback events by id; None if it is not theirs or not stored."""
        with self.connect() as con:
            frame = decoded(con.execute(USER_FEEDBACK_EVENT, [user_id, feedback_id]))
        return None if frame.empty else frame.iloc[0].to_dict()

    def user_verdicts(self, user_id: str, image_ids: Sequence[str]) -> dict[str, tuple[str, str | None]]:
        """image id -> (feedback type, comment) of one user's latest judgement of each image."""
        with self.connect() as con:
            rows = con.execute(USER_VERDICTS, [user_id, list(image_ids)]).fetchall()
        return {i: (kind, comment) for i, kind, comment in rows}

    def user_outliers(self, user_id: str, *, limit: int, offset: int = 0) -> tuple[int, list[dict[str, Any]]]:
        """(total, one page of the outliers one user's feedback made, newest first)."""
        with self.connect() as con:
            total = int(con.execute(COUNT_USER_OUTLIERS, [user_id]).fetchone()[0])
            return total, decoded(con.execute(USER_OUTLIERS, [user_id, limit, offset])).to_dict("records")

    def save_outliers(self, outliers: Sequence[tuple[str, str, str, float]]) -> None:
        """(feedback id, image id, user id, confidence) per outlier; the feedback row is marked too."""
        if not outliers:
            return
        frame = pd.DataFrame([(fid, image_id, float(confidence), user_id) for fid, image_id, user_id, confidence
                              in dict(((o[0], o) for o in outliers)).values()],
                             columns=["id", "image_id", "confidence", "user_id"])
        with self.transaction() as con:  # one statement each, not two per row: a big import has thousands
            con.register("new_outliers", frame)
            con.execute(INSERT_OUTLIERS_FROM)
            con.execute(MARK_OUTLIERS_FROM)

    def outlier_ids(self, user_id: str) -> list[str]:
        with self.connect() as con:
            return [r[0] for r in con.execute("SELECT id FROM outliers WHERE user_id = ?", [user_id]).fetchall()]

    def outlier_image_ids(self, image_ids: Sequence[str]) -> set[str]:
        with self.connect() as con:
            return {r[0] for r in con.execute("SELECT DISTINCT image_id FROM outliers WHERE image_id IN "
                                              "(SELECT unnest(?))", [list(image_ids)]).fetchall()}

    def mark_outliers_used(self, outlier_ids: Sequence[str]) -> None:
        with self.transaction() as con:
            con.execute("UPDATE outliers SET used_for_training = true WHERE id IN (SELECT unnest(?))",
                        [list(outlier_ids)])

    def save_attribute_success(self, posteriors: pd.DataFrame) -> None:
        with self.transaction() as con:
            con.execute(DELETE_ATTRIBUTE_SUCCESS)
            if len(posteriors):
                con.register("new_success", posteriors)
                con.execute(INSERT_ATTRIBUTE_SUCCESS_FROM)

    def save_preference_head(self, user_id: str, model_id: str, head) -> None:
        with self.transaction() as con:
            con.execute(UPSERT_HEAD, [user_id, model_id, head.weights.astype(float).tolist(), head.bias, head.C,
                                      head.cv_auc, head.n, head.n_pairs])

    def preference_head(self, user_id: str, model_id: str) -> dict[str, Any] | None:
        """The user's stored preference head for a model: weights (float32 array), bias, C, cv_auc,
        n, n_pairs; None when none was fitted."""
        with self.connect() as con:
            row = con.execute(GET_HEAD, [user_id, model_id]).fetchone()
        if row is None:
            return None
        return {"weights": np.asarray(row[0], dtype=np.float32), "bias": row[1], "C": row[2], "cv_auc": row[3],
                "n": row[4], "n_pairs": row[5]}

    def add_learning_update(self, update_id: str, update_type: str, patterns: dict, impact: dict,
                            user_id: str | None) -> None:
        with self.transaction() as con:
            con.execute(INSERT_LEARNING_UPDATE, [update_id, update_type, encode_json(patterns), encode_json(impact), user_id])

    def learning_updates(self, user_id: str | None = None) -> pd.DataFrame:
        """Learning updates, oldest first (``patterns`` and ``impact`` decoded), one user's or all."""
        with self.connect() as con:
            return decoded(con.execute(SELECT_LEARNING_UPDATES, [user_id, user_id]))

    def feedback_stamp(self) -> tuple:
        """(count, latest timestamp) of feedback: changes whenever feedback arrives."""
        with self.connect() as con:
            return tuple(con.execute(FEEDBACK_STAMP).fetchone())

    def analytics_frames(self, window_days: int) -> dict[str, Any]:
        """The rows analytics needs from the last `window_days`, one DataFrame per kind."""
        with self.connect() as con:
            out = {k: decoded(con.execute(q, [window_days])) for k, q in ANALYTICS_QUERIES.items()}
        ids = out["feedback"]["image_id"].unique().tolist()
        out["detected"] = {r["image_id"]: r["detected"] for r in self.latest_tags(ids)} if ids else {}
        return out

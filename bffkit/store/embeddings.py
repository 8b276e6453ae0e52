"""Embeddings keyed by (image sha256, model), per-image tags and scores, model calibrations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import StoreError
from .connection import Connection, decoded, encode_json

INSERT_EMBEDDINGS_FROM = """
INSERT INTO image_embeddings (sha256, model, dim, embedding)
SELECT sha256, model, CAST(dim AS INTEGER), CAST(embedding AS FLOAT[]) FROM new_embeddings
ON CONFLICT (sha256, model) DO NOTHING"""

SELECT_EMBEDDINGS = """
SELECT sha256, embedding FROM image_embeddings WHERE model = ? AND sha256 IN (SELECT unnest(?))"""

UPSERT_TAGS_FROM = """
INSERT OR REPLACE INTO image_tags (image_id, model, detected, adherence, clip_score, alignment, quality, artefact,
                                   duplicate_of)
SELECT image_id, model, CAST(detected AS JSON), adherence, clip_score, alignment, quality, artefact,
       CAST(duplicate_of AS VARCHAR) FROM new_tags"""

SELECT_TAGS = "SELECT * FROM image_tags WHERE model = ? AND image_id IN (SELECT unnest(?))"

LATEST_TAGS = """
SELECT image_id, arg_max(detected, created_at) AS detected, arg_max(alignment, created_at) AS alignment
FROM image_tags WHERE image_id IN (SELECT unnest(?)) AND (? IS NULL OR model = ?) GROUP BY image_id"""

LATEST_TAG_MODEL = "SELECT model FROM image_tags ORDER BY created_at DESC LIMIT 1"
JOB_TAG_MODEL = """
SELECT t.model FROM image_tags t JOIN generated_images i ON i.id = t.image_id WHERE i.job_id = ?
GROUP BY t.model ORDER BY max(t.created_at) DESC LIMIT 1"""

CALIBRATION_COLUMNS = ("model", "a", "b", "n_pairs", "match_auc", "artefact_a", "artefact_b", "artefact_auc",
                       "near_miss_cos", "near_miss_auc", "near_miss_a")

GET_CALIBRATION = f"SELECT {', '.join(CALIBRATION_COLUMNS)} FROM model_calibration WHERE model = ?"

PUT_CALIBRATION = (f"INSERT OR REPLACE INTO model_calibration ({', '.join(CALIBRATION_COLUMNS)}) "
                   f"VALUES ({', '.join('?' * len(CALIBRATION_COLUMNS))})")


class EmbeddingsTables(Connection):
    """The store's methods for embeddings keyed by (image sha256, model), per-image tags and scores, model calibrations."""

    def get_embeddings(self, model_id: str, shas: Sequence[str]) -> dict[str, np.ndarray]:
        """Cached embeddings for these image hashes under one model id (missing ones absent)."""
        if not shas:
            return {}
        with self.connect() as con:
            found = con.execute(SELECT_EMBEDDINGS, [model_id, list(dict.fromkeys(shas))]).fetchnumpy()
        return {sha: np.asarray(vec, dtype=np.float32) for sha, vec in zip(found["sha256"], found["embedding"])}

    def put_embeddings(self, model_id: str, shas: Sequence[str], vectors: np.ndarray) -> int:
        """Store embeddings (one row per sha) under a model id; existing ones are kept."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(shas):
            raise StoreError(f"embeddings of shape {vectors.shape} do not match {len(shas)} image hashes")
        frame = pd.DataFrame({"sha256": list(shas), "model": model_id, "dim": vectors.shape[1],
                              "embedding": list(vectors)})
        with self.transaction() as con:
            con.register("new_embeddings", frame)
            return int(con.execute(INSERT_EMBEDDINGS_FROM).fetchone()[0])

    def save_image_tags(self, model_id: str, rows: Sequence[dict[str, Any]]) -> None:
        """Detected attributes and scores per image for one embedding model (replacing older ones);
        ``duplicate_of`` names the image of the same job with the same bytes, if any."""
        frame = pd.DataFrame([{"image_id": r["image_id"], "model": model_id, "detected": encode_json(r["detected"]),
                               "adherence": r.get("adherence"), "clip_score": r.get("clip_score"),
                               "alignment": r.get("alignment"), "quality": r.get("quality"),
                               "artefact": r.get("artefact"), "duplicate_of": r.get("duplicate_of")} for r in rows])
        if frame.empty:
            return
        with self.transaction() as con:
            con.register("new_tags", frame)
            con.execute(UPSERT_TAGS_FROM)

    def image_tags(self, model_id: str, image_ids: Sequence[str]) -> pd.DataFrame:
        with self.connect() as con:
            return decoded(con.execute(SELECT_TAGS, [model_id, list(image_ids)]))

    def latest_tags(self, image_ids: Sequence[str], model_id: str | None = None) -> list[dict[str, Any]]:
        with self.connect() as con:
            return decoded(con.execute(LATEST_TAGS, [list(image_ids), model_id, model_id])).to_dict("records")

    def latest_tag_model(self) -> str | None:
        with self.connect() as con:
            row = con.execute(LATEST_TAG_MODEL).fetchone()
        return row[0] if row else None

    def job_tag_model(self, job_id: str) -> str | None:
        """The model a job's images were last tagged with (what its clustering and selection read)."""
        with self.connect() as con:
            row = con.execute(JOB_TAG_MODEL, [job_id]).fetchone()
        return row[0] if row else None

    def get_calibration(self, model_id: str) -> dict[str, Any] | None:
        """A model's stored calibration as {column: value} (``model`` and the fitted maps), or None."""
        with self.connect() as con:
            row = con.execute(GET_CALIBRATION, [model_id]).fetchone()
        return None if row is None else dict(zip(CALIBRATION_COLUMNS, row))

    def put_calibration(self, model_id: str, a: float, b: float, n_pairs: int, match_auc: float,
                        artefact_a: float | None = None, artefact_b: float | None = None,
                        artefact_auc: float | None = None, near_miss_cos: float | None = None,
                        near_miss_auc: float | None = None, near_miss_a: float | None = None) -> None:
        with self.transaction() as con:
            con.execute(PUT_CALIBRATION, [model_id, a, b, n_pairs, match_auc, artefact_a, artefact_b, artefact_auc,
                                          near_miss_cos, near_miss_auc, near_miss_a])

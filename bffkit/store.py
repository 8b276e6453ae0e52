"""The workspace store: one DuckDB file plus content-addressed images. The only module with SQL.

A workspace is a folder holding ``bff.duckdb`` and ``images/``. The schema is created and
migrated forward here (``MIGRATIONS``); every statement binds its values as parameters.

DuckDB allows one writing process per file, so connections are short-lived (open, do one
unit of work, close) and opening retries while another process holds the lock.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from .exceptions import StoreError
from .paths import IMAGES_DIRNAME, STORE_FILENAME

JOB_STATUSES = ("queued", "running", "partial", "done", "failed")
FEEDBACK_TYPES = ("positive", "negative", "neutral")
GAP_SEVERITIES = ("critical", "high", "medium", "low")

# --------------------------------------------------------------------------- schema

SCHEMA_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    version    INTEGER NOT NULL,
    applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    note       VARCHAR
)"""

# Version 1: the seed system's tables and views, by their seed names.
V1 = [
    """CREATE TABLE generation_jobs (
        id         VARCHAR PRIMARY KEY,
        batch_id   VARCHAR,
        user_id    VARCHAR NOT NULL,
        status     VARCHAR NOT NULL CHECK (status IN ('queued', 'running', 'partial', 'done', 'failed')),
        backend    VARCHAR,
        model      VARCHAR,
        n_planned  INTEGER NOT NULL DEFAULT 0,
        n_done     INTEGER NOT NULL DEFAULT 0,
        n_failed   INTEGER NOT NULL DEFAULT 0,
        error      VARCHAR,
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
        updated_at TIMESTAMP NOT NULL DEFAULT current_timestamp)""",
    """CREATE TABLE generated_images (
        id              VARCHAR PRIMARY KEY,
        job_id          VARCHAR NOT NULL,
        user_id         VARCHAR NOT NULL,
        prompt          VARCHAR,
        negative_prompt VARCHAR,
        seed            BIGINT,
        backend         VARCHAR,
        model           VARCHAR,
        params          JSON,
        vlt_attributes  JSON,
        metadata        JSON,
        width           INTEGER,
        height          INTEGER,
        sha256          VARCHAR,
        path            VARCHAR,
        status          VARCHAR NOT NULL DEFAULT 'ok',
        error           VARCHAR,
        created_at      TIMESTAMP NOT NULL DEFAULT current_timestamp)""",
    """CREATE TABLE vlt_attributes (
        id         INTEGER PRIMARY KEY,
        name       VARCHAR NOT NULL UNIQUE,
        category   VARCHAR NOT NULL,
        value_list JSON NOT NULL)""",
    """CREATE TABLE image_embeddings (
        sha256     VARCHAR NOT NULL,
        model      VARCHAR NOT NULL,
        dim        INTEGER NOT NULL,
        embedding  FLOAT[] NOT NULL,
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
        PRIMARY KEY (sha256, model))""",
    """CREATE TABLE cluster_results (
        id           VARCHAR PRIMARY KEY,
        batch_id     VARCHAR,
        num_clusters INTEGER,
        metrics      JSON,
        created_at   TIMESTAMP NOT NULL DEFAULT current_timestamp)""",
    """CREATE TABLE cluster_assignments (
        result_id  VARCHAR NOT NULL,
        image_id   VARCHAR NOT NULL,
        cluster_id INTEGER NOT NULL,
        distance   DOUBLE,
        PRIMARY KEY (result_id, image_id))""",
    """CREATE TABLE coverage_reports (
        id            VARCHAR PRIMARY KEY,
        batch_id      VARCHAR,
        coverage_data JSON,
        score         DOUBLE,
        created_at    TIMESTAMP NOT NULL DEFAULT current_timestamp)""",
    """CREATE TABLE attribute_gaps (
        id        VARCHAR PRIMARY KEY,
        batch_id  VARCHAR,
        attribute VARCHAR NOT NULL,
        value     VARCHAR,
        severity  VARCHAR CHECK (severity IN ('critical', 'high', 'medium', 'low')),
        status    VARCHAR NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
        target    DOUBLE,
        observed  DOUBLE,
        boost     DOUBLE,
        opened_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
        closed_at TIMESTAMP)""",
    """CREATE TABLE dpp_selection_results (
        id              VARCHAR PRIMARY KEY,
        batch_id        VARCHAR,
        theta           DOUBLE,
        k               INTEGER,
        selected_ids    JSON,
        diversity_score DOUBLE,
        vendi_score     DOUBLE,
        mean_quality    DOUBLE,
        created_at      TIMESTAMP NOT NULL DEFAULT current_timestamp)""",
    """CREATE TABLE coverage_config (
        attribute       VARCHAR NOT NULL,
        value           VARCHAR NOT NULL,
        target_coverage DOUBLE NOT NULL,
        boost_factor    DOUBLE NOT NULL DEFAULT 0,
        PRIMARY KEY (attribute, value))""",
    """CREATE TABLE user_feedback (
        id            VARCHAR PRIMARY KEY,
        user_id       VARCHAR NOT NULL,
        image_id      VARCHAR NOT NULL,
        feedback_type VARCHAR NOT NULL CHECK (feedback_type IN ('positive', 'negative', 'neutral')),
        rating        INTEGER CHECK (rating BETWEEN 1 AND 5),
        comment       VARCHAR,
        is_outlier    BOOLEAN NOT NULL DEFAULT false,
        created_at    TIMESTAMP NOT NULL DEFAULT current_timestamp)""",
    """CREATE TABLE outliers (
        id                VARCHAR PRIMARY KEY,
        image_id          VARCHAR NOT NULL,
        feedback_id       VARCHAR,
        confidence        DOUBLE,
        used_for_training BOOLEAN NOT NULL DEFAULT false,
        created_at        TIMESTAMP NOT NULL DEFAULT current_timestamp)""",
    """CREATE TABLE vlt_attribute_success (
        attribute     VARCHAR NOT NULL,
        value         VARCHAR NOT NULL,
        n             INTEGER NOT NULL DEFAULT 0,
        outlier_count INTEGER NOT NULL DEFAULT 0,
        outlier_rate  DOUBLE,
        alpha         DOUBLE,
        beta          DOUBLE,
        updated_at    TIMESTAMP NOT NULL DEFAULT current_timestamp,
        PRIMARY KEY (attribute, value))""",
    """CREATE TABLE style_profile_success (
        profile       VARCHAR PRIMARY KEY,
        total_gens    INTEGER NOT NULL DEFAULT 0,
        outlier_count INTEGER NOT NULL DEFAULT 0,
        outlier_rate  DOUBLE,
        updated_at    TIMESTAMP NOT NULL DEFAULT current_timestamp)""",
    """CREATE TABLE learning_updates (
        id          VARCHAR PRIMARY KEY,
        update_type VARCHAR NOT NULL,
        patterns    JSON,
        impact      JSON,
        created_at  TIMESTAMP NOT NULL DEFAULT current_timestamp)""",
    """CREATE OR REPLACE VIEW coverage_summary_view AS
        SELECT r.batch_id, count(*) AS reports, avg(r.score) AS mean_score,
               arg_max(r.score, r.created_at) AS latest_score, max(r.created_at) AS latest_at,
               (SELECT count(*) FROM attribute_gaps g
                 WHERE g.batch_id = r.batch_id AND g.status = 'open') AS open_gaps
        FROM coverage_reports r GROUP BY r.batch_id""",
    """CREATE OR REPLACE VIEW outlier_rate_by_attribute AS
        SELECT attribute, value, n, outlier_count, outlier_rate
        FROM vlt_attribute_success ORDER BY outlier_rate DESC NULLS LAST""",
    """CREATE OR REPLACE VIEW recent_feedback_summary AS
        SELECT CAST(created_at AS DATE) AS day, feedback_type, count(*) AS n,
               avg(rating) AS mean_rating, sum(CAST(is_outlier AS INTEGER)) AS outliers
        FROM user_feedback
        WHERE created_at >= current_timestamp - INTERVAL 7 DAY
        GROUP BY ALL ORDER BY day DESC, feedback_type""",
]

# Version 2: runs and planned prompt specs (the unit generation resumes from), user ids on
# every per-user table, and the taxonomy columns. The seed called an attribute's group its
# "category"; here that clashes with the garment category, so it becomes group_name.
V2 = [
    """CREATE TABLE runs (
        id         VARCHAR PRIMARY KEY,
        name       VARCHAR NOT NULL,
        user_id    VARCHAR NOT NULL,
        config     JSON,
        status     VARCHAR NOT NULL DEFAULT 'running',
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
        updated_at TIMESTAMP NOT NULL DEFAULT current_timestamp)""",
    "ALTER TABLE generation_jobs ADD COLUMN run_id VARCHAR",
    "ALTER TABLE generation_jobs ADD COLUMN round INTEGER",
    "ALTER TABLE generation_jobs ADD COLUMN request VARCHAR",
    "UPDATE generation_jobs SET run_id = batch_id WHERE run_id IS NULL",
    """CREATE TABLE prompt_specs (
        job_id          VARCHAR NOT NULL,
        spec_index      INTEGER NOT NULL,
        prompt          VARCHAR NOT NULL,
        negative_prompt VARCHAR NOT NULL,
        attributes      JSON NOT NULL,
        requested       JSON,
        free_text       JSON,
        params          JSON,
        seed            BIGINT NOT NULL,
        PRIMARY KEY (job_id, spec_index))""",
    "ALTER TABLE generated_images ADD COLUMN spec_index INTEGER",
    "ALTER TABLE vlt_attributes RENAME COLUMN category TO group_name",
    "ALTER TABLE vlt_attributes ADD COLUMN label VARCHAR",
    "ALTER TABLE vlt_attributes ADD COLUMN phrase VARCHAR",
    "ALTER TABLE vlt_attributes ADD COLUMN synonyms JSON",
    "ALTER TABLE vlt_attributes ADD COLUMN applies_to JSON",
    "ALTER TABLE vlt_attributes ADD COLUMN sample_rate DOUBLE",
    "ALTER TABLE vlt_attributes ADD COLUMN taxonomy_version INTEGER",
    "ALTER TABLE user_feedback ADD COLUMN source VARCHAR DEFAULT 'widget'",
    "ALTER TABLE outliers ADD COLUMN user_id VARCHAR",
    """UPDATE outliers SET user_id = (SELECT f.user_id FROM user_feedback f WHERE f.id = outliers.feedback_id)
        WHERE user_id IS NULL""",
    "ALTER TABLE learning_updates ADD COLUMN user_id VARCHAR",
]

# Version 3: what stage 3 learns about each image (per embedding model) and each model's
# alignment calibration.
V3 = [
    """CREATE TABLE image_tags (
        image_id    VARCHAR NOT NULL,
        model       VARCHAR NOT NULL,
        detected    JSON NOT NULL,
        adherence   DOUBLE,
        clip_score  DOUBLE,
        alignment   DOUBLE,
        quality     DOUBLE,
        created_at  TIMESTAMP NOT NULL DEFAULT current_timestamp,
        PRIMARY KEY (image_id, model))""",
    """CREATE TABLE model_calibration (
        model      VARCHAR PRIMARY KEY,
        a          DOUBLE NOT NULL,
        b          DOUBLE NOT NULL,
        n_pairs    INTEGER NOT NULL,
        match_auc  DOUBLE,
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp)""",
]

# Version 4: stages 4-6. Named style profiles per clustering, the round a gap opened and
# closed in, and the selection/coverage figures the reports chart per round.
V4 = [
    """CREATE TABLE style_profiles (
        result_id       VARCHAR NOT NULL,
        cluster_id      INTEGER NOT NULL,
        name            VARCHAR NOT NULL,
        size            INTEGER NOT NULL,
        medoid_image_id VARCHAR,
        attributes      JSON,
        PRIMARY KEY (result_id, cluster_id))""",
    "ALTER TABLE cluster_results ADD COLUMN round INTEGER",
    "ALTER TABLE dpp_selection_results ADD COLUMN round INTEGER",
    "ALTER TABLE dpp_selection_results ADD COLUMN metrics JSON",
    "ALTER TABLE coverage_reports ADD COLUMN round INTEGER",
    "ALTER TABLE coverage_reports ADD COLUMN score_selected DOUBLE",
    "ALTER TABLE attribute_gaps ADD COLUMN deficit DOUBLE",
    "ALTER TABLE attribute_gaps ADD COLUMN opened_round INTEGER",
    "ALTER TABLE attribute_gaps ADD COLUMN closed_round INTEGER",
    """CREATE TABLE run_metrics (
        run_id       VARCHAR NOT NULL,
        round        INTEGER NOT NULL,
        stage        VARCHAR NOT NULL,
        seconds      DOUBLE,
        items        INTEGER,
        success_rate DOUBLE,
        summary      JSON,
        created_at   TIMESTAMP NOT NULL DEFAULT current_timestamp,
        PRIMARY KEY (run_id, round, stage))""",
    """CREATE TABLE preference_heads (
        user_id    VARCHAR NOT NULL,
        model      VARCHAR NOT NULL,
        weights    FLOAT[] NOT NULL,
        bias       DOUBLE NOT NULL,
        c          DOUBLE,
        cv_auc     DOUBLE,
        n          INTEGER NOT NULL,
        n_pairs    INTEGER NOT NULL,
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
        PRIMARY KEY (user_id, model))""",
]

# Version 5: each image's artefact probability and each model's artefact calibration (stage 3).
V5 = [
    "ALTER TABLE image_tags ADD COLUMN artefact DOUBLE",
    "ALTER TABLE model_calibration ADD COLUMN artefact_a DOUBLE",
    "ALTER TABLE model_calibration ADD COLUMN artefact_b DOUBLE",
    "ALTER TABLE model_calibration ADD COLUMN artefact_auc DOUBLE",
]

# Version 6: each model's near-miss line, the off-prompt gate of selection (stage 3).
V6 = [
    "ALTER TABLE model_calibration ADD COLUMN near_miss_cos DOUBLE",
    "ALTER TABLE model_calibration ADD COLUMN near_miss_auc DOUBLE",
]

MIGRATIONS: dict[int, list[str]] = {1: V1, 2: V2, 3: V3, 4: V4, 5: V5, 6: V6}
LATEST_VERSION = max(MIGRATIONS)

# Tables a reader may ask for by name (DESIGN.md lists the seed ones).
TABLES = (
    "generation_jobs", "generated_images", "vlt_attributes", "image_embeddings", "cluster_results",
    "cluster_assignments", "coverage_reports", "attribute_gaps", "dpp_selection_results",
    "coverage_config", "user_feedback", "outliers", "vlt_attribute_success",
    "style_profile_success", "learning_updates", "runs", "prompt_specs", "image_tags", "model_calibration",
    "style_profiles", "preference_heads", "run_metrics",
)
VIEWS = ("coverage_summary_view", "outlier_rate_by_attribute", "recent_feedback_summary")

# --------------------------------------------------------------------------- statements

GET_VERSION = "SELECT coalesce(max(version), 0) FROM schema_version"
RECORD_VERSION = "INSERT INTO schema_version (version, note) VALUES (?, ?)"
TABLE_EXISTS = "SELECT count(*) FROM information_schema.tables WHERE table_name = ?"

DELETE_TAXONOMY = "DELETE FROM vlt_attributes"
INSERT_ATTRIBUTE = """
INSERT INTO vlt_attributes (id, name, group_name, value_list, label, phrase, synonyms, applies_to,
                            sample_rate, taxonomy_version)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""

UPSERT_RUN = """
INSERT INTO runs (id, name, user_id, config, status) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET status = excluded.status, updated_at = now()"""
SET_RUN_STATUS = "UPDATE runs SET status = ?, updated_at = now() WHERE id = ?"

GET_JOB = "SELECT * FROM generation_jobs WHERE id = ?"
INSERT_JOB = """
INSERT INTO generation_jobs (id, batch_id, run_id, round, user_id, status, backend, model, request, n_planned)
VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?)"""
COUNT_SPECS = "SELECT count(*) FROM prompt_specs WHERE job_id = ?"
INSERT_SPECS_FROM = """
INSERT INTO prompt_specs (job_id, spec_index, prompt, negative_prompt, attributes, requested,
                          free_text, params, seed)
SELECT job_id, spec_index, prompt, negative_prompt, CAST(attributes AS JSON), CAST(requested AS JSON),
       CAST(free_text AS JSON), CAST(params AS JSON), seed
FROM new_specs"""
SELECT_SPECS = "SELECT * FROM prompt_specs WHERE job_id = ? ORDER BY spec_index"
SELECT_JOBS = "SELECT * FROM generation_jobs ORDER BY created_at, id"
SELECT_RUN_JOBS = "SELECT * FROM generation_jobs WHERE run_id = ? ORDER BY round, id"

IMAGE_COLUMNS = ("id", "job_id", "spec_index", "user_id", "prompt", "negative_prompt", "seed", "backend", "model",
                 "params", "vlt_attributes", "metadata", "width", "height", "sha256", "path", "status", "error")
INSERT_IMAGES_FROM = """
INSERT INTO generated_images (id, job_id, spec_index, user_id, prompt, negative_prompt, seed, backend, model,
                              params, vlt_attributes, metadata, width, height, sha256, path, status, error)
SELECT id, job_id, CAST(spec_index AS INTEGER), user_id, prompt, negative_prompt, CAST(seed AS BIGINT), backend,
       model, CAST(params AS JSON), CAST(vlt_attributes AS JSON), CAST(metadata AS JSON),
       CAST(width AS INTEGER), CAST(height AS INTEGER), sha256, path, status, error
FROM new_images
ON CONFLICT (id) DO NOTHING"""
INSERT_FEEDBACK = """
INSERT INTO user_feedback (id, user_id, image_id, feedback_type, rating, comment, is_outlier, source)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)"""

EXISTING_FEEDBACK = "SELECT id FROM user_feedback WHERE id IN (SELECT unnest(?))"
INSERT_FEEDBACK_FROM = """
INSERT INTO user_feedback (id, user_id, image_id, feedback_type, rating, comment, is_outlier, source, created_at)
SELECT id, user_id, image_id, feedback_type, CAST(rating AS INTEGER), comment, false, source,
       CAST(created_at AS TIMESTAMPTZ)::TIMESTAMP
FROM new_feedback WHERE id NOT IN (SELECT id FROM user_feedback)"""
SELECT_FEEDBACK = "SELECT * FROM user_feedback WHERE (? IS NULL OR user_id = ?) ORDER BY created_at, id"
EXISTING_IMAGES = "SELECT id FROM generated_images WHERE id IN (SELECT unnest(?))"
IMAGES_BY_ID = "SELECT * FROM generated_images WHERE id IN (SELECT unnest(?))"

LATEST_TAGS = """
SELECT image_id, arg_max(detected, created_at) AS detected, arg_max(alignment, created_at) AS alignment
FROM image_tags WHERE image_id IN (SELECT unnest(?)) AND (? IS NULL OR model = ?) GROUP BY image_id"""
LATEST_TAG_MODEL = "SELECT model FROM image_tags ORDER BY created_at DESC LIMIT 1"
INSERT_OUTLIER = """
INSERT INTO outliers (id, image_id, feedback_id, confidence, user_id) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET confidence = excluded.confidence"""
MARK_OUTLIER = "UPDATE user_feedback SET is_outlier = true WHERE id = ?"
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
IMAGE_SHAS = "SELECT id, sha256 FROM generated_images WHERE id IN (SELECT unnest(?))"

ROUND_COVERAGE = "SELECT coverage_data FROM coverage_reports WHERE batch_id = ? AND round = ?"
CLUSTER_LABELS = "SELECT image_id, cluster_id FROM cluster_assignments WHERE result_id = ?"
SELECTED_IDS = "SELECT selected_ids FROM dpp_selection_results WHERE id = ?"
UPSERT_RUN_METRIC = """
INSERT OR REPLACE INTO run_metrics (run_id, round, stage, seconds, items, success_rate, summary)
VALUES (?, ?, ?, ?, ?, ?, ?)"""
# The count each stage's summary reports its work in, and how its success rate is read.
STAGE_ITEMS = {"prompts": "n_specs", "generate": "n_done", "embed": "n_images", "cluster": "n_images",
               "select": "n_selected", "coverage": "n_values", "feedback": "n_events"}

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
        FROM dpp_selection_results s JOIN generation_jobs j ON j.id = s.batch_id
        WHERE s.created_at >= now()::TIMESTAMP - to_days(CAST(? AS INTEGER))""",
    "coverage": """
        SELECT batch_id AS run_id, round, score AS coverage, score_selected AS coverage_selected
        FROM coverage_reports WHERE created_at >= now()::TIMESTAMP - to_days(CAST(? AS INTEGER))""",
    "profiles": """
        SELECT a.image_id, arg_max(p.name, r.created_at) AS profile
        FROM cluster_assignments a JOIN cluster_results r ON r.id = a.result_id
        JOIN style_profiles p ON p.result_id = a.result_id AND p.cluster_id = a.cluster_id
        WHERE r.created_at >= now()::TIMESTAMP - to_days(CAST(? AS INTEGER)) GROUP BY a.image_id""",
    "gaps": """
        SELECT * FROM attribute_gaps WHERE opened_at >= now()::TIMESTAMP - to_days(CAST(? AS INTEGER))""",
}

JOB_IMAGE_INDICES = "SELECT spec_index FROM generated_images WHERE job_id = ?"
JOB_IMAGES = "SELECT * FROM generated_images WHERE job_id = ? ORDER BY spec_index"
JOB_COUNTS = """
SELECT count(*) FILTER (WHERE status = 'ok'), count(*) FILTER (WHERE status = 'failed')
FROM generated_images WHERE job_id = ?"""
SET_JOB_STATE = """
UPDATE generation_jobs SET status = ?, n_done = ?, n_failed = ?, error = ?, updated_at = now() WHERE id = ?"""
SET_JOB_RUNNING = "UPDATE generation_jobs SET status = 'running', backend = ?, model = ?, updated_at = now() WHERE id = ?"

INSERT_EMBEDDINGS_FROM = """
INSERT INTO image_embeddings (sha256, model, dim, embedding)
SELECT sha256, model, CAST(dim AS INTEGER), CAST(embedding AS FLOAT[]) FROM new_embeddings
ON CONFLICT (sha256, model) DO NOTHING"""
SELECT_EMBEDDINGS = """
SELECT sha256, embedding FROM image_embeddings WHERE model = ? AND sha256 IN (SELECT unnest(?))"""

UPSERT_TAGS_FROM = """
INSERT OR REPLACE INTO image_tags (image_id, model, detected, adherence, clip_score, alignment, quality, artefact)
SELECT image_id, model, CAST(detected AS JSON), adherence, clip_score, alignment, quality, artefact FROM new_tags"""
SELECT_TAGS = "SELECT * FROM image_tags WHERE model = ? AND image_id IN (SELECT unnest(?))"
CALIBRATION_COLUMNS = ("model", "a", "b", "n_pairs", "match_auc", "artefact_a", "artefact_b", "artefact_auc",
                       "near_miss_cos", "near_miss_auc")
GET_CALIBRATION = f"SELECT {', '.join(CALIBRATION_COLUMNS)} FROM model_calibration WHERE model = ?"
PUT_CALIBRATION = (f"INSERT OR REPLACE INTO model_calibration ({', '.join(CALIBRATION_COLUMNS)}) "
                   f"VALUES ({', '.join('?' * len(CALIBRATION_COLUMNS))})")

DELETE_CLUSTERING = ("DELETE FROM cluster_assignments WHERE result_id = ?",
                     "DELETE FROM style_profiles WHERE result_id = ?",
                     "DELETE FROM cluster_results WHERE id = ?")
INSERT_CLUSTER_RESULT = "INSERT INTO cluster_results (id, batch_id, round, num_clusters, metrics) VALUES (?, ?, ?, ?, ?)"
INSERT_ASSIGNMENTS_FROM = """
INSERT INTO cluster_assignments (result_id, image_id, cluster_id, distance)
SELECT result_id, image_id, CAST(cluster_id AS INTEGER), distance FROM new_assignments"""
INSERT_PROFILE = """
INSERT INTO style_profiles (result_id, cluster_id, name, size, medoid_image_id, attributes) VALUES (?, ?, ?, ?, ?, ?)"""
# Every image ever clustered counts once, under the profile of its latest clustering.
REFRESH_PROFILE_SUCCESS = ("DELETE FROM style_profile_success", """
INSERT INTO style_profile_success (profile, total_gens, outlier_count, outlier_rate)
WITH latest AS (
    SELECT a.image_id, arg_max(p.name, r.created_at) AS profile
    FROM cluster_assignments a
    JOIN cluster_results r ON r.id = a.result_id
    JOIN style_profiles p ON p.result_id = a.result_id AND p.cluster_id = a.cluster_id
    GROUP BY a.image_id)
SELECT profile, count(*), count(o.image_id), count(o.image_id) / count(*)
FROM latest LEFT JOIN (SELECT DISTINCT image_id FROM outliers) o USING (image_id)
GROUP BY profile""")
UPSERT_SELECTION = """
INSERT OR REPLACE INTO dpp_selection_results (id, batch_id, round, theta, k, selected_ids, diversity_score,
                                              vendi_score, mean_quality, metrics)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""
UPSERT_COVERAGE_REPORT = """
INSERT OR REPLACE INTO coverage_reports (id, batch_id, round, coverage_data, score, score_selected)
VALUES (?, ?, ?, ?, ?, ?)"""
UPSERT_COVERAGE_CONFIG = """
INSERT OR REPLACE INTO coverage_config (attribute, value, target_coverage, boost_factor) VALUES (?, ?, ?, ?)"""
OPEN_GAPS = "SELECT id, attribute, value FROM attribute_gaps WHERE batch_id = ? AND status = 'open'"
UPSERT_GAP = """
INSERT INTO attribute_gaps (id, batch_id, attribute, value, severity, status, target, observed, boost, deficit,
                            opened_round)
VALUES (?, ?, ?, ?, ?, 'open', ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET severity = excluded.severity, status = 'open', target = excluded.target,
    observed = excluded.observed, boost = excluded.boost, deficit = excluded.deficit, closed_at = NULL,
    closed_round = NULL,
    opened_round = CASE WHEN attribute_gaps.status = 'closed' THEN excluded.opened_round
                        ELSE attribute_gaps.opened_round END"""
CLOSE_GAP = """
UPDATE attribute_gaps SET status = 'closed', closed_at = now(), closed_round = ?, boost = 0 WHERE id = ?"""
SELECT_RUN_GAPS = "SELECT * FROM attribute_gaps WHERE batch_id = ? ORDER BY opened_round, attribute, value"

USER_IMAGES = "SELECT id, sha256, path FROM generated_images WHERE user_id = ?"
PURGE_STATEMENTS = (
    # (table, statement); each binds the user id once or twice
    ("cluster_assignments",
     "DELETE FROM cluster_assignments WHERE image_id IN (SELECT id FROM generated_images WHERE user_id = ?)"),
    ("style_profiles",
     "DELETE FROM style_profiles WHERE medoid_image_id IN (SELECT id FROM generated_images WHERE user_id = ?)"),
    ("image_tags", "DELETE FROM image_tags WHERE image_id IN (SELECT id FROM generated_images WHERE user_id = ?)"),
    ("image_embeddings",
     """DELETE FROM image_embeddings WHERE sha256 IN (SELECT sha256 FROM generated_images WHERE user_id = ?)
        AND sha256 NOT IN (SELECT sha256 FROM generated_images WHERE user_id <> ? AND sha256 IS NOT NULL)"""),
    ("outliers", "DELETE FROM outliers WHERE user_id = ?"),
    ("preference_heads", "DELETE FROM preference_heads WHERE user_id = ?"),
    ("user_feedback", "DELETE FROM user_feedback WHERE user_id = ?"),
    ("learning_updates", "DELETE FROM learning_updates WHERE user_id = ?"),
    ("prompt_specs", "DELETE FROM prompt_specs WHERE job_id IN (SELECT id FROM generation_jobs WHERE user_id = ?)"),
    ("generated_images", "DELETE FROM generated_images WHERE user_id = ?"),
    ("generation_jobs", "DELETE FROM generation_jobs WHERE user_id = ?"),
    ("run_metrics", "DELETE FROM run_metrics WHERE run_id IN (SELECT id FROM runs WHERE user_id = ?)"),
    ("runs", "DELETE FROM runs WHERE user_id = ?"),
)
SHA_STILL_USED = "SELECT count(*) FROM generated_images WHERE sha256 = ?"


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=False, ensure_ascii=False)


@dataclass(frozen=True)
class PurgeReport:
    """What `purge_user` removed: rows per table and image files."""

    user_id: str
    rows: dict[str, int]
    files: int

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


class Store:
    """A workspace's DuckDB store. Construct with :func:`open_store` to create and migrate it."""

    def __init__(self, workspace: str | Path, *, lock_timeout: float = 30.0):
        self.workspace = Path(workspace)
        self.path = self.workspace / STORE_FILENAME
        self.images_dir = self.workspace / IMAGES_DIRNAME
        self.lock_timeout = lock_timeout

    # ----------------------------------------------------------------- connections
    @contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived connection; waits (with backoff) while another process holds the file."""
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.02
        while True:
            try:
                con = duckdb.connect(str(self.path), read_only=read_only)
                break
            except duckdb.IOException as err:
                msg = str(err)
                if "lock" not in msg.lower():
                    raise StoreError(f"cannot open store {self.path}: {msg.splitlines()[0]}") from None
                if time.monotonic() >= deadline:
                    raise StoreError(
                        f"store {self.path} is locked by another process for over {self.lock_timeout:g}s; "
                        "retry when it finishes") from None
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
            except duckdb.Error as err:
                raise StoreError(f"cannot open store {self.path}: {str(err).splitlines()[0]}") from None
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One atomic unit of work: everything inside commits together or not at all."""
        with self.connect() as con:
            con.begin()
            try:
                yield con
            except BaseException:
                con.rollback()
                raise
            con.commit()

    # ----------------------------------------------------------------- schema
    def schema_version(self) -> int:
        with self.connect() as con:
            return self._version(con)

    @staticmethod
    def _version(con: duckdb.DuckDBPyConnection) -> int:
        if not con.execute(TABLE_EXISTS, ["schema_version"]).fetchone()[0]:
            return 0
        return int(con.execute(GET_VERSION).fetchone()[0])

    def migrate(self, target: int | None = None) -> list[int]:
        """Apply forward migrations up to `target` (default: latest); returns versions applied.

        Each version applies in its own transaction, so a failure leaves the store at the last
        complete version. Running it again applies nothing.
        """
        target = LATEST_VERSION if target is None else target
        applied: list[int] = []
        with self.connect() as con:
            con.execute(SCHEMA_VERSION_TABLE)
            current = self._version(con)
            if current > LATEST_VERSION:
                raise StoreError(
                    f"store {self.path} has schema version {current}, newer than this bffkit "
                    f"supports ({LATEST_VERSION}); upgrade bffkit")
            for version in range(current + 1, target + 1):
                con.begin()
                try:
                    for stmt in MIGRATIONS[version]:
                        con.execute(stmt)
                    con.execute(RECORD_VERSION, [version, f"bffkit migration {version}"])
                except duckdb.Error as err:
                    con.rollback()
                    raise StoreError(f"migration to schema version {version} failed: {str(err).splitlines()[0]}") from None
                con.commit()
                applied.append(version)
        return applied

    # ----------------------------------------------------------------- taxonomy
    def sync_taxonomy(self, taxonomy) -> int:
        """Replace `vlt_attributes` with the taxonomy's attributes; returns the row count."""
        rows = taxonomy.records()
        with self.transaction() as con:
            con.execute(DELETE_TAXONOMY)
            for r in rows:
                con.execute(INSERT_ATTRIBUTE, [
                    r["id"], r["name"], r["group_name"], _json(r["values"]), r["label"], r["phrase"],
                    _json(r["synonyms"]), _json(r["applies_to"]), r["sample_rate"], taxonomy.version])
        return len(rows)

    # ----------------------------------------------------------------- runs and jobs
    def upsert_run(self, run_id: str, name: str, user_id: str, config: dict, status: str = "running") -> None:
        with self.transaction() as con:
            con.execute(UPSERT_RUN, [run_id, name, user_id, _json(config), status])

    def set_run_status(self, run_id: str, status: str) -> None:
        with self.transaction() as con:
            con.execute(SET_RUN_STATUS, [status, run_id])

    def save_prompt_job(self, *, job_id: str, run_id: str, round: int, user_id: str, backend: str,
                        model: str | None, request: str, specs: Sequence) -> bool:
        """Store a generation job with its planned prompt specs, atomically.

        Returns False (and writes nothing) when the job already exists: a rerun of the same
        run keeps what was planned and stored before.
        """
        frame = pd.DataFrame([{
            "job_id": job_id,
            "spec_index": s.index,
            "prompt": s.prompt,
            "negative_prompt": s.negative_prompt,
            "attributes": _json(s.attributes),
            "requested": _json(list(s.requested)),
            "free_text": _json(list(s.free_text)),
            "params": _json(s.params),
            "seed": s.seed,
        } for s in specs])
        with self.transaction() as con:
            if con.execute(GET_JOB, [job_id]).fetchone() is not None:
                return False
            con.execute(INSERT_JOB, [job_id, run_id, run_id, round, user_id, backend, model, request, len(specs)])
            con.register("new_specs", frame)  # lives as long as this short connection
            con.execute(INSERT_SPECS_FROM)
        return True

    def job(self, job_id: str) -> dict[str, Any]:
        """One generation job as a dict; StoreError naming the id when there is none."""
        with self.connect() as con:
            frame = con.execute(GET_JOB, [job_id]).df()
        if frame.empty:
            raise StoreError(f"no generation job {job_id!r} in {self.workspace}")
        return frame.iloc[0].to_dict()

    def stored_spec_indices(self, job_id: str) -> set[int]:
        """Spec indices of a job that already have an image row (generated or failed for good)."""
        with self.connect() as con:
            return {int(r[0]) for r in con.execute(JOB_IMAGE_INDICES, [job_id]).fetchall()}

    def job_images(self, job_id: str) -> pd.DataFrame:
        with self.connect() as con:
            return con.execute(JOB_IMAGES, [job_id]).df()

    def mark_job_running(self, job_id: str, backend: str, model: str | None) -> None:
        with self.transaction() as con:
            con.execute(SET_JOB_RUNNING, [backend, model, job_id])

    def finish_job(self, job_id: str, status: str, error: str | None = None) -> tuple[int, int]:
        """Set a job's final status with its counts read from its image rows."""
        if status not in JOB_STATUSES:
            raise StoreError(f"status={status!r}: must be one of {', '.join(JOB_STATUSES)}")
        with self.transaction() as con:
            n_ok, n_failed = con.execute(JOB_COUNTS, [job_id]).fetchone()
            con.execute(SET_JOB_STATE, [status, n_ok, n_failed, error, job_id])
        if status == "done":
            self._journal(job_id).unlink(missing_ok=True)
        return int(n_ok), int(n_failed)

    # ----------------------------------------------------------------- image files
    # A batch of images is written as: journal lines (fsync) -> each file to a temp name (fsync)
    # -> atomic rename to images/<sha[:2]>/<sha>.png -> all rows in one transaction. A kill at any
    # point leaves nothing, temp files, or complete files the journal names; `recover_job`
    # removes those no row references, so a rerun ends with no orphan and no half-written file.
    def _job_key(self, job_id: str) -> str:
        return hashlib.sha256(job_id.encode()).hexdigest()[:20]

    def _journal(self, job_id: str) -> Path:
        return self.images_dir / ".journal" / f"{self._job_key(job_id)}.log"

    def _tmp_dir(self) -> Path:
        return self.images_dir / ".tmp"

    def recover_job(self, job_id: str) -> int:
        """Remove what a killed run of this job left behind; returns the files removed."""
        removed = 0
        for part in self._tmp_dir().glob(f"{self._job_key(job_id)}-*.part"):
            part.unlink(missing_ok=True)
            removed += 1
        journal = self._journal(job_id)
        if not journal.exists():
            return removed
        with self.connect() as con:
            for line in journal.read_text(encoding="utf-8").splitlines():
                sha, _, rel = line.partition(" ")
                if not rel or con.execute(SHA_STILL_USED, [sha]).fetchone()[0]:
                    continue
                path = self.workspace / rel
                if path.is_file():
                    path.unlink()
                    removed += 1
        return removed

    def save_images(self, job_id: str, user_id: str, items: Sequence[dict[str, Any]]) -> int:
        """Store a batch of a job's results: image files first, then all rows in one transaction.

        Each item has `spec_index` and either `data` (encoded image bytes, plus `suffix`,
        default ".png") or `error` (a spec that failed for good: refused, undecodable), and
        the other generated_images columns (prompt, negative_prompt, seed, backend, model,
        params, vlt_attributes, metadata, width, height). Returns the rows added; saving a
        spec twice is a no-op.
        """
        rows, written = [], []
        for item in items:
            row = {k: v for k, v in item.items() if k not in ("data", "suffix")}
            row.update(id=image_id_for(job_id, item["spec_index"]), job_id=job_id, user_id=user_id)
            if item.get("data") is None:
                row["status"] = "failed"
            else:
                sha = hashlib.sha256(item["data"]).hexdigest()
                row.update(sha256=sha, path=f"{IMAGES_DIRNAME}/{sha[:2]}/{sha}{item.get('suffix', '.png')}")
                written.append((row, item["data"]))
            rows.append(row)
        if written:
            journal = self._journal(job_id)
            journal.parent.mkdir(parents=True, exist_ok=True)
            with open(journal, "a", encoding="utf-8") as fh:
                fh.writelines(f"{row['sha256']} {row['path']}\n" for row, _ in written)
                fh.flush()
                os.fsync(fh.fileno())
            for row, data in written:
                self._write_atomic(job_id, self.workspace / row["path"], data)
        with self.transaction() as con:
            return self._insert_images(con, rows)

    def _write_atomic(self, job_id: str, final: Path, data: bytes) -> None:
        if final.exists():
            return  # content-addressed: the same bytes are already there
        final.parent.mkdir(parents=True, exist_ok=True)
        self._tmp_dir().mkdir(parents=True, exist_ok=True)
        tmp = self._tmp_dir() / f"{self._job_key(job_id)}-{uuid.uuid4().hex}.part"
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)

    def jobs(self, run_id: str | None = None) -> pd.DataFrame:
        with self.connect() as con:
            if run_id is None:
                return con.execute(SELECT_JOBS).df()
            return con.execute(SELECT_RUN_JOBS, [run_id]).df()

    def stored_spec_count(self, job_id: str) -> int:
        with self.connect() as con:
            return int(con.execute(COUNT_SPECS, [job_id]).fetchone()[0])

    def prompt_specs(self, job_id: str) -> list[dict[str, Any]]:
        with self.connect() as con:
            frame = con.execute(SELECT_SPECS, [job_id]).df()
        rows = frame.to_dict("records")
        for r in rows:
            for key in ("attributes", "requested", "free_text", "params"):
                r[key] = json.loads(r[key]) if r[key] is not None else None
        return rows

    def add_generated_image(self, *, image_id: str, job_id: str, user_id: str, **row: Any) -> bool:
        """Insert one image row; returns False if a row with this id already exists."""
        with self.transaction() as con:
            return self._insert_images(con, [{"id": image_id, "job_id": job_id, "user_id": user_id, **row}]) == 1

    @staticmethod
    def _insert_images(con: duckdb.DuckDBPyConnection, rows: Sequence[dict[str, Any]]) -> int:
        """Insert image rows in one statement (DuckDB's executemany is slow); returns rows added."""
        records = []
        for r in rows:
            rec = {c: r.get(c) for c in IMAGE_COLUMNS}
            for key in ("params", "vlt_attributes", "metadata"):
                rec[key] = _json(rec[key] or {})
            rec["status"] = rec["status"] or "ok"
            records.append(rec)
        frame = pd.DataFrame.from_records(records, columns=IMAGE_COLUMNS)
        for col in ("spec_index", "seed", "width", "height"):
            frame[col] = frame[col].astype("Int64")
        con.register("new_images", frame)
        return int(con.execute(INSERT_IMAGES_FROM).fetchone()[0])

    def add_feedback(self, *, user_id: str, image_id: str, feedback_type: str, rating: int | None = None,
                     comment: str | None = None, is_outlier: bool = False, source: str = "api",
                     feedback_id: str | None = None) -> str:
        """Record one feedback event; returns its id."""
        if feedback_type not in FEEDBACK_TYPES:
            raise StoreError(f"feedback_type={feedback_type!r}: must be one of {', '.join(FEEDBACK_TYPES)}")
        if rating is not None and not (isinstance(rating, int) and 1 <= rating <= 5):
            raise StoreError(f"rating={rating!r}: must be an integer in [1, 5]")
        feedback_id = feedback_id or uuid.uuid4().hex
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

    def feedback(self, user_id: str | None = None) -> pd.DataFrame:
        with self.connect() as con:
            return con.execute(SELECT_FEEDBACK, [user_id, user_id]).df()

    def existing_image_ids(self, image_ids: Sequence[str]) -> set[str]:
        with self.connect() as con:
            return {r[0] for r in con.execute(EXISTING_IMAGES, [list(image_ids)]).fetchall()}

    def images_by_id(self, image_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        with self.connect() as con:
            frame = con.execute(IMAGES_BY_ID, [list(image_ids)]).df()
        return {r["id"]: r for r in frame.to_dict("records")}

    # ----------------------------------------------------------------- learning
    def latest_tags(self, image_ids: Sequence[str], model_id: str | None = None) -> list[dict[str, Any]]:
        with self.connect() as con:
            return con.execute(LATEST_TAGS, [list(image_ids), model_id, model_id]).df().to_dict("records")

    def latest_tag_model(self) -> str | None:
        with self.connect() as con:
            row = con.execute(LATEST_TAG_MODEL).fetchone()
        return row[0] if row else None

    def image_shas(self, image_ids: Sequence[str]) -> dict[str, str]:
        with self.connect() as con:
            return dict(con.execute(IMAGE_SHAS, [list(image_ids)]).fetchall())

    def save_outliers(self, outliers: Sequence[tuple[str, str, str, float]]) -> None:
        """(feedback id, image id, user id, confidence) per outlier; the feedback row is marked too."""
        with self.transaction() as con:
            for fid, image_id, user_id, confidence in outliers:
                con.execute(INSERT_OUTLIER, [fid, image_id, fid, float(confidence), user_id])
                con.execute(MARK_OUTLIER, [fid])

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

    def preference_head(self, user_id: str, model_id: str):
        from .learning import PreferenceHead

        with self.connect() as con:
            row = con.execute(GET_HEAD, [user_id, model_id]).fetchone()
        if row is None:
            return None
        return PreferenceHead(weights=np.asarray(row[0], dtype=np.float32), bias=row[1], C=row[2], cv_auc=row[3],
                              n=row[4], n_pairs=row[5])

    def add_learning_update(self, update_id: str, update_type: str, patterns: dict, impact: dict,
                            user_id: str | None) -> None:
        with self.transaction() as con:
            con.execute(INSERT_LEARNING_UPDATE, [update_id, update_type, _json(patterns), _json(impact), user_id])

    # ----------------------------------------------------------------- between stages
    def round_boosts(self, run_id: str, round: int) -> dict[str, dict[str, float]] | None:
        """The sampling factors a round's coverage gaps ask of the next round (None if no report)."""
        with self.connect() as con:
            row = con.execute(ROUND_COVERAGE, [run_id, round]).fetchone()
        if row is None:
            return None
        out: dict[str, dict[str, float]] = {}
        for g in json.loads(row[0])["gaps"]:
            out.setdefault(g["attribute"], {})[g["value"]] = g["factor"]
        return out or None

    def cluster_labels(self, result_id: str, image_ids: Sequence[str]) -> np.ndarray | None:
        with self.connect() as con:
            rows = dict(con.execute(CLUSTER_LABELS, [result_id]).fetchall())
        if not rows:
            return None
        return np.array([rows[i] for i in image_ids], dtype=np.int64)

    def selected_indices(self, selection_id: str, image_ids: Sequence[str]) -> np.ndarray:
        """Positions in `image_ids` of a stored selection, in selection order."""
        with self.connect() as con:
            row = con.execute(SELECTED_IDS, [selection_id]).fetchone()
        if row is None:
            raise StoreError(f"no selection {selection_id!r} stored; run the select stage first")
        pos = {i: k for k, i in enumerate(image_ids)}
        return np.array([pos[i] for i in json.loads(row[0]) if i in pos], dtype=np.int64)

    def record_stage(self, run_id: str, round: int, stage: str, summary: dict[str, Any]) -> None:
        """One row of the run-metrics table: wall time, items and success rate of a stage."""
        items = summary.get(STAGE_ITEMS.get(stage, ""))
        if stage == "generate" and summary.get("n_planned"):
            rate = summary["n_done"] / summary["n_planned"]
        else:
            rate = 1.0
        with self.transaction() as con:
            con.execute(UPSERT_RUN_METRIC, [run_id, round, stage, summary.get("seconds"),
                                            None if items is None else int(items), rate,
                                            json.dumps(summary, default=str)])

    def run_metrics(self, run_id: str) -> pd.DataFrame:
        with self.connect() as con:
            return con.execute("SELECT * FROM run_metrics WHERE run_id = ? ORDER BY round, created_at",
                               [run_id]).df()

    def feedback_stamp(self) -> tuple:
        """(count, latest timestamp) of feedback: changes whenever feedback arrives."""
        with self.connect() as con:
            return tuple(con.execute(FEEDBACK_STAMP).fetchone())

    def analytics_frames(self, window_days: int) -> dict[str, Any]:
        """The rows analytics needs from the last `window_days`, one DataFrame per kind."""
        with self.connect() as con:
            out = {k: con.execute(q, [window_days]).df() for k, q in ANALYTICS_QUERIES.items()}
        ids = out["feedback"]["image_id"].unique().tolist()
        out["detected"] = {r["image_id"]: {a: t["value"] for a, t in json.loads(r["detected"]).items()}
                           for r in self.latest_tags(ids)} if ids else {}
        return out

    # ----------------------------------------------------------------- embeddings
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
        """Detected attributes and scores per image for one embedding model (replacing older ones)."""
        frame = pd.DataFrame([{"image_id": r["image_id"], "model": model_id, "detected": _json(r["detected"]),
                               "adherence": r.get("adherence"), "clip_score": r.get("clip_score"),
                               "alignment": r.get("alignment"), "quality": r.get("quality"),
                               "artefact": r.get("artefact")} for r in rows])
        if frame.empty:
            return
        with self.transaction() as con:
            con.register("new_tags", frame)
            con.execute(UPSERT_TAGS_FROM)

    def image_tags(self, model_id: str, image_ids: Sequence[str]) -> pd.DataFrame:
        with self.connect() as con:
            return con.execute(SELECT_TAGS, [model_id, list(image_ids)]).df()

    def get_calibration(self, model_id: str) -> tuple | None:
        """(model, a, b, n_pairs, match_auc, artefact_a, artefact_b, artefact_auc, near_miss_cos,
        near_miss_auc), or None."""
        with self.connect() as con:
            return con.execute(GET_CALIBRATION, [model_id]).fetchone()

    def put_calibration(self, model_id: str, a: float, b: float, n_pairs: int, match_auc: float,
                        artefact_a: float | None = None, artefact_b: float | None = None,
                        artefact_auc: float | None = None, near_miss_cos: float | None = None,
                        near_miss_auc: float | None = None) -> None:
        with self.transaction() as con:
            con.execute(PUT_CALIBRATION, [model_id, a, b, n_pairs, match_auc, artefact_a, artefact_b, artefact_auc,
                                          near_miss_cos, near_miss_auc])

    # ----------------------------------------------------------------- stages 4-6
    def save_clustering(self, *, result_id: str, batch_id: str, round: int | None, k: int, metrics: dict,
                        image_ids: Sequence[str], labels: np.ndarray, distances: np.ndarray,
                        profiles: Sequence[dict]) -> None:
        """One clustering (per-K metrics, assignments, named profiles), replacing an earlier one of the same id."""
        frame = pd.DataFrame({"result_id": result_id, "image_id": list(image_ids),
                              "cluster_id": np.asarray(labels, dtype=np.int64),
                              "distance": np.asarray(distances, dtype=np.float64)})
        with self.transaction() as con:
            for stmt in DELETE_CLUSTERING:
                con.execute(stmt, [result_id])
            con.execute(INSERT_CLUSTER_RESULT, [result_id, batch_id, round, k, _json(metrics)])
            con.register("new_assignments", frame)
            con.execute(INSERT_ASSIGNMENTS_FROM)
            for p in profiles:
                con.execute(INSERT_PROFILE, [result_id, p["cluster_id"], p["name"], p["size"], p["medoid_image_id"],
                                             _json(p["attributes"])])
            for stmt in REFRESH_PROFILE_SUCCESS:
                con.execute(stmt)

    def refresh_style_profile_success(self) -> None:
        with self.transaction() as con:
            for stmt in REFRESH_PROFILE_SUCCESS:
                con.execute(stmt)

    def save_selection(self, *, selection_id: str, batch_id: str, round: int | None, theta: float, k: int,
                       selected_ids: Sequence[str], log_det: float, vendi: float, mean_quality: float,
                       metrics: dict) -> None:
        with self.transaction() as con:
            con.execute(UPSERT_SELECTION, [selection_id, batch_id, round, theta, k, _json(list(selected_ids)),
                                           log_det if np.isfinite(log_det) else None, vendi, mean_quality,
                                           _json(metrics)])

    def save_coverage(self, *, report_id: str, run_id: str, round: int, report: dict,
                      targets: Mapping[tuple[str, str], float], boosts: Mapping[str, Mapping[str, float]]) -> dict:
        """A round's coverage report and targets; its gaps open (or stay open), earlier ones it meets close.

        Returns {"opened": n, "closed": n, "open": n}.
        """
        gaps = report["gaps"]
        measured = {(v["attribute"], v["value"]) for v in report["values"]}
        with self.transaction() as con:
            con.execute(UPSERT_COVERAGE_REPORT, [report_id, run_id, round, _json(report), report["score"],
                                                 report.get("score_selected")])
            for (a, v), t in targets.items():
                con.execute(UPSERT_COVERAGE_CONFIG, [a, v, t, boosts.get(a, {}).get(v, 1.0) - 1.0])
            before = {(a, v): gid for gid, a, v in con.execute(OPEN_GAPS, [run_id]).fetchall()}
            now = set()
            for g in gaps:
                key = (g["attribute"], g["value"])
                now.add(key)
                con.execute(UPSERT_GAP, [f"{run_id}:{key[0]}={key[1]}", run_id, key[0], key[1], g["severity"],
                                         g["target"], g["observed"], g["boost"], g["deficit"], round])
            closed = [gid for key, gid in before.items() if key in measured and key not in now]
            for gid in closed:
                con.execute(CLOSE_GAP, [round, gid])
        return {"opened": len(now - set(before)), "closed": len(closed), "open": len(now)}

    def run_gaps(self, run_id: str) -> pd.DataFrame:
        with self.connect() as con:
            return con.execute(SELECT_RUN_GAPS, [run_id]).df()

    # ----------------------------------------------------------------- reading
    def table(self, name: str) -> pd.DataFrame:
        """A whole table or view as a DataFrame (for notebooks and reports)."""
        if name not in TABLES + VIEWS:
            raise StoreError(f"unknown table {name!r}; known: {', '.join(TABLES + VIEWS)}")
        with self.connect() as con:
            # name is checked against the fixed list above; identifiers cannot be bound
            return con.execute(f'SELECT * FROM "{name}"').df()

    def table_row(self, name: str, row_id: str) -> dict[str, Any]:
        """One row of a table with an ``id`` column."""
        if name not in TABLES:
            raise StoreError(f"unknown table {name!r}; known: {', '.join(TABLES)}")
        with self.connect() as con:
            frame = con.execute(f'SELECT * FROM "{name}" WHERE id = ?', [row_id]).df()
        if frame.empty:
            raise StoreError(f"{name}: no row {row_id!r}; run its stage first")
        return frame.iloc[0].to_dict()

    def style_profiles(self, result_id: str) -> list[dict[str, Any]]:
        with self.connect() as con:
            return con.execute("SELECT * FROM style_profiles WHERE result_id = ? ORDER BY cluster_id",
                               [result_id]).df().to_dict("records")

    def table_counts(self) -> dict[str, int]:
        with self.connect() as con:
            return {t: int(con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]) for t in TABLES}

    # ----------------------------------------------------------------- privacy
    def purge_user(self, user_id: str) -> PurgeReport:
        """Delete one user's rows everywhere and the image files no one else references.

        Rows go in one transaction; files are removed after it commits, and only those whose
        sha256 no remaining row points at (content-addressed files can be shared).
        """
        rows: dict[str, int] = {}
        with self.transaction() as con:
            images = con.execute(USER_IMAGES, [user_id]).fetchall()
            for table, stmt in PURGE_STATEMENTS:
                params = [user_id] * stmt.count("?")
                rows[table] = int(con.execute(stmt, params).fetchone()[0])
        files = 0
        with self.connect() as con:
            for _, sha, rel in images:
                if not rel or (sha and con.execute(SHA_STILL_USED, [sha]).fetchone()[0]):
                    continue
                path = self.workspace / rel
                if path.is_file():
                    path.unlink()
                    files += 1
        return PurgeReport(user_id=user_id, rows=rows, files=files)

    # ----------------------------------------------------------------- health
    def check_writable(self) -> None:
        """Raise StoreError unless the store and images folder accept writes."""
        with self.transaction() as con:
            con.execute("CREATE TEMP TABLE _doctor_probe (x INTEGER)")
            con.execute("INSERT INTO _doctor_probe VALUES (?)", [1])
        probe = self.images_dir / f".probe-{os.getpid()}"
        try:
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as err:
            raise StoreError(f"images folder {self.images_dir} is not writable: {err.strerror}") from None

    def free_disk_bytes(self) -> int:
        return shutil.disk_usage(self.workspace).free


def image_id_for(job_id: str, spec_index: int) -> str:
    """Image ids are derived from (job, spec), so a resumed job can never store a spec twice."""
    return f"{job_id}-{spec_index:05d}"


def open_store(workspace: str | Path, *, migrate: bool = True, lock_timeout: float = 30.0) -> Store:
    """Create the workspace folder if needed and bring its store to the latest schema."""
    workspace = Path(workspace)
    if workspace.exists() and not workspace.is_dir():
        raise StoreError(f"workspace {workspace} exists and is not a folder")
    try:
        (workspace / IMAGES_DIRNAME).mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise StoreError(f"cannot create workspace {workspace}: {err.strerror}") from None
    store = Store(workspace, lock_timeout=lock_timeout)
    if migrate:
        store.migrate()
    return store

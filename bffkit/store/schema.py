"""The store's schema: the seed system's tables by their seed names, migrated forward by version.

Each version is a list of statements applied in one transaction (:meth:`Connection.migrate`);
a store is never migrated backward."""

JOB_STATUSES = ("queued", "running", "partial", "done", "failed")

FEEDBACK_TYPES = ("positive", "negative", "neutral")

GAP_SEVERITIES = ("critical", "high", "medium", "low")

API_ROLES = ("reviewer", "researcher", "admin")  # each may do what the one before it may

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

# Version 7: `bffkit serve`. API users (a token's SHA-256, never the token), and clusterings and
# selections recomputed through the API, stored beside the stage's own (variant NULL), not over it.
V7 = [
    """CREATE TABLE api_users (
        name       VARCHAR PRIMARY KEY,
        role       VARCHAR NOT NULL CHECK (role IN ('reviewer', 'researcher', 'admin')),
        token_hash VARCHAR NOT NULL UNIQUE,
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp)""",
    "ALTER TABLE cluster_results ADD COLUMN variant VARCHAR",
    "ALTER TABLE dpp_selection_results ADD COLUMN variant VARCHAR",
]

# Version 8: selection quality on an informative scale needs the near-miss line's slope; exact
# duplicates (same bytes in a job, stage 3) and near duplicates (cosine at or above the threshold
# within a style cluster, stage 4) name the image they repeat and are not offered to selection.
V8 = [
    "ALTER TABLE model_calibration ADD COLUMN near_miss_a DOUBLE",
    "ALTER TABLE image_tags ADD COLUMN duplicate_of VARCHAR",
    "ALTER TABLE cluster_assignments ADD COLUMN duplicate_of VARCHAR",
]

# Version 9: a finished round is history. Exploring stores variants beside its results; adopting
# one (the workbench, `bffkit adopt`) appends a row here and never rewrites a result. A round's
# current clustering and selection are its latest adoption's (`n` counts them per job and stage),
# else the stage's own; every reader goes through these two views.
V9 = [
    """CREATE TABLE adoptions (
        batch_id   VARCHAR NOT NULL,
        stage      VARCHAR NOT NULL CHECK (stage IN ('cluster', 'select')),
        n          INTEGER NOT NULL,
        result_id  VARCHAR NOT NULL,
        variant    VARCHAR,
        adopted_by VARCHAR,
        note       VARCHAR,
        adopted_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
        PRIMARY KEY (batch_id, stage, n))""",
    """CREATE OR REPLACE VIEW current_clusterings AS
    SELECT r.* FROM cluster_results r
    LEFT JOIN (SELECT batch_id, arg_max(result_id, n) AS adopted FROM adoptions WHERE stage = 'cluster'
               GROUP BY batch_id) a ON a.batch_id = r.batch_id
    WHERE r.id = a.adopted OR (a.adopted IS NULL AND r.variant IS NULL)""",
    """CREATE OR REPLACE VIEW current_selections AS
    SELECT s.* FROM dpp_selection_results s
    LEFT JOIN (SELECT batch_id, arg_max(result_id, n) AS adopted FROM adoptions WHERE stage = 'select'
               GROUP BY batch_id) a ON a.batch_id = s.batch_id
    WHERE s.id = a.adopted OR (a.adopted IS NULL AND s.variant IS NULL)""",
]

MIGRATIONS: dict[int, list[str]] = {1: V1, 2: V2, 3: V3, 4: V4, 5: V5, 6: V6, 7: V7, 8: V8, 9: V9}

LATEST_VERSION = max(MIGRATIONS)

# Tables a reader may ask for by name (DESIGN.md lists the seed ones).
TABLES = (
    "generation_jobs", "generated_images", "vlt_attributes", "image_embeddings", "cluster_results",
    "cluster_assignments", "coverage_reports", "attribute_gaps", "dpp_selection_results",
    "coverage_config", "user_feedback", "outliers", "vlt_attribute_success",
    "style_profile_success", "learning_updates", "runs", "prompt_specs", "image_tags", "model_calibration",
    "style_profiles", "preference_heads", "run_metrics", "api_users", "adoptions",
)

VIEWS = ("coverage_summary_view", "outlier_rate_by_attribute", "recent_feedback_summary", "current_clusterings",
         "current_selections")

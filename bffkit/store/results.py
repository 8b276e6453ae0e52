"""Stages 4-6's results: clusterings and style profiles, DPP selections, coverage reports and gaps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import NotStoredError
from .connection import Connection, decoded, encode_json
from .ids import clustering_id, coverage_report_id, gap_id, selection_id

DELETE_CLUSTERING = ("DELETE FROM cluster_assignments WHERE result_id = ?",
                     "DELETE FROM style_profiles WHERE result_id = ?",
                     "DELETE FROM cluster_results WHERE id = ?")

INSERT_CLUSTER_RESULT = """
INSERT INTO cluster_results (id, batch_id, round, num_clusters, metrics, variant) VALUES (?, ?, ?, ?, ?, ?)"""

INSERT_ASSIGNMENTS_FROM = """
INSERT INTO cluster_assignments (result_id, image_id, cluster_id, distance, duplicate_of)
SELECT result_id, image_id, CAST(cluster_id AS INTEGER), distance, CAST(duplicate_of AS VARCHAR) FROM new_assignments"""

INSERT_PROFILE = """
INSERT INTO style_profiles (result_id, cluster_id, name, size, medoid_image_id, attributes) VALUES (?, ?, ?, ?, ?, ?)"""

# Every image ever clustered counts once, under the profile of its latest clustering.
REFRESH_PROFILE_SUCCESS = ("DELETE FROM style_profile_success", """
INSERT INTO style_profile_success (profile, total_gens, outlier_count, outlier_rate)
WITH latest AS (
    SELECT a.image_id, arg_max(p.name, r.created_at) AS profile
    FROM cluster_assignments a
    JOIN current_clusterings r ON r.id = a.result_id
    JOIN style_profiles p ON p.result_id = a.result_id AND p.cluster_id = a.cluster_id
    GROUP BY a.image_id)
SELECT profile, count(*), count(o.image_id), count(o.image_id) / count(*)
FROM latest LEFT JOIN (SELECT DISTINCT image_id FROM outliers) o USING (image_id)
GROUP BY profile""")

UPSERT_SELECTION = """
INSERT OR REPLACE INTO dpp_selection_results (id, batch_id, round, theta, k, selected_ids, diversity_score,
                                              vendi_score, mean_quality, metrics, variant)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""

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

ROUND_COVERAGE = "SELECT coverage_data FROM coverage_reports WHERE batch_id = ? AND round = ?"
GET_CLUSTERING = "SELECT * FROM cluster_results WHERE id = ?"
SELECT_PROFILES = "SELECT * FROM style_profiles WHERE result_id = ? ORDER BY cluster_id"
GET_SELECTION = "SELECT * FROM dpp_selection_results WHERE id = ?"
GET_COVERAGE_REPORT = "SELECT * FROM coverage_reports WHERE id = ?"

CLUSTER_LABELS = "SELECT image_id, cluster_id FROM cluster_assignments WHERE result_id = ?"
NEAR_DUPLICATES = "SELECT image_id, duplicate_of FROM cluster_assignments WHERE result_id = ? AND duplicate_of IS NOT NULL"
CLUSTER_ASSIGNMENTS = """
SELECT image_id, cluster_id, distance FROM cluster_assignments WHERE result_id = ? ORDER BY cluster_id, distance, image_id
LIMIT ? OFFSET ?"""
COUNT_ASSIGNMENTS = "SELECT count(*) FROM cluster_assignments WHERE result_id = ?"
CURRENT_CLUSTERING = "SELECT * FROM current_clusterings WHERE batch_id = ?"
CURRENT_CLUSTERING_ID = "SELECT id FROM current_clusterings WHERE batch_id = ?"
CURRENT_SELECTION = "SELECT * FROM current_selections WHERE batch_id = ?"
RESULT_EXISTS = {"cluster": "SELECT variant FROM cluster_results WHERE id = ?",
                 "select": "SELECT variant FROM dpp_selection_results WHERE id = ?"}
NEXT_ADOPTION = "SELECT coalesce(max(n), 0) + 1 FROM adoptions WHERE batch_id = ? AND stage = ?"
INSERT_ADOPTION = """
INSERT INTO adoptions (batch_id, stage, n, result_id, variant, adopted_by, note) VALUES (?, ?, ?, ?, ?, ?, ?)"""
JOB_ADOPTIONS = "SELECT * FROM adoptions WHERE batch_id = ? ORDER BY stage, n"
RUN_ADOPTIONS = """
SELECT j.round, a.* FROM adoptions a JOIN generation_jobs j ON j.id = a.batch_id WHERE j.run_id = ?
ORDER BY j.round, a.stage, a.n"""
ADOPTABLE = ("cluster", "select")
JOB_CLUSTERINGS = "SELECT * FROM cluster_results WHERE batch_id = ? ORDER BY variant NULLS FIRST, created_at"
JOB_SELECTIONS = "SELECT * FROM dpp_selection_results WHERE batch_id = ? ORDER BY variant NULLS FIRST, created_at"



class ResultsTables(Connection):
    """The store's methods for stages 4-6's results, each keyed by its generation job.

    A job's clustering and selection mean its *current* ones: the latest adopted variant's
    (:meth:`adopt`), else the stage's own. Variants are stored beside them and never over them.
    """

    def _one(self, query: str, row_id: str, what: str) -> dict[str, Any]:
        with self.connect() as con:
            frame = decoded(con.execute(query, [row_id]))
        if frame.empty:
            raise NotStoredError(f"no {what} {row_id!r} stored; run its stage first")
        return frame.iloc[0].to_dict()

    # ----------------------------------------------------------------- stage 4: cluster
    def save_clustering(self, *, job_id: str, round: int | None, k: int, metrics: dict, image_ids: Sequence[str],
                        labels: np.ndarray, distances: np.ndarray, profiles: Sequence[dict],
                        variant: str | None = None, duplicate_of: Sequence[str | None] | None = None) -> str:
        """A job's clustering (per-K metrics, assignments, named profiles, and per image the better
        image of its cluster it near-duplicates, if any), replacing an earlier one of the same
        `variant`; its id. A variant never becomes the profiles analytics counts."""
        result_id = clustering_id(job_id, variant)
        frame = pd.DataFrame({"result_id": result_id, "image_id": list(image_ids),
                              "cluster_id": np.asarray(labels, dtype=np.int64),
                              "distance": np.asarray(distances, dtype=np.float64),
                              "duplicate_of": pd.Series(list(duplicate_of) if duplicate_of is not None
                                                        else [None] * len(image_ids), dtype=object)})
        with self.transaction() as con:
            for stmt in DELETE_CLUSTERING:
                con.execute(stmt, [result_id])
            con.execute(INSERT_CLUSTER_RESULT, [result_id, job_id, round, k, encode_json(metrics), variant])
            con.register("new_assignments", frame)
            con.execute(INSERT_ASSIGNMENTS_FROM)
            for p in profiles:
                con.execute(INSERT_PROFILE, [result_id, p["cluster_id"], p["name"], p["size"], p["medoid_image_id"],
                                             encode_json(p["attributes"])])
            for stmt in REFRESH_PROFILE_SUCCESS:  # counts current clusterings only (a variant, once adopted)
                con.execute(stmt)
        return result_id

    def refresh_style_profile_success(self) -> None:
        with self.transaction() as con:
            for stmt in REFRESH_PROFILE_SUCCESS:
                con.execute(stmt)

    def clustering(self, job_id: str, variant: str | None = None) -> dict[str, Any]:
        """A job's current cluster_results row, or one `variant`'s (``num_clusters``, decoded ``metrics``)."""
        if variant is not None:
            return self._one(GET_CLUSTERING, clustering_id(job_id, variant), "clustering")
        return self._one(CURRENT_CLUSTERING, job_id, "clustering of job")

    def current_clustering_id(self, job_id: str) -> str:
        """The id of a job's current clustering (the stage's own id when there is none yet)."""
        with self.connect() as con:
            row = con.execute(CURRENT_CLUSTERING_ID, [job_id]).fetchone()
        return row[0] if row else clustering_id(job_id)

    def clusterings(self, job_id: str) -> list[dict[str, Any]]:
        """Every clustering of a job: the stage's own first (``variant`` None), then the variants."""
        with self.connect() as con:
            return decoded(con.execute(JOB_CLUSTERINGS, [job_id])).to_dict("records")

    def cluster_assignments(self, result_id: str, *, limit: int, offset: int = 0) -> tuple[int, list[dict]]:
        """(total, one page of image_id / cluster_id / distance) of a clustering, by cluster then distance."""
        with self.connect() as con:
            total = int(con.execute(COUNT_ASSIGNMENTS, [result_id]).fetchone()[0])
            rows = decoded(con.execute(CLUSTER_ASSIGNMENTS, [result_id, limit, offset])).to_dict("records")
        return total, rows

    def profiles_of(self, result_id: str) -> list[dict[str, Any]]:
        """The style profiles of one clustering (by its id), ``attributes`` decoded."""
        with self.connect() as con:
            return decoded(con.execute(SELECT_PROFILES, [result_id])).to_dict("records")

    def cluster_labels(self, job_id: str, image_ids: Sequence[str]) -> np.ndarray | None:
        """Each image's cluster in a job's clustering, in the order of `image_ids` (None: not clustered)."""
        with self.connect() as con:
            rows = dict(con.execute(CLUSTER_LABELS, [self.current_clustering_id(job_id)]).fetchall())
        if not rows:
            return None
        return np.array([rows[i] for i in image_ids], dtype=np.int64)

    def near_duplicates(self, job_id: str) -> dict[str, str]:
        """{image id: the image it near-duplicates} in a job's clustering (empty: none, or not clustered)."""
        with self.connect() as con:
            return dict(con.execute(NEAR_DUPLICATES, [self.current_clustering_id(job_id)]).fetchall())

    def style_profiles(self, job_id: str) -> list[dict[str, Any]]:
        """A job's style profiles by cluster id, ``attributes`` decoded."""
        return self.profiles_of(self.current_clustering_id(job_id))

    # ----------------------------------------------------------------- stage 5: select
    def save_selection(self, *, job_id: str, round: int | None, theta: float, k: int, selected_ids: Sequence[str],
                       log_det: float, vendi: float, mean_quality: float, metrics: dict,
                       variant: str | None = None) -> str:
        """A job's DPP selection, replacing an earlier one of the same `variant`; its id."""
        sel_id = selection_id(job_id, variant)
        with self.transaction() as con:
            con.execute(UPSERT_SELECTION, [sel_id, job_id, round, theta, k, encode_json(list(selected_ids)),
                                           log_det if np.isfinite(log_det) else None, vendi, mean_quality,
                                           encode_json(metrics), variant])
        return sel_id

    def selections(self, job_id: str) -> list[dict[str, Any]]:
        """Every selection of a job: the stage's own first (``variant`` None), then the variants."""
        with self.connect() as con:
            return decoded(con.execute(JOB_SELECTIONS, [job_id])).to_dict("records")

    def selection(self, job_id: str, variant: str | None = None) -> dict[str, Any]:
        """A job's current dpp_selection_results row, or one `variant`'s (``selected_ids`` and ``metrics`` decoded)."""
        if variant is not None:
            return self._one(GET_SELECTION, selection_id(job_id, variant), "selection")
        return self._one(CURRENT_SELECTION, job_id, "selection of job")

    def selected_indices(self, job_id: str, image_ids: Sequence[str]) -> np.ndarray:
        """Positions in `image_ids` of a job's stored selection, in selection order."""
        selected = self.selection(job_id)["selected_ids"]
        pos = {i: k for k, i in enumerate(image_ids)}
        return np.array([pos[i] for i in selected if i in pos], dtype=np.int64)

    # ----------------------------------------------------------------- adopting a variant
    def adopt(self, job_id: str, stage: str, variant: str | None, *, adopted_by: str | None = None,
              note: str | None = None) -> dict[str, Any]:
        """Make a stored variant (None: the stage's own again) the job's current clustering or
        selection, for what reads it from now on; appended to ``adoptions``, nothing rewritten."""
        if stage not in ADOPTABLE:
            raise ValueError(f"stage={stage!r}: must be one of {', '.join(ADOPTABLE)}")
        result_id = (clustering_id if stage == "cluster" else selection_id)(job_id, variant)
        with self.transaction() as con:
            if con.execute(RESULT_EXISTS[stage], [result_id]).fetchone() is None:
                rows = con.execute(JOB_CLUSTERINGS if stage == "cluster" else JOB_SELECTIONS, [job_id]).fetchdf()
                known = ", ".join(v if isinstance(v, str) else "own" for v in rows["variant"]) or "none"
                raise NotStoredError(f"variant={variant or 'own'!r}: no such {stage} result of job {job_id!r}; "
                                     f"stored: {known}")
            n = int(con.execute(NEXT_ADOPTION, [job_id, stage]).fetchone()[0])
            con.execute(INSERT_ADOPTION, [job_id, stage, n, result_id, variant, adopted_by, note])
            for stmt in REFRESH_PROFILE_SUCCESS if stage == "cluster" else ():
                con.execute(stmt)
        return {"batch_id": job_id, "stage": stage, "n": n, "result_id": result_id, "variant": variant}

    def adoptions(self, job_id: str | None = None, *, run_id: str | None = None) -> list[dict[str, Any]]:
        """The adoptions of one job, or of every round of a run (with ``round``), oldest first."""
        with self.connect() as con:
            frame = decoded(con.execute(RUN_ADOPTIONS, [run_id]) if run_id is not None
                            else con.execute(JOB_ADOPTIONS, [job_id]))
        return frame.astype(object).where(frame.notna(), None).to_dict("records")  # NULL as None, not NaN

    # ----------------------------------------------------------------- stage 6: coverage
    def save_coverage(self, *, job_id: str, run_id: str, round: int, report: dict,
                      targets: Mapping[tuple[str, str], float], boosts: Mapping[str, Mapping[str, float]],
                      close: Sequence[str] = ()) -> str:
        """A round's coverage report and targets, its gaps upserted open and the `close` gap ids closed,
        in one transaction; the report's id."""
        report_id = coverage_report_id(job_id)
        with self.transaction() as con:
            con.execute(UPSERT_COVERAGE_REPORT, [report_id, run_id, round, encode_json(report), report["score"],
                                                 report.get("score_selected")])
            for (a, v), t in targets.items():
                con.execute(UPSERT_COVERAGE_CONFIG, [a, v, t, boosts.get(a, {}).get(v, 1.0) - 1.0])
            for g in report["gaps"]:
                a, v = g["attribute"], g["value"]
                con.execute(UPSERT_GAP, [gap_id(run_id, a, v), run_id, a, v, g["severity"], g["target"],
                                         g["observed"], g["boost"], g["deficit"], round])
            for gid in close:
                con.execute(CLOSE_GAP, [round, gid])
        return report_id

    def coverage_report(self, job_id: str) -> dict[str, Any]:
        """A job's coverage_reports row (``coverage_data`` decoded: score, values, gaps)."""
        return self._one(GET_COVERAGE_REPORT, coverage_report_id(job_id), "coverage report")

    def round_coverage(self, run_id: str, round: int) -> dict[str, Any] | None:
        """The coverage report (score, values, gaps) of one round of a run, or None."""
        with self.connect() as con:
            frame = decoded(con.execute(ROUND_COVERAGE, [run_id, round]))
        return None if frame.empty else frame.iloc[0]["coverage_data"]

    def open_gaps(self, run_id: str) -> dict[tuple[str, str], str]:
        """(attribute, value) -> gap id of a run's open gaps."""
        with self.connect() as con:
            return {(a, v): gid for gid, a, v in con.execute(OPEN_GAPS, [run_id]).fetchall()}

    def run_gaps(self, run_id: str) -> pd.DataFrame:
        with self.connect() as con:
            return decoded(con.execute(SELECT_RUN_GAPS, [run_id]))

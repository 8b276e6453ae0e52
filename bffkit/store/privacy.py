"""Removing one user's rows and files (`bffkit purge`), and feedback older than its retention."""

from __future__ import annotations

from dataclasses import dataclass

from .connection import Connection
from .images import SHA_STILL_USED

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
    ("adoptions", "DELETE FROM adoptions WHERE batch_id IN (SELECT id FROM generation_jobs WHERE user_id = ?)"),
    ("adoptions_by", "UPDATE adoptions SET adopted_by = NULL WHERE adopted_by = ?"),  # another's run keeps its history
    ("prompt_specs", "DELETE FROM prompt_specs WHERE job_id IN (SELECT id FROM generation_jobs WHERE user_id = ?)"),
    ("generated_images", "DELETE FROM generated_images WHERE user_id = ?"),
    ("generation_jobs", "DELETE FROM generation_jobs WHERE user_id = ?"),
    ("run_metrics", "DELETE FROM run_metrics WHERE run_id IN (SELECT id FROM runs WHERE user_id = ?)"),
    ("runs", "DELETE FROM runs WHERE user_id = ?"),
    ("api_users", "DELETE FROM api_users WHERE name = ?"),
)

# Feedback older than the retention window, and the outliers it made (bind the cutoff in days)
OLD_FEEDBACK = "created_at < now()::TIMESTAMP - to_days(CAST(? AS INTEGER))"
RETENTION_STATEMENTS = (
    ("outliers", f"DELETE FROM outliers WHERE feedback_id IN (SELECT id FROM user_feedback WHERE {OLD_FEEDBACK})"),
    ("user_feedback", f"DELETE FROM user_feedback WHERE {OLD_FEEDBACK}"),
)


@dataclass(frozen=True)
class PurgeReport:
    """What `purge_user` removed: rows per table and image files."""

    user_id: str
    rows: dict[str, int]
    files: int

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


class PrivacyTables(Connection):
    """The store's methods for removing one user's rows and files (`bffkit purge`)."""

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

    def purge_feedback_older_than(self, days: int) -> dict[str, int]:
        """Delete every user's feedback older than `days` days and the outliers it made (one
        transaction); rows deleted per table. What was learned from it stays (no event in it)."""
        with self.transaction() as con:
            return {table: int(con.execute(stmt, [int(days)]).fetchone()[0]) for table, stmt in RETENTION_STATEMENTS}

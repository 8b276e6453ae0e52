"""Generation jobs, their prompt specs, and the image files and rows they produced.

A batch of images is written as: journal lines (fsync) -> each file to a temp name (fsync)
-> atomic rename to images/<sha[:2]>/<sha>.png -> all rows in one transaction. A kill at any
point leaves nothing, temp files, or complete files the journal names; `recover_job`
removes those no row references, so a rerun ends with no orphan and no half-written file."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from ..exceptions import NotStoredError, StoreError
from ..paths import IMAGES_DIRNAME
from .connection import Connection, decoded, encode_json
from .ids import image_id_for
from .schema import JOB_STATUSES

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

EXISTING_IMAGES = "SELECT id FROM generated_images WHERE id IN (SELECT unnest(?))"

IMAGES_BY_ID = "SELECT * FROM generated_images WHERE id IN (SELECT unnest(?))"

IMAGE_SHAS = "SELECT id, sha256 FROM generated_images WHERE id IN (SELECT unnest(?))"

JOB_IMAGE_INDICES = "SELECT spec_index FROM generated_images WHERE job_id = ?"

JOB_IMAGES = "SELECT * FROM generated_images WHERE job_id = ? ORDER BY spec_index"

JOB_COUNTS = """
SELECT count(*) FILTER (WHERE status = 'ok'), count(*) FILTER (WHERE status = 'failed')
FROM generated_images WHERE job_id = ?"""

SET_JOB_STATE = """
UPDATE generation_jobs SET status = ?, n_done = ?, n_failed = ?, error = ?, updated_at = now() WHERE id = ?"""

SET_JOB_RUNNING = "UPDATE generation_jobs SET status = 'running', backend = ?, model = ?, updated_at = now() WHERE id = ?"

# One page of a filtered image listing; `selected` means in its round's current selection (an adopted
# variant's, else the stage's own)
IMAGE_FILTER = """
FROM generated_images i JOIN generation_jobs j ON j.id = i.job_id
LEFT JOIN current_selections s ON s.batch_id = i.job_id
WHERE i.status = 'ok' AND (? IS NULL OR j.run_id = ?) AND (? IS NULL OR j.round = ?)
  AND (? IS NULL OR coalesce(list_contains(CAST(s.selected_ids AS VARCHAR[]), i.id), false) = ?)"""
PAGE_IMAGES = f"""
SELECT i.id, i.job_id, j.run_id, j.round, i.spec_index, i.prompt, i.vlt_attributes, i.width, i.height, i.sha256,
       i.backend, i.model, coalesce(list_contains(CAST(s.selected_ids AS VARCHAR[]), i.id), false) AS selected,
       i.created_at
{IMAGE_FILTER} ORDER BY j.run_id, j.round, i.spec_index LIMIT ? OFFSET ?"""
COUNT_IMAGES = f"SELECT count(*) {IMAGE_FILTER}"
IMAGE_FILES = "SELECT id, sha256, path FROM generated_images WHERE status = 'ok' AND path IS NOT NULL"
# Each round's selected images in selection order, with the style profile of the round's clustering
REVIEW_IMAGES = """
SELECT j.round, i.id, i.prompt, i.width, i.height, p.name AS profile
FROM generation_jobs j
JOIN current_selections s ON s.batch_id = j.id
JOIN generated_images i ON i.job_id = j.id AND list_contains(CAST(s.selected_ids AS VARCHAR[]), i.id)
LEFT JOIN current_clusterings r ON r.batch_id = j.id
LEFT JOIN cluster_assignments a ON a.result_id = r.id AND a.image_id = i.id
LEFT JOIN style_profiles p ON p.result_id = r.id AND p.cluster_id = a.cluster_id
WHERE j.run_id = ? AND i.status = 'ok'
ORDER BY j.round, list_position(CAST(s.selected_ids AS VARCHAR[]), i.id)"""

SHA_STILL_USED = "SELECT count(*) FROM generated_images WHERE sha256 = ?"


class ImagesTables(Connection):
    """The store's methods for generation jobs, their prompt specs, and the image files and rows they produced."""

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
            "attributes": encode_json(s.attributes),
            "requested": encode_json(list(s.requested)),
            "free_text": encode_json(list(s.free_text)),
            "params": encode_json(s.params),
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
            frame = decoded(con.execute(GET_JOB, [job_id]))
        if frame.empty:
            raise NotStoredError(f"no generation job {job_id!r} stored")
        return frame.iloc[0].to_dict()

    def stored_spec_indices(self, job_id: str) -> set[int]:
        """Spec indices of a job that already have an image row (generated or failed for good)."""
        with self.connect() as con:
            return {int(r[0]) for r in con.execute(JOB_IMAGE_INDICES, [job_id]).fetchall()}

    def job_images(self, job_id: str) -> pd.DataFrame:
        with self.connect() as con:
            return decoded(con.execute(JOB_IMAGES, [job_id]))

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
        created: list[Path] = []
        try:
            for row, data in written:
                if self._write_atomic(job_id, self.workspace / row["path"], data):
                    created.append(self.workspace / row["path"])
            with self.transaction() as con:
                return self._insert_images(con, rows)
        except BaseException:
            # a full disk, a failed transaction: no file of this batch stays without its row
            for path in created:
                path.unlink(missing_ok=True)
            raise

    def _write_atomic(self, job_id: str, final: Path, data: bytes) -> bool:
        """Write `data` to `final` through a temporary file; False if it was already there."""
        if final.exists():
            return False  # content-addressed: the same bytes are already there
        final.parent.mkdir(parents=True, exist_ok=True)
        self._tmp_dir().mkdir(parents=True, exist_ok=True)
        tmp = self._tmp_dir() / f"{self._job_key(job_id)}-{uuid.uuid4().hex}.part"
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        return True

    def jobs(self, run_id: str | None = None) -> pd.DataFrame:
        with self.connect() as con:
            if run_id is None:
                return decoded(con.execute(SELECT_JOBS))
            return decoded(con.execute(SELECT_RUN_JOBS, [run_id]))

    def stored_spec_count(self, job_id: str) -> int:
        with self.connect() as con:
            return int(con.execute(COUNT_SPECS, [job_id]).fetchone()[0])

    def prompt_specs(self, job_id: str) -> list[dict[str, Any]]:
        with self.connect() as con:
            frame = decoded(con.execute(SELECT_SPECS, [job_id]))
        return frame.to_dict("records")

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
                rec[key] = encode_json(rec[key] or {})
            rec["status"] = rec["status"] or "ok"
            records.append(rec)
        frame = pd.DataFrame.from_records(records, columns=IMAGE_COLUMNS)
        for col in ("spec_index", "seed", "width", "height"):
            frame[col] = frame[col].astype("Int64")
        con.register("new_images", frame)
        return int(con.execute(INSERT_IMAGES_FROM).fetchone()[0])

    def existing_image_ids(self, image_ids: Sequence[str]) -> set[str]:
        with self.connect() as con:
            return {r[0] for r in con.execute(EXISTING_IMAGES, [list(image_ids)]).fetchall()}

    def images_by_id(self, image_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        with self.connect() as con:
            frame = decoded(con.execute(IMAGES_BY_ID, [list(image_ids)]))
        return {r["id"]: r for r in frame.to_dict("records")}

    def image_page(self, *, run_id: str | None = None, round: int | None = None, selected: bool | None = None,
                   limit: int, offset: int = 0) -> tuple[int, list[dict[str, Any]]]:
        """(total, one page of stored images matching the filters, by run, round and spec)."""
        where = [run_id, run_id, round, round, selected, selected]
        with self.connect() as con:
            total = int(con.execute(COUNT_IMAGES, where).fetchone()[0])
            return total, decoded(con.execute(PAGE_IMAGES, [*where, limit, offset])).to_dict("records")

    def image_files(self) -> dict[str, tuple[str, str]]:
        """id -> (sha256, path relative to the workspace) of every stored image."""
        with self.connect() as con:
            return {i: (sha, path) for i, sha, path in con.execute(IMAGE_FILES).fetchall()}

    def review_images(self, run_id: str) -> list[dict[str, Any]]:
        """Each round's selected images of a run, in selection order: round, id, prompt, size, profile."""
        with self.connect() as con:
            return decoded(con.execute(REVIEW_IMAGES, [run_id])).to_dict("records")

    def image_shas(self, image_ids: Sequence[str]) -> dict[str, str]:
        with self.connect() as con:
            return dict(con.execute(IMAGE_SHAS, [list(image_ids)]).fetchall())

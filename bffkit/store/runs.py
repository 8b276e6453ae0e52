"""Runs, their per-stage metrics, and the taxonomy a workspace was run with."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from .connection import Connection, decoded, encode_json

DELETE_TAXONOMY = "DELETE FROM vlt_attributes"

INSERT_ATTRIBUTE = """
INSERT INTO vlt_attributes (id, name, group_name, value_list, label, phrase, synonyms, applies_to,
                            sample_rate, taxonomy_version)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""

# Opening a finished run again (a notebook, a resumed main job) leaves it finished: its rounds are history.
UPSERT_RUN = """
INSERT INTO runs (id, name, user_id, config, status) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET status = CASE WHEN runs.status = 'done' THEN runs.status ELSE excluded.status END,
                               updated_at = CASE WHEN runs.status = 'done' THEN runs.updated_at ELSE now() END"""

SET_RUN_STATUS = "UPDATE runs SET status = ?, updated_at = now() WHERE id = ? AND status <> 'done'"

SELECT_RUN_METRICS = "SELECT * FROM run_metrics WHERE run_id = ? ORDER BY round, created_at"
SELECT_STAGE_SUMMARY = "SELECT summary FROM run_metrics WHERE run_id = ? AND round = ? AND stage = ?"
SELECT_RUNS = """
SELECT id, name, user_id, status, config->>'request' AS request, created_at, updated_at FROM runs
ORDER BY created_at DESC, id LIMIT ? OFFSET ?"""
COUNT_RUNS = "SELECT count(*) FROM runs"
GET_RUN = "SELECT id, name, user_id, status, config, created_at, updated_at FROM runs WHERE id = ?"
LATEST_RUN = "SELECT id FROM runs ORDER BY created_at DESC, id LIMIT 1"

UPSERT_RUN_METRIC = """
INSERT OR REPLACE INTO run_metrics (run_id, round, stage, seconds, items, success_rate, summary)
VALUES (?, ?, ?, ?, ?, ?, ?)"""


class RunsTables(Connection):
    """The store's methods for runs, their per-stage metrics, and the taxonomy a workspace was run with."""

    def sync_taxonomy(self, taxonomy) -> int:
        """Replace `vlt_attributes` with the taxonomy's attributes; returns the row count."""
        rows = taxonomy.records()
        with self.transaction() as con:
            con.execute(DELETE_TAXONOMY)
            for r in rows:
                con.execute(INSERT_ATTRIBUTE, [
                    r["id"], r["name"], r["group_name"], encode_json(r["values"]), r["label"], r["phrase"],
                    encode_json(r["synonyms"]), encode_json(r["applies_to"]), r["sample_rate"], taxonomy.version])
        return len(rows)

    def upsert_run(self, run_id: str, name: str, user_id: str, config: dict, status: str = "running") -> None:
        with self.transaction() as con:
            con.execute(UPSERT_RUN, [run_id, name, user_id, encode_json(config), status])

    def runs(self, *, limit: int, offset: int = 0) -> tuple[int, list[dict[str, Any]]]:
        """(total, one page of runs, newest first: id, name, user_id, status, request, timestamps)."""
        with self.connect() as con:
            total = int(con.execute(COUNT_RUNS).fetchone()[0])
            return total, decoded(con.execute(SELECT_RUNS, [limit, offset])).to_dict("records")

    def run(self, run_id: str) -> dict[str, Any] | None:
        """A run's row (``config`` decoded), or None."""
        with self.connect() as con:
            frame = decoded(con.execute(GET_RUN, [run_id]))
        return None if frame.empty else frame.iloc[0].to_dict()

    def latest_run_id(self) -> str | None:
        with self.connect() as con:
            row = con.execute(LATEST_RUN).fetchone()
        return row[0] if row else None

    def set_run_status(self, run_id: str, status: str) -> None:
        """A run's status; a finished run stays finished (what explores it later cannot fail it)."""
        with self.transaction() as con:
            con.execute(SET_RUN_STATUS, [status, run_id])

    def record_stage(self, run_id: str, round: int, stage: str, summary: dict[str, Any], *, seconds: float,
                     items: int | None, success_rate: float) -> None:
        """One row of the run-metrics table: a stage's wall time, items, success rate and summary."""
        with self.transaction() as con:
            con.execute(UPSERT_RUN_METRIC, [run_id, round, stage, seconds, None if items is None else int(items),
                                            success_rate, json.dumps(summary, default=str)])

    def stage_summary(self, run_id: str, round: int, stage: str) -> dict[str, Any] | None:
        """The summary a finished stage of a run's round recorded, or None."""
        with self.connect() as con:
            row = con.execute(SELECT_STAGE_SUMMARY, [run_id, round, stage]).fetchone()
        return json.loads(row[0]) if row else None

    def run_metrics(self, run_id: str) -> pd.DataFrame:
        """A run's stage rows in order, `summary` decoded."""
        with self.connect() as con:
            return decoded(con.execute(SELECT_RUN_METRICS, [run_id]))

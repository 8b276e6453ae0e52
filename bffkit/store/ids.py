"""Every id the store keys rows by, made here and nowhere else.

Ids are derived from what they name (a run's round, a job's spec, a job's stage result), so a
rerun of the same config finds what it stored before instead of storing it twice.
"""

from __future__ import annotations

import uuid


def job_id_for(run_id: str, round_number: int) -> str:
    """The generation job of one round of a run."""
    return f"{run_id}-r{round_number}"


def image_id_for(job_id: str, spec_index: int) -> str:
    """Image ids are derived from (job, spec), so a resumed job can never store a spec twice."""
    return f"{job_id}-{spec_index:05d}"


def clustering_id(job_id: str, variant: str | None = None) -> str:
    """A job's clustering (cluster_results, cluster_assignments, style_profiles); a `variant`
    (another K range, asked for through the API) is stored beside the stage's own."""
    return f"{job_id}-clusters" + (f"-{variant}" if variant else "")


def selection_id(job_id: str, variant: str | None = None) -> str:
    """A job's DPP selection (dpp_selection_results); a `variant` (another theta or k) beside it."""
    return f"{job_id}-dpp" + (f"-{variant}" if variant else "")


def coverage_report_id(job_id: str) -> str:
    """A job's coverage report (coverage_reports)."""
    return f"{job_id}-coverage"


def gap_id(run_id: str, attribute: str, value: str) -> str:
    """An attribute gap of a run: one row per (attribute, value), opened and closed across rounds."""
    return f"{run_id}:{attribute}={value}"


def new_id() -> str:
    """A fresh random id (feedback events, learning updates)."""
    return uuid.uuid4().hex

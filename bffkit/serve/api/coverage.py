"""/api/coverage: a round's attribute coverage, a run's gaps, and the boosts the next round gets."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from ...coverage import boosts_from_gaps
from ..deps import CallerDep, ServerDep, not_found, plain
from .rounds import Round, RunId, round_job

router = APIRouter(prefix="/api/coverage", tags=["coverage"])
SEVERITIES = ("critical", "high", "medium", "low")


@router.get("/{run_id}/rounds/{round}", summary="A round's coverage report: score, per-value shares, gaps")
def round_coverage(run_id: RunId, round: Round, server: ServerDep, who: CallerDep) -> dict:
    job = round_job(server, run_id, round)
    report = server.store.coverage_report(job["id"])
    return plain({"run_id": run_id, "round": round, "score": report["score"],
                  "score_selected": report["score_selected"], **(report["coverage_data"] or {})})


@router.get("/{run_id}/gaps", summary="A run's attribute gaps, open and closed, by severity")
def gaps(run_id: RunId, server: ServerDep, who: CallerDep,
         status: Annotated[Literal["open", "closed"] | None, Query()] = None,
         severity: Annotated[Literal["critical", "high", "medium", "low"] | None, Query()] = None) -> dict:
    if server.store.run(run_id) is None:
        raise not_found(f"run {run_id!r}")
    frame = server.store.run_gaps(run_id)
    if status:
        frame = frame[frame["status"] == status]
    if severity:
        frame = frame[frame["severity"] == severity]
    rows = frame.to_dict("records")
    counts = {s: sum(r["severity"] == s for r in rows) for s in SEVERITIES}
    return plain({"run_id": run_id, "total": len(rows), "by_severity": counts, "items": rows})


@router.get("/{run_id}/boosts", summary="What the next round samples more of: attribute -> value -> factor")
def boosts(run_id: RunId, server: ServerDep, who: CallerDep) -> dict:
    row = server.store.run(run_id)
    if row is None:
        raise not_found(f"run {run_id!r}")
    last = max((j["round"] for j in server.store.jobs(run_id).to_dict("records") if j.get("round")), default=None)
    report = server.store.round_coverage(run_id, last) if last else None
    return plain({"run_id": run_id, "after_round": last,
                  "boosts": (boosts_from_gaps(report["gaps"]) if report else None) or {}})

"""/api/diversity: a round's DPP selection, and selections at another theta or k (variants)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from ..auth import Caller
from ..deps import CallerDep, ServerDep, plain, require
from .rounds import Round, RunId, round_data, round_job, with_variants

router = APIRouter(prefix="/api/diversity", tags=["diversity"])


def _selection_view(row: dict) -> dict:
    metrics = row.get("metrics") or {}
    return {"id": row["id"], "variant": row.get("variant"), "theta": row["theta"], "k": row["k"],
            "selected_ids": row["selected_ids"], "n_selected": len(row["selected_ids"] or []),
            "vendi": row["vendi_score"], "mean_quality": row["mean_quality"], "log_det": row["diversity_score"],
            "random_vendi": metrics.get("random_vendi"), "cluster_aware": metrics.get("cluster_aware"),
            "n_excluded": metrics.get("n_excluded"), "warnings": metrics.get("warnings", []),
            "created_at": row.get("created_at")}


@router.get("/{run_id}/rounds/{round}", summary="A round's selection (the stage's own) and its variants")
def round_selection(run_id: RunId, round: Round, server: ServerDep, who: CallerDep) -> dict:
    job_id = round_job(server, run_id, round)["id"]
    rows = server.store.selections(job_id)
    return with_variants(run_id, round, rows, _selection_view, "selection",
                         server.store.selection(job_id)["id"] if rows else "")


class Reselect(BaseModel):
    model_config = ConfigDict(extra="forbid")

    theta: Annotated[float, Field(ge=0, le=1, description="quality/diversity trade-off: 1 is quality only")] = 0.7
    k: Annotated[int | None, Field(ge=1, le=10_000, description="images to select (default: the round's own k)")] = None
    cluster_aware: Annotated[bool, Field(description="a quota per style cluster of the round's clustering")] = False


@router.post("/{run_id}/rounds/{round}", status_code=201,
             summary="Select again at another theta or k; stored as a variant with its Vendi and mean quality")
def reselect(run_id: RunId, round: Round, body: Reselect, server: ServerDep,
             who: Annotated[Caller, require("researcher")]) -> dict:
    from ...stages.select import select_round, selection_quality

    job = round_job(server, run_id, round)
    own = next((r for r in server.store.selections(job["id"]) if r.get("variant") is None), None)
    k = body.k or (own["k"] if own else None)
    if k is None:
        raise HTTPException(409, f"round {round} of run {run_id!r} has no selection yet; give k")
    data = round_data(server, job)
    labels = server.store.cluster_labels(job["id"], data.image_ids) if body.cluster_aware else None
    if body.cluster_aware and labels is None:
        raise HTTPException(409, f"round {round} of run {run_id!r} is not clustered yet; cluster_aware needs it")
    # the quality the stage used: the run's user's preference head blended in
    quality, head_share = selection_quality(server.store, data, job["user_id"])
    variant = f"t{body.theta:g}-k{k}" + ("-ca" if body.cluster_aware else "")
    with server.writer.lock:
        _, result = select_round(server.store, data, k, theta=body.theta, labels=labels, quality=quality,
                                 head_share=head_share, variant=variant)
    row = next(r for r in server.store.selections(job["id"]) if r["id"] == result.selection_id)
    return plain({"run_id": run_id, "round": round, **_selection_view(row)})

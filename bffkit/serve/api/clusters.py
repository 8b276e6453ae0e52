"""/api/clusters: a round's K, silhouette per K, style profiles and assignments; re-clustering."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ...exceptions import NotStoredError
from ...store import ids
from ..auth import Caller
from ..deps import CallerDep, PageDep, ServerDep, not_found, paged, plain, require
from .rounds import Round, RunId, round_data, round_job, with_variants

router = APIRouter(prefix="/api/clusters", tags=["clusters"])


def _clustering_view(server, row: dict) -> dict:
    metrics = row.get("metrics") or {}
    return {"id": row["id"], "variant": row.get("variant"), "k": row["num_clusters"],
            "silhouette": metrics.get("silhouette"), "inertia": metrics.get("inertia"),
            "sizes": metrics.get("sizes"), "method": metrics.get("method"), "warnings": metrics.get("warnings", []),
            "profiles": server.store.profiles_of(row["id"]), "created_at": row.get("created_at")}


@router.get("/{run_id}/rounds/{round}", summary="A round's clusterings: the stage's own first, then re-clusterings")
def round_clusters(run_id: RunId, round: Round, server: ServerDep, who: CallerDep) -> dict:
    job_id = round_job(server, run_id, round)["id"]
    rows = server.store.clusterings(job_id)
    return with_variants(run_id, round, rows, lambda r: _clustering_view(server, r), "clustering",
                         server.store.current_clustering_id(job_id))


@router.get("/{run_id}/rounds/{round}/assignments", summary="Each image's cluster and distance to its centre")
def assignments(run_id: RunId, round: Round, server: ServerDep, who: CallerDep, p: PageDep,
                variant: Annotated[str | None, Query(pattern=r"^k\d{1,2}-\d{1,2}$", description="e.g. k4-6")] = None) -> dict:
    job = round_job(server, run_id, round)
    result_id = ids.clustering_id(job["id"], variant)
    total, rows = server.store.cluster_assignments(result_id, limit=p.limit, offset=p.offset)
    if total == 0:
        raise not_found(f"clustering {variant or 'of the stage'} of round {round} of run {run_id!r}")
    return paged(total, rows, p)


class Recluster(BaseModel):
    model_config = ConfigDict(extra="forbid")

    k_min: Annotated[int, Field(ge=2, le=30)] = 3
    k_max: Annotated[int, Field(ge=2, le=30)] = 8
    seed: Annotated[int, Field(ge=0, le=2**32 - 1)] = 0

    @model_validator(mode="after")
    def _order(self) -> Recluster:
        if self.k_min > self.k_max:
            raise ValueError(f"k_min={self.k_min} must be <= k_max={self.k_max}")
        return self


@router.post("/{run_id}/rounds/{round}", status_code=201,
             summary="Re-cluster a round with another K range, stored beside the stage's own clustering")
def recluster(run_id: RunId, round: Round, body: Recluster, server: ServerDep,
              who: Annotated[Caller, require("researcher")]) -> dict:
    from ...stages.cluster import cluster_round

    job = round_job(server, run_id, round)
    data = round_data(server, job)
    if body.k_max >= len(data):
        raise HTTPException(422, f"k_max={body.k_max}: must be below the round's {len(data)} images")
    variant = f"k{body.k_min}-{body.k_max}"
    with server.writer.lock:
        cluster_round(server.store, data, k_range=(body.k_min, body.k_max), seed=body.seed, variant=variant)
    try:
        row = server.store.clustering(job["id"], variant)
    except NotStoredError:  # pragma: no cover - just written
        raise not_found(variant) from None
    return plain({"run_id": run_id, "round": round, **_clustering_view(server, row)})

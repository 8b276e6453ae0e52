"""A run's round as the clusters, diversity and coverage endpoints address it."""

from __future__ import annotations

from typing import Annotated

from fastapi import HTTPException, Path

from ...exceptions import NotStoredError
from ...store import ids
from ..deps import not_found, plain

ID = r"^[A-Za-z0-9_.:@-]{1,200}$"
RunId = Annotated[str, Path(pattern=ID, description="a run id")]
Round = Annotated[int, Path(ge=1, le=50, description="a round of the run, from 1")]


def round_job(server, run_id: str, round_number: int) -> dict:
    """The stored generation job of a run's round; 404 when the run has no such round."""
    try:
        return server.store.job(ids.job_id_for(run_id, round_number))
    except NotStoredError:
        raise HTTPException(404, f"run {run_id!r} has no round {round_number} stored") from None


def with_variants(run_id: str, round_number: int, rows: list[dict], view, what: str, current_id: str) -> dict:
    """A round's result (the stage's own, first of `rows`) with its variants after it, each marked
    ``current`` if it is the one the round reads (an adopted variant, else the stage's own); 404 if none."""
    if not rows:
        raise not_found(f"{what} of round {round_number} of run {run_id!r}")
    views = [{**view(r), "current": r["id"] == current_id} for r in rows]
    return plain({"run_id": run_id, "round": round_number, **views[0], "variants": views[1:]})


def round_data(server, job: dict):
    """The round's images with embeddings, tags and scores (what clustering and selection read)."""
    from ...stages.round_data import load_round

    model = server.store.job_tag_model(job["id"])
    if model is None:
        raise HTTPException(409, f"round {job.get('round')} of run {job.get('run_id')!r} is not embedded yet; "
                                 "wait for its embed stage")
    return load_round(server.store, job["id"], model)

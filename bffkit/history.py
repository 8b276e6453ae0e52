"""A round's stored results and their variants, and adopting one (the workbench and `bffkit adopt`).

A finished round is history: exploring it (a notebook's K or theta, the API's re-clustering and
re-selection) stores variants beside its clustering and selection. Adopting a variant makes it
the round's current result for whatever reads the round from then on (later rounds, pages,
reports, the review page); the adoption is appended to the store's ``adoptions`` and nothing
stored is rewritten, so adopting ``own`` again undoes it.
"""

from __future__ import annotations

import pandas as pd

from .exceptions import BffkitError, NotStoredError
from .store import Store, ids

STAGES = ("cluster", "select")
OWN = "own"  # how the stage's own result is named where a variant name is asked for


def _check_stage(stage: str) -> None:
    if stage not in STAGES:
        raise BffkitError(f"stage={stage!r}: only these store variants: {', '.join(STAGES)}")


def variants(store: Store, job_id: str, stage: str) -> pd.DataFrame:
    """One row per stored result of a round's stage, the stage's own first: its variant name, what
    it chose (K and silhouette; theta, k, Vendi and mean quality), when, and whether it is current."""
    _check_stage(stage)
    rows = store.clusterings(job_id) if stage == "cluster" else store.selections(job_id)
    current = (store.current_clustering_id(job_id) if stage == "cluster"
               else (store.selection(job_id)["id"] if rows else None))
    out = []
    for r in rows:
        metrics = r.get("metrics") or {}
        name = r["variant"] if isinstance(r["variant"], str) else OWN  # NULL reads back as NaN
        row = {"variant": name, "current": r["id"] == current, "created_at": pd.Timestamp(r["created_at"]).floor("s")}
        if stage == "cluster":
            sil = metrics.get("silhouette") or {}
            k = int(r["num_clusters"])
            row.update(K=k, silhouette=sil.get(str(k), sil.get(k)))
        else:
            row.update(theta=r["theta"], k=int(r["k"]), vendi=r["vendi_score"], mean_quality=r["mean_quality"],
                       kernel=metrics.get("kernel"))
        out.append(row)
    return pd.DataFrame(out)


def adopt(store: Store, run_id: str, round_number: int, stage: str, variant: str, *,
          adopted_by: str | None = None, note: str | None = None) -> dict:
    """Make `variant` (a stored variant's name, or ``own``) round `round_number`'s current `stage`
    result; the adoption record. One-line errors name what is stored."""
    _check_stage(stage)
    job_id = ids.job_id_for(run_id, round_number)
    try:
        store.job(job_id)
    except NotStoredError:
        raise BffkitError(f"round={round_number}: run {run_id!r} has no round {round_number}") from None
    record = store.adopt(job_id, stage, None if variant == OWN else variant, adopted_by=adopted_by, note=note)
    return {**record, "variant": variant, "run_id": run_id, "round": round_number}

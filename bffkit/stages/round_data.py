"""A round as stages 4-7 see it: the job's usable images with embeddings, tags and scores."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..exceptions import StageError
from ..scoring import ARTEFACT_GATE, AlignmentCalibration
from ..tagging import detected_values


def calibration_from_row(row: dict) -> AlignmentCalibration:
    """A stored calibration row (the store's ``get_calibration``) as the scoring dataclass."""
    return AlignmentCalibration(model_id=row["model"], **{k: v for k, v in row.items() if k != "model"})


@dataclass
class RoundData:
    """A generation job's usable images with their embeddings, detected attributes and scores."""

    job_id: str
    round: int | None
    run_id: str | None
    model_id: str
    image_ids: list[str]
    X: np.ndarray  # (n, d) unit embeddings
    detected: list[dict[str, str]]  # attribute -> value the tagger saw
    requested: list[dict[str, str]]  # attribute -> value the prompt asked for
    quality: np.ndarray  # (n,) selection quality (alignment, or the preference-aware score)
    alignment: np.ndarray  # (n,) calibrated alignment in [0, 1]
    defects: list[str | None]  # sketch backend: the defect drawn, if any
    backend: str | None = None  # the generation backend of the job
    paths: list[str] = field(default_factory=list)
    artefact: np.ndarray | None = None  # (n,) P(smudged or cropped); NaN where the model cannot tell
    # images under this alignment are off their prompt for selection (None: the model's alignment
    # does not separate matched from mismatched prompts, see AlignmentCalibration.alignment_gate)
    alignment_gate: float | None = None
    # the image each one repeats: the same bytes (stage 3) or a near copy in its cluster (stage 4)
    duplicate_of: list[str | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.image_ids)

    @property
    def selectable(self) -> np.ndarray:
        """Mask of the images selection may pick: all but those more likely an artefact than not,
        those more likely off their prompt than on it (where the model can tell), and duplicates."""
        mask = np.ones(len(self), dtype=bool)
        if self.duplicate_of:
            mask &= np.array([d is None for d in self.duplicate_of])
        # NaN compares False both ways: an image without a score is kept
        if self.artefact is not None:
            mask &= ~(np.asarray(self.artefact, dtype=np.float64) >= ARTEFACT_GATE)
        if self.alignment_gate is not None:
            mask &= ~(np.asarray(self.alignment, dtype=np.float64) < self.alignment_gate)
        return mask


def load_round(store, job_id: str, model_id: str) -> RoundData:
    """Everything stages 4-7 need about a job, from the store (stage 3 must have run)."""
    job = store.job(job_id)
    rows = [r for r in store.job_images(job_id).to_dict("records") if r["status"] == "ok"]
    if not rows:
        raise StageError(f"job {job_id} has no generated images; run the generate stage first")
    cached = store.get_embeddings(model_id, [r["sha256"] for r in rows])
    tags = store.image_tags(model_id, [r["id"] for r in rows]).set_index("image_id")
    missing = [r["id"] for r in rows if r["sha256"] not in cached or r["id"] not in tags.index]
    if missing:
        raise StageError(f"job {job_id}: {len(missing)} image(s) not embedded and tagged with {model_id} "
                         f"(e.g. {missing[0]}); run the embed stage first")
    detected = [detected_values(tags.at[r["id"], "detected"]) for r in rows]
    near = store.near_duplicates(job_id)
    exact = {i: None if pd.isna(d) else d for i, d in tags["duplicate_of"].items()}
    calibration = store.get_calibration(model_id)
    gate = calibration_from_row(calibration).alignment_gate if calibration is not None else None
    return RoundData(
        job_id=job_id, round=job.get("round"), run_id=job.get("run_id"), model_id=model_id,
        image_ids=[r["id"] for r in rows], X=np.stack([cached[r["sha256"]] for r in rows]).astype(np.float32),
        detected=detected, requested=[r["vlt_attributes"] or {} for r in rows],
        quality=np.array([tags.at[r["id"], "quality"] for r in rows], dtype=np.float64),
        alignment=np.array([tags.at[r["id"], "alignment"] for r in rows], dtype=np.float64),
        defects=[(r["metadata"] or {}).get("defect") for r in rows],
        backend=job.get("backend"), paths=[r["path"] for r in rows],
        artefact=np.array([tags.at[r["id"], "artefact"] for r in rows], dtype=np.float64),
        alignment_gate=gate, duplicate_of=[exact.get(r["id"]) or near.get(r["id"]) for r in rows])

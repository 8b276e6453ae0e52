"""Stage 3, embed: each image embedded once per (sha256, model), tagged zero-shot and scored.

Embeddings are cached in the store by (image sha256, model id); the tags are the VLT values the
model sees (:mod:`bffkit.tagging`); the scores are CLIPScore, the model's calibrated alignment
with the prompt and, where the model can tell, the probability of a smudged or cropped image
(:mod:`bffkit.scoring`). A model's calibration is read from the store, else from beside its
weights, else fitted once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..duplicates import duplicate_ids, exact_duplicates
from ..models.embedders import Embedder
from ..scoring import (ARTEFACT_GATE, AlignmentCalibration, artefact_evidence, artefact_prompts, calibrate_alignment,
                       clip_score, image_quality)
from ..tagging import VLTTagger, adherence, detected_values
from .base import Stage, StageResult, embedder_loads, needs_embeddings
from .context import RunContext
from .round_data import calibration_from_row


def embed_images_cached(store, embedder: Embedder, images: Sequence[dict[str, Any]],
                        progress: bool = False) -> np.ndarray:
    """Embeddings for stored images (rows with ``sha256`` and ``path``), in the given order.

    What the store already holds for (sha256, model id) is read back; only the rest is
    embedded, then stored. A rerun embeds nothing twice.
    """
    return embed_with_cache(store, embedder, images, progress)[0]


def embed_with_cache(store, embedder: Embedder, images: Sequence[dict[str, Any]],
                      progress: bool = False) -> tuple[np.ndarray, int]:
    """(embeddings in the given order, how many images had to be embedded)."""
    shas = [r["sha256"] for r in images]
    cached = store.get_embeddings(embedder.model_id, shas)
    missing = list(dict.fromkeys(s for s in shas if s not in cached))
    if missing:
        path_of = {r["sha256"]: store.workspace / r["path"] for r in images}
        fresh = embedder.embed_images([path_of[s] for s in missing], progress=progress)
        store.put_embeddings(embedder.model_id, missing, fresh)
        cached.update(zip(missing, fresh))
    return (np.stack([cached[s] for s in shas]) if shas else np.zeros((0, 0), np.float32)), len(missing)


@dataclass(frozen=True)
class EmbedResult(StageResult):
    """Stage 3 on one generation job."""

    job_id: str
    model_id: str
    n_images: int
    n_new_embeddings: int
    mean_alignment: float | None
    mean_adherence: float | None
    n_aligned: int  # images at or above the outlier threshold's alignment
    n_artefacts: int | None  # images more likely smudged or cropped than not (None: the model cannot tell)
    seconds: float
    threshold: float = 0.75  # the outlier threshold n_aligned counts at
    n_duplicates: int = 0  # images with the same bytes as an earlier one of the job (not offered to selection)
    mean_quality: float | None = None  # selection quality (bffkit.scoring.image_quality)

    @property
    def items(self) -> int:
        return self.n_images

    def summary(self) -> str:
        return (f"{self.n_images} images ({self.n_new_embeddings} new) with {self.model_id}, "
                f"mean alignment {self.mean_alignment}, adherence {self.mean_adherence}, "
                f"{self.n_aligned} at alignment >= {self.threshold:g}"
                + (f", {self.n_artefacts} likely smudged or cropped" if self.n_artefacts is not None else "")
                + (f", {self.n_duplicates} exact duplicates" if self.n_duplicates else ""))


def calibration_for(embedder: Embedder, store=None):
    """The model's calibration: from the store, else from the model's folder, else fitted.

    A ``local-dir:`` model may carry its calibration beside its weights (``calibration.json``, as
    ``bffkit train-sketch-clip`` writes it and sketch-clip ships it); it is used when it was fitted
    on these very weights. A stored calibration from before artefact or near-miss calibration
    existed is replaced (from the folder, else fitted again: same seed, same alignment map) so
    that it gains them.
    """
    if store is not None and (row := store.get_calibration(embedder.model_id)) is not None:
        stored = calibration_from_row(row)
        if stored.complete:
            return stored
    cal = calibration_beside_weights(embedder) or calibrate_alignment(embedder)
    if store is not None:
        store.put_calibration(**asdict(cal))
    return cal


def calibration_beside_weights(embedder: Embedder):
    """The ``calibration.json`` in a ``local-dir:`` model's folder, if it was fitted on the same
    weights (its model id ends in their digest) and has every map; else None."""
    path = embedder.folder / "calibration.json" if embedder.folder is not None else None
    if path is None or not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        digest = str(data["model_id"]).rsplit("#", 1)[-1]
        cal = AlignmentCalibration(**{**data, "model_id": embedder.model_id})
    except (ValueError, KeyError, TypeError):
        return None  # unreadable or from another version: fitted afresh instead
    if digest != embedder.model_id.rsplit("#", 1)[-1] or not cal.complete:
        return None
    return cal


def prompt_scores(embedder: Embedder, X: np.ndarray, prompts: Sequence[str], store=None) -> dict[str, np.ndarray | None]:
    """Scores of images (unit embeddings `X`) against their prompts, one array each.

    clip_score (raw CLIPScore), alignment (the model's calibrated score), artefact (probability
    of a smudged or cropped image; None where the model cannot tell artefacts) and quality (what
    selection weighs: :func:`bffkit.scoring.image_quality`) -- see :mod:`bffkit.scoring`.
    """
    unique, of_image = np.unique(np.asarray(list(prompts), dtype=str), return_inverse=True)
    unique = unique.tolist()  # each distinct prompt (and its artefact variants) embedded once
    T = embedder.embed_texts(unique)[of_image]
    cal = calibration_for(embedder, store)
    cos = np.sum(X * T, axis=1)
    alignment = cal(cos)
    artefact = None
    if cal.detects_artefacts:
        variants = embedder.embed_texts(artefact_prompts(unique)).reshape(-1, len(unique), T.shape[1])
        artefact = cal.artefact_probability(artefact_evidence(X, T, variants[:, of_image]))
    return {"clip_score": clip_score(X, T), "alignment": alignment, "artefact": artefact,
            "quality": image_quality(cal, cos, artefact)}


def embed_job(store, job_id: str, embedder: Embedder, *, threshold: float = 0.75, tagger=None,
                  progress: bool = True) -> EmbedResult:
    """Embed, tag and score a job's generated images; store detected attributes and scores."""
    t0 = time.perf_counter()
    # 1. The job's images, embedded once per (sha256, model)
    rows = [r for r in store.job_images(job_id).to_dict("records") if r["status"] == "ok"]
    X, n_new = embed_with_cache(store, embedder, rows, progress=progress)
    if not rows:
        return EmbedResult(job_id, embedder.model_id, 0, 0, None, None, 0, None, time.perf_counter() - t0, threshold)
    # 2. Zero-shot tags and adherence to what was requested
    tags = (tagger or VLTTagger(embedder)).tag(X)
    # 3. Scores against each image's prompt
    scores = prompt_scores(embedder, X, [r["prompt"] for r in rows], store)
    aligned = scores["alignment"]
    # 4. Exact duplicates (same bytes): the first of each is kept
    duplicate_of = duplicate_ids([r["id"] for r in rows], exact_duplicates([r["sha256"] for r in rows]))
    out = []
    for i, (r, t) in enumerate(zip(rows, tags)):
        adh = adherence(r["vlt_attributes"], detected_values(t))
        out.append({"image_id": r["id"], "detected": t, "adherence": adh, "duplicate_of": duplicate_of[i],
                    **{k: None if v is None else float(v[i]) for k, v in scores.items()}})
    store.save_image_tags(embedder.model_id, out)
    adh = [o["adherence"] for o in out if o["adherence"] is not None]
    return EmbedResult(job_id=job_id, model_id=embedder.model_id, n_images=len(rows), n_new_embeddings=n_new,
                       mean_alignment=round(float(np.mean(aligned)), 4),
                       mean_adherence=round(float(np.mean(adh)), 4) if adh else None,
                       n_aligned=int((aligned >= threshold).sum()),
                       n_artefacts=None if scores["artefact"] is None else int((scores["artefact"] >= ARTEFACT_GATE).sum()),
                       seconds=time.perf_counter() - t0, threshold=threshold,
                       n_duplicates=sum(d is not None for d in duplicate_of),
                       mean_quality=round(float(np.mean(scores["quality"])), 4))


def run(ctx: RunContext, round_number: int) -> EmbedResult:
    return embed_job(ctx.store, ctx.job_id(round_number), ctx.embedder,
                     threshold=ctx.config.feedback.outlier_threshold, tagger=ctx.tagger, progress=ctx.progress)


STAGE = Stage(3, "embed", "Embeddings", "embed", run, seed_numbers=(7,), check=embedder_loads,
              enabled=needs_embeddings)

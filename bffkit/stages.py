"""Stages 4-6 over the store: cluster a round's images, select from them, measure coverage.

The algorithms live in :mod:`bffkit.cluster`, :mod:`bffkit.dpp` and :mod:`bffkit.coverage`
(numpy in, numpy out); this module reads a round from the store, calls them and writes what
they found. Notebooks and the main job call these same functions.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from .exceptions import StageError
from .scoring import ARTEFACT_GATE, AlignmentCalibration


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

    def __len__(self) -> int:
        return len(self.image_ids)

    @property
    def selectable(self) -> np.ndarray:
        """Mask of the images selection may pick: all but those more likely an artefact than not,
        and those more likely off their prompt than on it (where the model can tell)."""
        mask = np.ones(len(self), dtype=bool)
        # NaN compares False both ways: an image without a score is kept
        if self.artefact is not None:
            mask &= ~(np.asarray(self.artefact, dtype=np.float64) >= ARTEFACT_GATE)
        if self.alignment_gate is not None:
            mask &= ~(np.asarray(self.alignment, dtype=np.float64) < self.alignment_gate)
        return mask


def load_round(store, job_id: str, model_id: str) -> RoundData:
    """Everything stages 4-6 need about a job, from the store (stage 3 must have run)."""
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
    detected = [{a: t["value"] for a, t in json.loads(tags.at[r["id"], "detected"]).items()} for r in rows]
    calibration = store.get_calibration(model_id)
    gate = AlignmentCalibration(*calibration).alignment_gate if calibration is not None else None
    return RoundData(
        job_id=job_id, round=job.get("round"), run_id=job.get("run_id"), model_id=model_id,
        image_ids=[r["id"] for r in rows], X=np.stack([cached[r["sha256"]] for r in rows]).astype(np.float32),
        detected=detected, requested=[json.loads(r["vlt_attributes"] or "{}") for r in rows],
        quality=np.array([tags.at[r["id"], "quality"] for r in rows], dtype=np.float64),
        alignment=np.array([tags.at[r["id"], "alignment"] for r in rows], dtype=np.float64),
        defects=[json.loads(r["metadata"] or "{}").get("defect") for r in rows],
        backend=job.get("backend"), paths=[r["path"] for r in rows],
        artefact=np.array([tags.at[r["id"], "artefact"] for r in rows], dtype=np.float64),
        alignment_gate=gate)


# --------------------------------------------------------------------------- stage 4

@dataclass(frozen=True)
class ClusterStageResult:
    result_id: str
    n_images: int
    k: int
    silhouette: dict[int, float]
    profiles: list[dict]
    seconds: float


def run_clustering(store, data: RoundData, *, k_range=(3, 8), seed: int = 0, sample_size: int = 5000):
    """Stage 4: auto-K K-means and style profiles for a round; stored, and returned with the labels."""
    from .cluster import auto_kmeans, style_profiles

    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = auto_kmeans(data.X, k_range, seed=seed, sample_size=sample_size)
    profiles = [{**p.to_dict(), "medoid_image_id": data.image_ids[p.medoid]}
                for p in style_profiles(data.X, result.labels, data.detected)]
    metrics = {**result.metrics(), "warnings": [str(w.message) for w in caught]}
    result_id = f"{data.job_id}-clusters"
    store.save_clustering(result_id=result_id, batch_id=data.job_id, round=data.round, k=result.k, metrics=metrics,
                          image_ids=data.image_ids, labels=result.labels, distances=result.distances,
                          profiles=profiles)
    return result, ClusterStageResult(result_id, len(data), result.k, result.scores, profiles,
                                      time.perf_counter() - t0)


# --------------------------------------------------------------------------- stage 5

@dataclass(frozen=True)
class SelectStageResult:
    selection_id: str
    k: int
    n_selected: int
    theta: float
    vendi: float
    random_vendi: float  # mean over seeded random subsets of the same size
    mean_quality: float
    defect_share: float | None  # among the selected (sketch backend)
    pool_defect_share: float | None
    n_excluded: int  # images likely smudged, cropped or off their prompt, not offered (unless fewer than k remain)
    seconds: float


def run_selection(store, data: RoundData, k: int, *, theta: float = 0.7, labels: np.ndarray | None = None,
                  seed: int = 0, quality: np.ndarray | None = None) -> tuple[np.ndarray, SelectStageResult]:
    """Stage 5: the DPP selection for a round (cluster-aware when `labels` are given); stored.

    `quality` overrides the stored per-image quality (e.g. blended with a preference head).
    Images flagged as likely artefacts or off their prompt (``data.selectable``) are not candidates.
    """
    from .dpp import SelectionWarning, select, vendi_score

    t0 = time.perf_counter()
    quality = data.quality if quality is None else np.asarray(quality, dtype=np.float64)
    candidates = data.selectable
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SelectionWarning)
        sel = select(data.X, quality, k, theta=theta, clusters=labels, candidates=candidates)
    idx = sel.indices
    rng = np.random.default_rng(seed)
    random_vendi = float(np.mean([vendi_score(data.X[rng.choice(len(data), len(idx), replace=False)])
                                  for _ in range(10)])) if len(idx) else 0.0
    has_defects = data.backend == "sketch"  # only the sketch renderer records defects
    defect = np.array([d is not None for d in data.defects])
    sel_defect = float(defect[idx].mean()) if has_defects and len(idx) else None
    pool_defect = float(defect.mean()) if has_defects else None
    selection_id = f"{data.job_id}-dpp"
    result = SelectStageResult(selection_id, k, len(idx), theta, round(sel.vendi, 4), round(random_vendi, 4),
                               round(sel.mean_quality, 4), sel_defect, pool_defect,
                               int((~candidates).sum()), time.perf_counter() - t0)
    metrics = {**{k_: v for k_, v in result.__dict__.items() if k_ not in ("selection_id", "seconds")},
               "cluster_aware": labels is not None, "warnings": [str(w.message) for w in caught]}
    store.save_selection(selection_id=selection_id, batch_id=data.job_id, round=data.round, theta=theta, k=k,
                         selected_ids=[data.image_ids[i] for i in idx], log_det=sel.log_det, vendi=sel.vendi,
                         mean_quality=sel.mean_quality, metrics=metrics)
    return idx, result


def selection_quality(store, data: RoundData, user_id: str) -> tuple[np.ndarray, float]:
    """(quality per image, the head's share of it): stored quality blended with the user's preference head."""
    from .learning import combined_quality, head_weight

    head = store.preference_head(user_id, data.model_id)
    return combined_quality(data.quality, data.X, head, data.requested), (head_weight(head) if head else 0.0)


# --------------------------------------------------------------------------- stage 6

@dataclass(frozen=True)
class CoverageStageResult:
    report_id: str
    n_values: int
    score: float
    score_selected: float | None
    n_gaps: int
    severities: dict[str, int]
    opened: int
    closed: int
    boosts: dict[str, dict[str, float]]
    seconds: float


def run_coverage(store, data: RoundData, selected: np.ndarray, *, taxonomy, request_attributes=(), category=None,
                 default_target: float = 0.05, targets=None, boost_min: float = 0.15,
                 boost_max: float = 0.25) -> CoverageStageResult:
    """Stage 6: coverage of the round's detected attributes, gaps opened/closed, next round's boosts."""
    from collections import Counter

    from .coverage import coverage_targets, measure_coverage

    t0 = time.perf_counter()
    tgt = coverage_targets(taxonomy, default_target=default_target, targets=targets, fixed=request_attributes,
                           category=category)
    report = measure_coverage(data.detected, [data.detected[i] for i in selected], tgt,
                              boost_min=boost_min, boost_max=boost_max)
    boosts = report.boosts()
    report_id = f"{data.job_id}-coverage"
    counts = store.save_coverage(report_id=report_id, run_id=data.run_id or data.job_id, round=data.round or 0,
                                 report=report.to_dict(), targets=tgt, boosts=boosts)
    return CoverageStageResult(report_id, len(report.values), report.score, report.score_selected, len(report.gaps),
                               dict(Counter(g.severity for g in report.gaps)), counts["opened"], counts["closed"],
                               boosts, time.perf_counter() - t0)


# --------------------------------------------------------------------------- stage 7

@dataclass(frozen=True)
class FeedbackStageResult:
    source: str
    n_events: int
    thumbs_up_rate: float | None
    n_outliers: int
    head_auc: float | None
    top_positive: list
    top_negative: list
    predicted_lift: float | None
    seconds: float


def run_feedback(store, data: RoundData, selected: np.ndarray, *, source: str, user_id: str, persona=None,
                 file=None, seed: int = 0, threshold: float = 0.75) -> FeedbackStageResult:
    """Stage 7 in batch mode: feedback on the selected images from a persona or a file, then learning."""
    from .feedback import read_feedback_file, simulate_feedback, thumbs_up_rate
    from .learning import update_from_feedback

    t0 = time.perf_counter()
    ids = [data.image_ids[i] for i in selected]
    if source == "persona":
        events = simulate_feedback(store, persona, ids, user_id=user_id, seed=seed)
    elif source == "file":
        mine = set(data.image_ids)
        events = [e for e in read_feedback_file(file, user_id=user_id) if e.image_id in mine]
        store.add_feedback_events([e.to_dict() for e in events])
    else:
        events = []
    learned = update_from_feedback(store, [user_id], model_id=data.model_id, threshold=threshold).get(user_id, {}) \
        if events else {}
    impact, patterns = learned.get("impact", {}), learned.get("patterns", {})
    round_outliers = store.outlier_image_ids([e.image_id for e in events])
    return FeedbackStageResult(source, len(events), round(thumbs_up_rate(events), 4) if events else None,
                               len(round_outliers), impact.get("head_auc"), patterns.get("top_positive", [])[:3],
                               patterns.get("top_negative", [])[:3], impact.get("predicted_lift"),
                               time.perf_counter() - t0)


def steering_for_next_round(store, user_id: str, model_id: str, taxonomy, *, fixed=(),
                            seed: int = 0, targets=None) -> dict[str, dict[str, float]]:
    """Thompson-sampled preference factors for stage 1 from the user's feedback so far; with the
    run's coverage `targets`, no value is steered under COVERAGE_MARGIN x its target (see
    ``thompson_preferences``).

    The posteriors here are over the *requested* attribute values (what stage 1 controls):
    they estimate how each knob of the sampler changes the chance of a thumbs-up, without the
    tagger's errors. Coverage and analytics keep using detected values. The user's outliers
    count as consumed by learning from here on (``used_for_training``).
    """
    from .learning import attribute_posteriors, requested_by_image, thompson_preferences

    feedback = store.feedback(user_id)
    if feedback.empty:
        return {}
    post = attribute_posteriors(feedback, requested_by_image(store, feedback["image_id"].unique().tolist()))
    prefs = thompson_preferences(post, taxonomy, np.random.default_rng(seed), fixed=fixed, targets=targets)
    store.mark_outliers_used(store.outlier_ids(user_id))
    return prefs

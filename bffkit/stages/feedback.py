"""Stage 7, feedback: judgements on the selected images, then learning from them.

In a batch run the judgements come from a persona (a simulated designer) or a file; in the
notebook, from the feedback grid. Learning (:mod:`bffkit.preferences`) marks outliers — loved
images whose alignment clears the threshold — refits the attribute posteriors and the user's
preference head, and logs what it learned.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..exceptions import ConfigError
from ..feedback import read_feedback_file, simulate_feedback, thumbs_up_rate
from ..preferences import update_from_feedback
from .base import Stage, StageResult, embedder_loads, needs_embeddings
from .context import RunContext
from .round_data import RoundData


@dataclass(frozen=True)
class FeedbackResult(StageResult):
    source: str
    n_events: int
    thumbs_up_rate: float | None
    n_outliers: int
    head_auc: float | None
    top_positive: list
    top_negative: list
    predicted_lift: float | None
    seconds: float

    @property
    def items(self) -> int:
        return self.n_events

    def summary(self) -> str:
        likes = ", ".join(f"{p['value']} {p['mean']:.2f}" for p in self.top_positive) or "-"
        dislikes = ", ".join(f"{p['value']} {p['mean']:.2f}" for p in self.top_negative) or "-"
        rate = f"{self.thumbs_up_rate:.0%}" if self.thumbs_up_rate is not None else "-"
        auc = f"{self.head_auc:.2f}" if self.head_auc is not None else "-"
        return (f"({self.source}) {self.n_events} events, thumbs-up {rate}, {self.n_outliers} outliers; "
                f"learned likes: {likes}; dislikes: {dislikes}; head AUC {auc}")


def feedback_round(store, data: RoundData, selected: np.ndarray, *, source: str, user_id: str, persona=None,
                   file=None, seed: int = 0, threshold: float = 0.75) -> FeedbackResult:
    """Feedback on the selected images from a persona or a file, then learning; stored."""
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
    return FeedbackResult(source, len(events), round(thumbs_up_rate(events), 4) if events else None,
                          len(round_outliers), impact.get("head_auc"), patterns.get("top_positive", [])[:3],
                          patterns.get("top_negative", [])[:3], impact.get("predicted_lift"),
                          time.perf_counter() - t0)


def run(ctx: RunContext, round_number: int) -> FeedbackResult:
    fb = ctx.config.feedback
    data = ctx.round_data(round_number)
    return feedback_round(ctx.store, data, ctx.store.selected_indices(data.job_id, data.image_ids),
                          source=fb.source, user_id=ctx.learner_id, persona=ctx.persona, file=fb.file,
                          seed=ctx.seed(round_number), threshold=fb.outlier_threshold)


def check(ctx: RunContext) -> None:
    """The embedder, and the persona or every row of the feedback file, before any work."""
    embedder_loads(ctx)
    fb = ctx.config.feedback
    if fb.source == "persona":
        ctx.persona
    elif fb.source == "file":
        if fb.file is None:
            raise ConfigError("feedback.file: required when feedback.source is 'file'")
        read_feedback_file(fb.file, user_id=ctx.config.user_id)


def enabled(config) -> bool:
    return needs_embeddings(config) and config.feedback.source != "none"


STAGE = Stage(7, "feedback", "Feedback and learning", "feedback", run, seed_numbers=(10,), check=check,
              enabled=enabled)

"""Stage 1, prompts: the round's structured prompt specs over the VLT taxonomy.

The request's attributes are fixed; the rest are sampled from the taxonomy's priors, times the
previous round's gap boosts (stage 6) and the user's feedback steering (stage 7). The specs
are stored as the round's generation job: a rerun of the same config keeps them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from ..coverage import boosts_from_gaps
from ..learning import attribute_posteriors, thompson_preferences
from ..preferences import requested_by_image
from ..prompts import build_specs
from .base import Stage, StageResult
from .context import RunContext


@dataclass(frozen=True)
class PromptsResult(StageResult):
    round: int
    job_id: str
    n_specs: int
    new: bool  # False when the round was already stored by an earlier run of the same config
    distinct_values: int
    categories: dict[str, int] = field(default_factory=dict)
    boosts: dict | None = None  # the gap boosts the specs were sampled with
    steering: dict | None = None  # the preference factors the specs were sampled with

    @property
    def items(self) -> int:
        return self.n_specs

    def summary(self) -> str:
        state = "planned" if self.new else "already stored"
        steer = f"; steered by feedback on {', '.join(sorted(self.steering))}" if self.steering else ""
        boosted = f"; {sum(len(v) for v in self.boosts.values())} gap boosts" if self.boosts else ""
        return (f"{self.n_specs} specs {state} as job {self.job_id}, {len(self.categories)} categories, "
                f"{self.distinct_values} distinct attribute values{boosted}{steer}")


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
    feedback = store.feedback(user_id)
    if feedback.empty:
        return {}
    post = attribute_posteriors(feedback, requested_by_image(store, feedback["image_id"].unique().tolist()))
    prefs = thompson_preferences(post, taxonomy, np.random.default_rng(seed), fixed=fixed, targets=targets)
    store.mark_outliers_used(store.outlier_ids(user_id))
    return prefs


def plan_round(ctx: RunContext, round_number: int, boosts=None, preferences=None) -> PromptsResult:
    """Build and store one round's prompt specs (kept as they are when the job already exists)."""
    config, store = ctx.config, ctx.store
    gen = config.generate
    options = gen.options_for()
    job_id = ctx.job_id(round_number)
    specs = build_specs(
        config.request, gen.planned_count, ctx.seed(round_number), taxonomy=ctx.tax,
        backend=gen.backend, backend_options=options, boosts=boosts,
        preferences=preferences, quality_negatives=config.prompts.quality_negatives)
    if config.prompts.enhancer == "openai" and store.stored_spec_count(job_id) == 0:
        from ..enhance import enhance_specs

        specs, _ = enhance_specs(specs, ctx.tax, model=config.prompts.enhancer_model,
                                 base_url=config.generate.openai.base_url)
    new = store.save_prompt_job(
        job_id=job_id, run_id=ctx.run_id, round=round_number, user_id=config.user_id,
        backend=gen.backend, model=options.get("model"), request=request_text(config.request), specs=specs)
    stored = store.prompt_specs(job_id)
    categories: dict[str, int] = {}
    values = set()
    for s in stored:
        categories[s["attributes"]["category"]] = categories.get(s["attributes"]["category"], 0) + 1
        values |= set(s["attributes"].items())
    return PromptsResult(round=round_number, job_id=job_id, n_specs=len(stored), new=new,
                         distinct_values=len(values), categories=dict(sorted(categories.items())),
                         boosts=boosts, steering=preferences)


def request_text(request) -> str:
    return request if isinstance(request, str) else json.dumps(request, sort_keys=True)


def run(ctx: RunContext, round_number: int) -> PromptsResult:
    # 1. What the previous round asks of this one: its coverage gaps and the user's feedback
    cfg, r = ctx.config, round_number
    boosts = preferences = None
    if r > 1:
        report = ctx.store.round_coverage(ctx.run_id, r - 1)
        boosts = boosts_from_gaps(report["gaps"]) if report is not None else None
        if cfg.embed.model:  # with source 'none', the designer's own clicks (grid, API) steer, if any
            preferences = steering_for_next_round(ctx.store, ctx.learner_id, ctx.model_id, ctx.tax, fixed=ctx.fixed,
                                                  seed=ctx.seed(r), targets=ctx.coverage_targets) or None
    # 2. Sample and store the round's specs
    return plan_round(ctx, r, boosts=boosts, preferences=preferences)


def check(ctx: RunContext) -> None:
    if ctx.config.prompts.enhancer == "openai":
        from ..generate.openai_backend import make_client

        make_client(60.0, 0, ctx.config.generate.openai.base_url)  # the key must be there before any work


STAGE = Stage(1, "prompts", "Prompts", "prompts", run, seed_numbers=(1, 2, 3, 4, 5, 6), check=check)

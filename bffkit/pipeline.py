"""The main job: run a config's rounds through every stage built so far.

A round is: stage 1 plans the request's prompt specs (target count x over-generation
factor, with the previous round's gap boosts and feedback steering) and stores them as a
generation job; stage 2 generates the images; 3 embeds, tags and scores them; 4 clusters
them into style profiles; 5 selects a diverse, high-quality subset; 6 measures coverage
and opens gaps; 7 takes feedback on the selection and learns from it.

:func:`run_stage` runs one stage of one round, reading what earlier stages found from the
store; the in-process loop (:func:`run`) and the stage notebooks both call it. Rerunning a
config resumes: planned specs and stored images are kept, never made twice.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .config import RunConfig
from .exceptions import ConfigError, StageError
from .generate import JobResult, get_generator, run_generation
from .prompts import build_specs, parse_request
from .store import Store, open_store
from .taxonomy import load_taxonomy


@dataclass(frozen=True)
class RoundResult:
    """One round of a run: the job it planned and what its specs cover."""

    round: int
    job_id: str
    n_specs: int
    new: bool  # False when the round was already stored by an earlier run of the same config
    distinct_values: int
    categories: dict[str, int] = field(default_factory=dict)
    generation: dict | None = None  # JobResult fields when stage 2 ran
    embedding: dict | None = None  # EmbedResult fields when stage 3 ran
    clustering: dict | None = None  # stage 4: k, silhouette per K, style profiles
    selection: dict | None = None  # stage 5: sizes, Vendi vs random, defect shares
    coverage: dict | None = None  # stage 6: scores, gaps, boosts for the next round
    feedback: dict | None = None  # stage 7: thumbs-up rate, outliers, what was learned
    steering: dict | None = None  # the preference factors this round's specs were sampled with


@dataclass(frozen=True)
class RunResult:
    run_id: str
    workspace: str
    rounds: list[RoundResult]
    seconds: float

    def to_dict(self) -> dict:
        return {
            "run_id": self.run_id,
            "workspace": self.workspace,
            "seconds": round(self.seconds, 3),
            "rounds": [r.__dict__ for r in self.rounds],
        }


def round_seed(seed: int, round_number: int) -> int:
    """Each round samples from its own stream, derived from the run seed."""
    return int(np.random.SeedSequence([seed, round_number]).generate_state(1)[0])


def job_id_for(run_id: str, round_number: int) -> str:
    return f"{run_id}-r{round_number}"


def plan_round(config: RunConfig, store: Store, run_id: str, round_number: int,
               boosts=None, preferences=None) -> RoundResult:
    """Stage 1 for one round: build and store the round's prompt specs."""
    tax = load_taxonomy(config.prompts.taxonomy)
    gen = config.generate
    options = gen.options_for()
    job_id = job_id_for(run_id, round_number)
    specs = build_specs(
        config.request, gen.planned_count, round_seed(config.seed, round_number), taxonomy=tax,
        backend=gen.backend, backend_options=options, boosts=boosts,
        preferences=preferences, quality_negatives=config.prompts.quality_negatives)
    if config.prompts.enhancer == "openai" and store.stored_spec_count(job_id) == 0:
        from .enhance import enhance_specs

        specs, _ = enhance_specs(specs, tax, model=config.prompts.enhancer_model,
                                 base_url=config.generate.openai.base_url)
    new = store.save_prompt_job(
        job_id=job_id, run_id=run_id, round=round_number, user_id=config.user_id,
        backend=gen.backend, model=options.get("model"), request=_request_text(config.request),
        specs=specs)
    stored = store.prompt_specs(job_id)
    categories: dict[str, int] = {}
    values = set()
    for s in stored:
        categories[s["attributes"]["category"]] = categories.get(s["attributes"]["category"], 0) + 1
        values |= set(s["attributes"].items())
    return RoundResult(round=round_number, job_id=job_id, n_specs=len(stored), new=new,
                       distinct_values=len(values), categories=dict(sorted(categories.items())))


def _request_text(request) -> str:
    return request if isinstance(request, str) else json.dumps(request, sort_keys=True)


STAGES = ("prompts", "generate", "embed", "cluster", "select", "coverage", "feedback")
NEEDS_EMBEDDINGS = ("cluster", "select", "coverage", "feedback")


class RunContext:
    """One run's shared pieces: config, taxonomy, store, run id; backends built on first use.

    :func:`open_run` checks every input the given stages need before any work, so a bad key,
    model path or persona fails in one line before anything is stored.
    """

    def __init__(self, config: RunConfig, store: Store | None, tax, stages: tuple[str, ...], progress: bool):
        self.config, self.store, self.tax, self.stages, self.progress = config, store, tax, stages, progress
        self.run_id = config.resolved_run_id()
        requested = parse_request(config.request, tax).attributes
        self.fixed = set(requested)
        self.category = requested.get("category")
        self._generator = self._embedder = self._tagger = self._persona = None

    @property
    def generator(self):
        if self._generator is None:
            self._generator = get_generator(self.config.generate.backend, **self.config.generate.options_for())
        return self._generator

    @property
    def embedder(self):
        if self._embedder is None:
            if not self.config.embed.model:
                raise ConfigError("embed.model: stages 3-7 need an embedding model; set embed.model "
                                  "(e.g. sketch-clip)")
            from .embed import create_embedder

            cfg = self.config.embed
            self._embedder = create_embedder(cfg.model, device=cfg.device, batch_size=cfg.batch_size)
        return self._embedder

    @property
    def coverage_targets(self) -> dict[tuple[str, str], float]:
        """(attribute, value) -> target share: what stage 6 measures and steering keeps clear of."""
        from .coverage import coverage_targets

        cov = self.config.coverage
        return coverage_targets(self.tax, default_target=cov.default_target, targets=cov.targets,
                                fixed=self.fixed, category=self.category)

    @property
    def tagger(self):
        if self._tagger is None:
            from .tagging import VLTTagger

            self._tagger = VLTTagger(self.embedder, self.tax)  # its text prompts are embedded once per run
        return self._tagger

    @property
    def persona(self):
        if self._persona is None and self.config.feedback.source == "persona":
            from .feedback import load_persona

            self._persona = load_persona(self.config.feedback.persona)
        return self._persona

    @property
    def model_id(self) -> str:
        return self.embedder.model_id

    def job_id(self, round_number: int) -> str:
        return job_id_for(self.run_id, round_number)

    def seed(self, round_number: int) -> int:
        return round_seed(self.config.seed, round_number)


def open_run(config: RunConfig, *, stages: tuple[str, ...] = STAGES, progress: bool = True) -> RunContext:
    """Check the inputs `stages` need, open the workspace and record the run."""
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise ConfigError(f"stage={unknown[0]!r}: not a stage; stages: {', '.join(STAGES)}")
    tax = load_taxonomy(config.prompts.taxonomy)
    parse_request(config.request, tax)
    ctx = RunContext(config, None, tax, stages, progress)
    if "generate" in stages:
        ctx.generator  # keys, weights, paths: before any work
    if config.embed.model and {"embed", *NEEDS_EMBEDDINGS} & set(stages):
        ctx.embedder
    if "feedback" in stages and config.feedback.source == "persona":
        ctx.persona
    elif "feedback" in stages and config.feedback.source == "file":
        from .feedback import read_feedback_file

        if config.feedback.file is None:
            raise ConfigError("feedback.file: required when feedback.source is 'file'")
        read_feedback_file(config.feedback.file, user_id=config.user_id)  # every row valid before any work
    if config.prompts.enhancer == "openai" and "prompts" in stages:
        from .generate.openai_backend import _client

        _client(60.0, 0, config.generate.openai.base_url)  # the key must be there before any work
    # only now, with every input checked, does the workspace get created
    ctx.store = store = open_store(config.workspace)
    store.sync_taxonomy(tax)
    store.upsert_run(ctx.run_id, config.name, config.user_id, config.model_dump(mode="json"))
    return ctx


def active_stages(config: RunConfig, stages: tuple[str, ...] = STAGES) -> tuple[str, ...]:
    """The stages a config runs: 3-7 need an embedding model, 7 a feedback source."""
    def runs(stage: str) -> bool:
        if stage in ("embed", *NEEDS_EMBEDDINGS) and not config.embed.model:
            return False
        return not (stage == "feedback" and config.feedback.source == "none")

    return tuple(s for s in stages if runs(s))


def run_stage(ctx: RunContext, stage: str, round_number: int) -> dict:
    """Run one stage of one round; everything it needs from earlier stages comes from the store.

    Returns the stage's summary (also what the notebooks show) with a one-line ``message``.
    """
    from . import stages as st

    cfg, store, r = ctx.config, ctx.store, round_number
    job_id = ctx.job_id(r)
    t = time.perf_counter()
    if stage == "prompts":
        boosts = store.round_boosts(ctx.run_id, r - 1) if r > 1 else None
        preferences = None
        if r > 1 and cfg.embed.model and cfg.feedback.source != "none":
            preferences = st.steering_for_next_round(store, cfg.user_id, ctx.model_id, ctx.tax, fixed=ctx.fixed,
                                                     seed=ctx.seed(r), targets=ctx.coverage_targets) or None
        result = plan_round(cfg, store, ctx.run_id, r, boosts=boosts, preferences=preferences)
        state = "planned" if result.new else "already stored"
        steer = f"; steered by feedback on {', '.join(sorted(preferences))}" if preferences else ""
        boosted = f"; {sum(len(v) for v in boosts.values())} gap boosts" if boosts else ""
        out = {**result.__dict__, "boosts": boosts, "steering": preferences,
               "message": f"{result.n_specs} specs {state} as job {job_id}, {len(result.categories)} categories, "
                          f"{result.distinct_values} distinct attribute values{boosted}{steer}"}
    elif stage == "generate":
        job = run_generation(store, job_id, ctx.generator, progress=ctx.progress)
        if job.status != "done":
            raise StageError(_unfinished(job))
        out = {**job.__dict__, "message": f"{job.n_done}/{job.n_planned} images ({job.n_new} new, {job.n_failed} failed)"
                                          f" with {ctx.generator.name}, {job.images_per_second:.0f} img/s"}
    elif stage == "embed":
        from .embed import run_embedding

        emb = run_embedding(store, job_id, ctx.embedder, threshold=cfg.feedback.outlier_threshold,
                            tagger=ctx.tagger, progress=ctx.progress)
        out = {**emb.__dict__, "message": f"{emb.n_images} images ({emb.n_new_embeddings} new) with {emb.model_id}, "
                                          f"mean alignment {emb.mean_alignment}, adherence {emb.mean_adherence}, "
                                          f"{emb.n_aligned} at alignment >= {cfg.feedback.outlier_threshold:g}"
                                          + (f", {emb.n_artefacts} likely smudged or cropped"
                                             if emb.n_artefacts is not None else "")}
    else:
        data = st.load_round(store, job_id, ctx.model_id)
        if stage == "cluster":
            _, c = st.run_clustering(store, data, k_range=cfg.cluster.k_range, seed=ctx.seed(r),
                                     sample_size=cfg.cluster.silhouette_sample)
            out = {**c.__dict__, "message": f"K={c.k} (silhouette {c.silhouette[c.k]:.3f}); styles: "
                                            + "; ".join(f"{p['name']} ({p['size']})" for p in c.profiles)}
        elif stage == "select":
            labels = store.cluster_labels(f"{job_id}-clusters", data.image_ids) if cfg.select.cluster_aware else None
            quality, head_share = st.selection_quality(store, data, cfg.user_id)
            _, s = st.run_selection(store, data, cfg.select_k, theta=cfg.select.theta, seed=ctx.seed(r),
                                    quality=quality, labels=labels)
            defects = (f", defects {s.defect_share:.0%} vs {s.pool_defect_share:.0%} in the pool"
                       if s.defect_share is not None else "")
            head = f", preference head {head_share:.0%} of quality" if head_share else ""
            excluded = f" ({s.n_excluded} likely artefacts or off-prompt left out)" if s.n_excluded else ""
            out = {**s.__dict__, "head_share": head_share,
                   "message": f"{s.n_selected} of {len(data)}{excluded} at theta {s.theta:g}, Vendi {s.vendi:.2f} "
                              f"(random {s.random_vendi:.2f}), mean quality {s.mean_quality:.3f}{defects}{head}"}
        elif stage == "coverage":
            cov = cfg.coverage
            c = st.run_coverage(store, data, store.selected_indices(f"{job_id}-dpp", data.image_ids), taxonomy=ctx.tax,
                                request_attributes=ctx.fixed, category=ctx.category,
                                default_target=cov.default_target,
                                targets=cov.targets, boost_min=cov.boost_min, boost_max=cov.boost_max)
            sev = ", ".join(f"{n} {k}" for k, n in sorted(c.severities.items())) or "none"
            out = {**c.__dict__, "message": f"score {c.score:.3f} (selected {c.score_selected}), {c.n_gaps} gaps "
                                            f"({sev}; {c.opened} new, {c.closed} closed)"}
        elif stage == "feedback":
            fb = cfg.feedback
            f = st.run_feedback(store, data, store.selected_indices(f"{job_id}-dpp", data.image_ids),
                                source=fb.source, user_id=cfg.user_id, persona=ctx.persona, file=fb.file,
                                seed=ctx.seed(r), threshold=fb.outlier_threshold)
            likes = ", ".join(f"{p['value']} {p['mean']:.2f}" for p in f.top_positive) or "-"
            dislikes = ", ".join(f"{p['value']} {p['mean']:.2f}" for p in f.top_negative) or "-"
            rate = f"{f.thumbs_up_rate:.0%}" if f.thumbs_up_rate is not None else "-"
            out = {**f.__dict__, "message": f"({f.source}) {f.n_events} events, thumbs-up {rate}, {f.n_outliers} "
                                            f"outliers; learned likes: {likes}; dislikes: {dislikes}; "
                                            f"head AUC {f.head_auc}"}
        else:  # pragma: no cover - open_run rejects unknown stages
            raise ConfigError(f"stage={stage!r}: not a stage")
    out["seconds"] = round(time.perf_counter() - t, 3)
    store.record_stage(ctx.run_id, r, stage, out)
    return out


def run(config: RunConfig, *, stages: tuple[str, ...] = STAGES, progress: bool = True,
        log: Callable[[str], None] | None = None) -> RunResult:
    """Run every round of `config` through `stages` in this process (no notebooks)."""
    log = log or (lambda msg: print(msg, file=sys.stderr))
    t0 = time.perf_counter()
    stages = active_stages(config, stages)
    ctx = open_run(config, stages=stages, progress=progress)
    log(f"run {ctx.run_id}: {config.rounds} round(s) of {config.generate.planned_count} specs "
        f"({config.generate.target_count} x {config.generate.overgeneration:g}) in {ctx.store.workspace}")
    rounds = []
    try:
        for r in range(1, config.rounds + 1):
            found = {}
            for stage in stages:
                out = run_stage(ctx, stage, r)
                found[stage] = out
                log(f"  round {r} · {stage}: {out['message']} ({out['seconds']:.2f}s)")
            rounds.append(_round_result(r, ctx.job_id(r), found))
    except BaseException:
        ctx.store.set_run_status(ctx.run_id, "failed")
        raise
    ctx.store.set_run_status(ctx.run_id, "done")
    return RunResult(run_id=ctx.run_id, workspace=str(ctx.store.workspace), rounds=rounds,
                     seconds=time.perf_counter() - t0)


def run_summary(config: RunConfig) -> dict:
    """What a run stored per round and stage (from the run-metrics table), as :meth:`RunResult.to_dict`."""
    store = open_store(config.workspace)
    run_id = config.resolved_run_id()
    metrics = store.run_metrics(run_id)
    rounds = []
    for r in sorted(set(metrics["round"])):
        found = {row["stage"]: json.loads(row["summary"]) for row in metrics[metrics["round"] == r].to_dict("records")}
        rounds.append(_round_result(int(r), job_id_for(run_id, int(r)), found).__dict__)
    return {"run_id": run_id, "workspace": str(store.workspace), "rounds": rounds}


def _round_result(r: int, job_id: str, found: dict) -> RoundResult:
    p = found.get("prompts", {})
    clean = {k: {kk: vv for kk, vv in v.items() if kk != "message"} for k, v in found.items()}
    return RoundResult(round=r, job_id=job_id, n_specs=p.get("n_specs", 0), new=p.get("new", False),
                       distinct_values=p.get("distinct_values", 0), categories=p.get("categories", {}),
                       generation=clean.get("generate"), embedding=clean.get("embed"),
                       clustering=clean.get("cluster"), selection=clean.get("select"),
                       coverage=clean.get("coverage"), feedback=clean.get("feedback"),
                       steering=p.get("steering"))


def _unfinished(job: JobResult) -> str:
    missing = job.n_planned - job.n_done - job.n_failed
    reason = f" (last error: {job.last_error})" if job.last_error else ""
    return (f"stage generate: job {job.job_id} ended {job.status} with {missing} of {job.n_planned} specs "
            f"not generated{reason}; rerun the same command to resume")

"""The main job: run a config's rounds through every stage built so far.

A round is: stage 1 plans the request's prompt specs (target count x over-generation
factor) and stores them as a generation job; stage 2 generates the job's images. Rerunning
a config resumes: planned specs and stored images are kept, never made twice.
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


def run(config: RunConfig, *, stages: tuple[str, ...] = STAGES, progress: bool = True,
        log: Callable[[str], None] | None = None) -> RunResult:
    """Run every round of `config` through `stages` against its workspace."""
    log = log or (lambda msg: print(msg, file=sys.stderr))
    t0 = time.perf_counter()
    # 1. Check inputs before any work: the request parses, the backend can be built (keys, paths)
    tax = load_taxonomy(config.prompts.taxonomy)
    parse_request(config.request, tax)
    generator = get_generator(config.generate.backend, **config.generate.options_for()) \
        if "generate" in stages else None
    embedder = tagger = None
    if "embed" in stages and config.embed.model:
        from .embed import create_embedder
        from .tagging import VLTTagger

        embedder = create_embedder(config.embed.model, device=config.embed.device, batch_size=config.embed.batch_size)
        tagger = VLTTagger(embedder, tax)  # one per run: its text prompts are embedded once
    persona = None
    if "feedback" in stages and config.feedback.source == "persona":
        from .feedback import load_persona

        persona = load_persona(config.feedback.persona)
    elif "feedback" in stages and config.feedback.source == "file":
        from .feedback import read_feedback_file

        if config.feedback.file is None:
            raise ConfigError("feedback.file: required when feedback.source is 'file'")
        read_feedback_file(config.feedback.file, user_id=config.user_id)  # every row valid before any work
    if config.prompts.enhancer == "openai":
        from .generate.openai_backend import _client

        _client(60.0, 0, config.generate.openai.base_url)  # the key must be there before any work
    # 2. Open the workspace and record the run
    store = open_store(config.workspace)
    store.sync_taxonomy(tax)
    run_id = config.resolved_run_id()
    store.upsert_run(run_id, config.name, config.user_id, config.model_dump(mode="json"))
    log(f"run {run_id}: {config.rounds} round(s) of {config.generate.planned_count} specs "
        f"({config.generate.target_count} x {config.generate.overgeneration:g}) in {store.workspace}")
    # 3. Rounds
    rounds = []
    boosts = preferences = None
    fixed = set(parse_request(config.request, tax).attributes)
    try:
        for r in range(1, config.rounds + 1):
            t = time.perf_counter()
            if r > 1 and embedder is not None and "feedback" in stages and config.feedback.source != "none":
                from .stages import steering_for_next_round

                preferences = steering_for_next_round(store, config.user_id, embedder.model_id, tax, fixed=fixed,
                                                      seed=round_seed(config.seed, r)) or None
                if preferences:
                    log(f"  round {r} · steering: preference factors for {', '.join(sorted(preferences))} "
                        "(Thompson draws from feedback so far)")
            result = plan_round(config, store, run_id, r, boosts=boosts, preferences=preferences)
            result = RoundResult(**{**result.__dict__, "steering": preferences})
            state = "planned" if result.new else "already stored"
            log(f"  round {r} · prompts: {result.n_specs} specs {state} as job {result.job_id}, "
                f"{len(result.categories)} categories, {result.distinct_values} distinct attribute values "
                f"({time.perf_counter() - t:.2f}s)")
            if generator is not None:
                job = run_generation(store, result.job_id, generator, progress=progress)
                log(f"  round {r} · generate: {job.n_done}/{job.n_planned} images ({job.n_new} new, "
                    f"{job.n_failed} failed) with {generator.name}, {job.images_per_second:.0f} img/s, "
                    f"job {job.status}")
                result = RoundResult(**{**result.__dict__, "generation": job.__dict__})
                if job.status != "done":
                    raise StageError(_unfinished(job))
            if embedder is not None:
                from .embed import run_embedding

                emb = run_embedding(store, result.job_id, embedder, threshold=config.feedback.outlier_threshold,
                                    tagger=tagger, progress=progress)
                log(f"  round {r} · embed: {emb.n_images} images ({emb.n_new_embeddings} new) with {emb.model_id}, "
                    f"mean alignment {emb.mean_alignment}, adherence {emb.mean_adherence}, "
                    f"{emb.n_aligned} at alignment >= {config.feedback.outlier_threshold:g} ({emb.seconds:.1f}s)")
                result = RoundResult(**{**result.__dict__, "embedding": emb.__dict__})
                later = _stages_4_to_7(config, store, result, embedder.model_id, stages, tax, fixed, log, persona)
                result = RoundResult(**{**result.__dict__, **later})
                boosts = (later.get("coverage") or {}).get("boosts") or None
            rounds.append(result)
    except BaseException:
        store.set_run_status(run_id, "failed")
        raise
    store.set_run_status(run_id, "done")
    return RunResult(run_id=run_id, workspace=str(store.workspace), rounds=rounds,
                     seconds=time.perf_counter() - t0)


def _stages_4_to_7(config: RunConfig, store: Store, result: RoundResult, model_id: str, stages, tax, fixed,
                   log, persona) -> dict:
    """Cluster, select, measure coverage and take feedback for one round; what each stage found."""
    from .stages import load_round, run_clustering, run_coverage, run_feedback, run_selection, selection_quality

    out: dict = {}
    if not {"cluster", "select", "coverage", "feedback"} & set(stages):
        return out
    r, seed = result.round, round_seed(config.seed, result.round)
    data = load_round(store, result.job_id, model_id)
    labels = None
    if "cluster" in stages:
        clusters, c = run_clustering(store, data, k_range=config.cluster.k_range, seed=seed,
                                     sample_size=config.cluster.silhouette_sample)
        labels = clusters.labels
        out["clustering"] = {"k": c.k, "silhouette": c.silhouette, "profiles": c.profiles, "seconds": c.seconds}
        log(f"  round {r} · cluster: K={c.k} (silhouette {c.silhouette[c.k]:.3f}); styles: "
            + "; ".join(f"{p['name']} ({p['size']})" for p in c.profiles) + f" ({c.seconds:.2f}s)")
    selected = np.arange(len(data))
    if "select" in stages:
        k = config.select.k or config.generate.target_count
        quality, head_share = selection_quality(store, data, config.user_id)
        selected, s = run_selection(store, data, k, theta=config.select.theta, seed=seed, quality=quality,
                                    labels=labels if config.select.cluster_aware else None)
        out["selection"] = {**s.__dict__, "head_share": head_share}
        defects = (f", defects {s.defect_share:.0%} vs {s.pool_defect_share:.0%} in the pool"
                   if s.defect_share is not None else "")
        log(f"  round {r} · select: {s.n_selected} of {len(data)} at theta {s.theta:g}, Vendi {s.vendi:.2f} "
            f"(random {s.random_vendi:.2f}), mean quality {s.mean_quality:.3f}{defects} ({s.seconds:.2f}s)")
    if "coverage" in stages:
        cov = config.coverage
        c = run_coverage(store, data, selected, taxonomy=tax, request_attributes=fixed,
                         default_target=cov.default_target, targets=cov.targets,
                         boost_min=cov.boost_min, boost_max=cov.boost_max)
        out["coverage"] = c.__dict__
        sev = ", ".join(f"{n} {s}" for s, n in sorted(c.severities.items())) or "none"
        log(f"  round {r} · coverage: score {c.score:.3f} (selected {c.score_selected}), {c.n_gaps} gaps "
            f"({sev}; {c.opened} new, {c.closed} closed) ({c.seconds:.2f}s)")
    if "feedback" in stages and config.feedback.source != "none":
        fb = config.feedback
        f = run_feedback(store, data, selected, source=fb.source, user_id=config.user_id, persona=persona,
                         file=fb.file, seed=seed, threshold=fb.outlier_threshold)
        out["feedback"] = f.__dict__
        likes = ", ".join(f"{p['value']} {p['mean']:.2f}" for p in f.top_positive) or "-"
        dislikes = ", ".join(f"{p['value']} {p['mean']:.2f}" for p in f.top_negative) or "-"
        rate = f"{f.thumbs_up_rate:.0%}" if f.thumbs_up_rate is not None else "-"
        log(f"  round {r} · feedback ({f.source}): {f.n_events} events, thumbs-up {rate}, {f.n_outliers} outliers; "
            f"learned likes: {likes}; dislikes: {dislikes}; head AUC {f.head_auc} ({f.seconds:.2f}s)")
    return out


def _unfinished(job: JobResult) -> str:
    missing = job.n_planned - job.n_done - job.n_failed
    reason = f" (last error: {job.last_error})" if job.last_error else ""
    return (f"stage generate: job {job.job_id} ended {job.status} with {missing} of {job.n_planned} specs "
            f"not generated{reason}; rerun the same command to resume")

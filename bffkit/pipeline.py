"""The main job: every round of a config through the stage registry, then the per-run stages.

:func:`open_run` checks every input the chosen stages need (each stage's ``check``) before
anything is stored; :func:`run_stage` runs one stage of one round and records its summary;
:func:`run_rounds` is the one loop over rounds. It runs in this process (:func:`run`, ``bffkit
run --no-notebooks``) or through the stage notebooks (:mod:`bffkit.report`, ``bffkit run``),
which call :func:`run_stage` themselves. Rerunning a config resumes: planned specs and stored
images are kept, never made twice.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .config import RunConfig
from .exceptions import NotStoredError, StageError
from .prompts import parse_request, request_warning
from .stages import STAGE_NAMES, RunContext, get_stage
from .store import ids, open_store
from .taxonomy import load_taxonomy

Log = Callable[[str], None]


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr)

# Runs one stage of one round and returns its summary dict (with ``message`` and ``seconds``)
Executor = Callable[[RunContext, str, int], dict]


# What a round's summary calls each stage's result (the JSON of `bffkit run --json`)
ROUND_KEYS = {"generation": "generate", "embedding": "embed", "clustering": "cluster", "selection": "select",
              "coverage": "coverage", "feedback": "feedback"}


@dataclass(frozen=True)
class RoundResult:
    """One round of a run: the job it planned and each stage's summary (without its message)."""

    round: int
    job_id: str
    summaries: dict[str, dict] = field(default_factory=dict)  # stage name -> summary

    def __getattr__(self, key: str):
        if key in ROUND_KEYS:  # r.selection, r.feedback, ...: that stage's summary (None if it did not run)
            return self.summaries.get(ROUND_KEYS[key])
        raise AttributeError(key)

    def to_dict(self) -> dict:
        """The round as JSON: stage 1's counts and steering at the top, then one entry per stage."""
        p = self.summaries.get("prompts", {})
        return {"round": self.round, "job_id": self.job_id, "n_specs": p.get("n_specs", 0), "new": p.get("new", False),
                "distinct_values": p.get("distinct_values", 0), "categories": p.get("categories", {}),
                **{key: self.summaries.get(stage) for key, stage in ROUND_KEYS.items()},
                "steering": p.get("steering"),
                # every stage of the round had finished before (a rerun after a kill kept them)
                "resumed": bool(self.summaries) and all(v.get("resumed") for v in self.summaries.values())}


@dataclass(frozen=True)
class RunResult:
    run_id: str
    workspace: str
    rounds: list[RoundResult]
    seconds: float

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "workspace": self.workspace, "seconds": round(self.seconds, 3),
                "rounds": [r.to_dict() for r in self.rounds]}


def active_stages(config: RunConfig, stages: tuple[str, ...] = STAGE_NAMES) -> tuple[str, ...]:
    """The stages of `stages` that a config runs (3-7 need an embedding model, 7 a feedback source)."""
    return tuple(s for s in stages if get_stage(s).enabled(config))


def open_run(config: RunConfig, *, stages: tuple[str, ...] = STAGE_NAMES, progress: bool = True,
             log: Log | None = None) -> RunContext:
    """Check every input `stages` need, then open the workspace and record the run.

    A request that names no attribute runs on the priors, with a warning through `log`."""
    # 1. Every input, before anything is stored: names, request, then each stage's own check
    chosen = [get_stage(s) for s in stages]
    tax = load_taxonomy(config.prompts.taxonomy)
    warning = request_warning(parse_request(config.request, tax))
    if warning:
        (log or _to_stderr)(warning)
    ctx = RunContext(config, None, tax, tuple(stages), progress)
    for stage in chosen:
        stage.check(ctx)
    # 2. Only now does the workspace get created
    ctx.store = store = open_store(config.workspace)
    store.sync_taxonomy(tax)
    store.upsert_run(ctx.run_id, config.name, config.user_id, config.model_dump(mode="json"))
    return ctx


def run_stage(ctx: RunContext, stage: str, round_number: int) -> dict:
    """Run one stage of one round (everything it needs from earlier stages comes from the store)
    and record it in the run-metrics table. Returns its summary with ``message`` and ``seconds``.

    A round's stage that already finished under the same config is not run again: its recorded
    summary comes back with ``resumed: True``. Redoing it would not repeat it: selection would
    see the feedback given since, so a rerun after a kill would judge other images.

    A round that is history (its run finished, or a later round exists) is never rewritten: under
    other settings, a stage that can explore (cluster, select) stores a variant named by the
    settings' digest beside the round's own result, outside the run-metrics table; any other
    stage is a one-line error.
    """
    done = finished_summary(ctx, stage, round_number)
    if done is not None:
        return {**done, "resumed": True}
    definition = get_stage(stage)
    t = time.perf_counter()
    if definition.per_round and is_history(ctx, stage, round_number):
        if definition.explore is None:
            raise StageError(f"round {round_number} of run {ctx.run_id} is finished and its {stage} stage ran under "
                             "other settings; it is not redone (start a new run, or explore K and theta in the "
                             "cluster and select notebooks, which store variants)")
        variant = f"v{ctx.config_digest[:8]}"
        out = definition.explore(ctx, round_number, variant).to_dict()
        out.update(seconds=round(time.perf_counter() - t, 3), variant=variant,
                   message=f"a variant ({variant}) beside the round's stored result: {out['message']}")
        return out
    result = definition.run(ctx, round_number)
    out = result.to_dict()
    out["seconds"] = round(time.perf_counter() - t, 3)
    out["config_digest"] = ctx.config_digest
    ctx.store.record_stage(ctx.run_id, round_number, stage, out, seconds=out["seconds"], items=result.items,
                           success_rate=result.success_rate)
    return out


def is_history(ctx: RunContext, stage: str, round_number: int) -> bool:
    """Whether a round's stage result is history: it was recorded (under any settings) and the run
    finished or went on to a later round."""
    if ctx.store.stage_summary(ctx.run_id, round_number, stage) is None:
        return False
    run = ctx.store.run(ctx.run_id)
    if run is not None and run["status"] == "done":
        return True
    try:
        ctx.store.job(ctx.job_id(round_number + 1))
    except NotStoredError:
        return False
    return True


def finished_summary(ctx: RunContext, stage: str, round_number: int) -> dict | None:
    """The summary of a round's stage that already finished under this config, or None (redo it)."""
    if not get_stage(stage).per_round:
        return None  # once-per-run stages (analytics) read a time window: always fresh
    done = ctx.store.stage_summary(ctx.run_id, round_number, stage)
    return done if done is not None and done.get("config_digest") == ctx.config_digest else None


def run_rounds(ctx: RunContext, execute: Executor = run_stage, log: Log | None = None) -> list[RoundResult]:
    """The one loop over rounds: each round's stages in order, then the once-per-run stages.

    The run's status ends ``done``, or ``failed`` when a stage raises (its error propagates).
    """
    log = log or _to_stderr
    cfg = ctx.config
    per_round = [s for s in ctx.stages if get_stage(s).per_round]
    per_run = [s for s in ctx.stages if not get_stage(s).per_round]
    rounds = []
    try:
        for r in range(1, cfg.rounds + 1):
            found = {}
            for stage in per_round:
                found[stage] = out = execute(ctx, stage, r)
                took = "done before; kept" if out.get("resumed") else f"{out['seconds']:.2f}s"
                log(f"  round {r} · {stage}: {out['message']} ({took})")
            rounds.append(round_result(r, ctx.job_id(r), found))
        for stage in per_run:
            out = execute(ctx, stage, cfg.rounds)
            log(f"  run · {stage}: {out['message']} ({out['seconds']:.2f}s)")
    except BaseException:
        ctx.store.set_run_status(ctx.run_id, "failed")
        raise
    ctx.store.set_run_status(ctx.run_id, "done")
    return rounds


def run(config: RunConfig, *, stages: tuple[str, ...] = STAGE_NAMES, progress: bool = True,
        log: Log | None = None) -> RunResult:
    """Run every round of `config` through `stages` in this process (no notebooks)."""
    log = log or _to_stderr
    t0 = time.perf_counter()
    ctx = open_run(config, stages=active_stages(config, stages), progress=progress, log=log)
    log(f"run {ctx.run_id}: {config.rounds} round(s) of {config.generate.planned_count} specs "
        f"({config.generate.target_count} x {config.generate.overgeneration:g}) in {ctx.store.workspace}")
    rounds = run_rounds(ctx, log=log)
    return RunResult(run_id=ctx.run_id, workspace=str(ctx.store.workspace), rounds=rounds,
                     seconds=time.perf_counter() - t0)


def run_summary(config: RunConfig) -> dict:
    """What a run stored per round and stage (from the run-metrics table), as :meth:`RunResult.to_dict`."""
    store = open_store(config.workspace)
    run_id = config.resolved_run_id()
    metrics = store.run_metrics(run_id)
    rounds = []
    for r in sorted(set(metrics["round"])):
        found = {row["stage"]: row["summary"] for row in metrics[metrics["round"] == r].to_dict("records")}
        rounds.append(round_result(int(r), ids.job_id_for(run_id, int(r)), found).to_dict())
    return {"run_id": run_id, "workspace": str(store.workspace), "rounds": rounds}


def round_result(r: int, job_id: str, found: dict) -> RoundResult:
    """A round's RoundResult from its stages' summaries (by stage name)."""
    hidden = ("message", "config_digest")
    return RoundResult(r, job_id, {k: {kk: vv for kk, vv in v.items() if kk not in hidden} for k, v in found.items()})

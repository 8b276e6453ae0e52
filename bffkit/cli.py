"""The `bffkit` command line.

Exit codes: 0 success, 2 bad input (one line on stderr), 1 anything else. With ``--json`` a
command prints exactly one JSON document on stdout; progress and messages go to stderr.

One section per command, each a thin layer over the package (a little over 500 lines: click's
decorators keep every option beside the command that takes it).
"""

from __future__ import annotations

import errno
import importlib.util
import json
import os
import platform
import sys
import traceback
from pathlib import Path
from typing import Any

import click

from . import __version__
from .exceptions import BffkitError, RequestError, StageError
from .models.sketch_clip.train import TrainConfig  # its defaults are the command's (one place)
from .yamlfile import read_yaml

WORKSPACE_OPTION = click.option(
    "--workspace", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Workspace folder (bff.duckdb + images/); overrides the config.")


def _echo_json(doc: Any) -> None:
    click.echo(json.dumps(doc, indent=2, ensure_ascii=False, default=str))


def _workspace(path: Path | None) -> Path:
    from .paths import DEFAULT_WORKSPACE

    return path if path is not None else DEFAULT_WORKSPACE


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="bffkit")
def cli() -> None:
    """bffkit: the designer's best-friend pipeline, as a research workbench."""


# --------------------------------------------------------------------------- init

@cli.command()
@click.argument("project", type=click.Path(path_type=Path), required=False)
@WORKSPACE_OPTION
@click.option("--force", is_flag=True, help="With DIR: replace its config.yaml and notebooks.")
def init(project: Path | None, workspace: Path | None, force: bool) -> None:
    """Create (or upgrade) a workspace and load the VLT taxonomy into it. With DIR: also a project
    folder there, with the stage notebooks and a starter config.yaml (workspace DIR/workspace)."""
    from .store import open_store
    from .taxonomy import load_taxonomy

    written = []
    if project is not None:
        from .project import WORKSPACE_NAME, init_project

        written = init_project(project, force=force)
        workspace = workspace or project / WORKSPACE_NAME
    store = open_store(_workspace(workspace))
    n = store.sync_taxonomy(load_taxonomy())
    click.echo(f"workspace {store.workspace}: schema v{store.schema_version()}, {n} VLT attributes")
    if project is not None:
        click.echo(f"project {project}: config.yaml and {len(written) - 1} notebooks; next: "
                   f"cd {project} && bffkit run --config config.yaml (or jupyter lab there)")


# --------------------------------------------------------------------------- prompts

def _load_request(request: str) -> str | dict:
    """A request is free text, or the path of a YAML/JSON file holding a mapping."""
    path = Path(request)
    if path.suffix.lower() in (".yaml", ".yml", ".json") and len(request) < 4096:
        data = read_yaml(path, RequestError, "request file")
        if isinstance(data, dict) and "request" in data and len(data) == 1:
            data = data["request"]
        if not isinstance(data, (dict, str)):
            raise RequestError(f"{path.name}: must hold a mapping of attribute: value")
        return data
    return request


@cli.command()
@click.argument("request")
@click.option("--n", "n", type=click.IntRange(min=1, max=100_000), default=4, show_default=True,
              help="Number of prompt specs.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--backend", default="sketch", show_default=True,
              help="Backend whose quality parameters to fill.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON list of specs.")
def prompts(request: str, n: int, seed: int, backend: str, as_json: bool) -> None:
    """Turn a design REQUEST (text, or a YAML file of attribute: value) into N prompt specs."""
    from .exceptions import ConfigError
    from .prompts import build_specs, parse_request, request_warning
    from .registry import available_generators

    if backend not in available_generators():
        raise ConfigError(f"--backend={backend!r}: unknown backend; available: {', '.join(available_generators())}")
    request = _load_request(request)
    warning = request_warning(parse_request(request))
    if warning:
        click.echo(warning, err=True)
    specs = build_specs(request, n, seed, backend=backend)
    if as_json:
        _echo_json([s.to_dict() for s in specs])
        return
    for s in specs:
        click.echo(f"[{s.index}] seed={s.seed}")
        click.echo(f"  prompt:   {s.prompt}")
        click.echo(f"  negative: {s.negative_prompt}")
        click.echo(f"  params:   {json.dumps(s.params)}")


# --------------------------------------------------------------------------- taxonomy

@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the attributes as JSON.")
def taxonomy(as_json: bool) -> None:
    """List the VLT taxonomy: groups, attributes and their values."""
    from .taxonomy import load_taxonomy

    tax = load_taxonomy()
    if as_json:
        _echo_json(tax.records())
        return
    click.echo(f"{len(tax)} attributes in {len({a.group for a in tax.values()})} groups")
    for group in tax.groups:
        for a in (a for a in tax.values() if a.group == group):
            click.echo(f"{group:>22} · {a.name:<20} {', '.join(a.value_names)}")


# --------------------------------------------------------------------------- run

@cli.command()
@click.option("--config", "config_path", required=True, type=click.Path(path_type=Path),
              help="Run config (YAML), e.g. data/configs/demo.yaml.")
@WORKSPACE_OPTION
@click.option("--run-id", default=None, help="Run id (default: config name + config hash).")
@click.option("--no-notebooks", is_flag=True, help="Run the stages in this process: no notebooks, no report.")
@click.option("--fresh-kernels", is_flag=True, help="One kernel per notebook instead of one per run (slower).")
@click.option("--reports", "reports_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Reports folder (default: report.dir of the config, else <workspace>/reports); the report goes in <reports>/<run_id>/.")
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON.")
def run(config_path: Path, workspace: Path | None, run_id: str | None, no_notebooks: bool, fresh_kernels: bool,
        reports_dir: Path | None, as_json: bool) -> None:
    """Run the main job: every round through every stage notebook, then analytics, into an HTML report."""
    from .config import load_config
    from .pipeline import run as run_pipeline, run_summary

    cfg = load_config(config_path, workspace=workspace, run_id=run_id)
    log = lambda m: click.echo(m, err=True)  # noqa: E731
    if no_notebooks:
        result = run_pipeline(cfg, log=log)
        doc = result.to_dict()
        done = f"run {result.run_id} finished in {result.seconds:.1f}s; workspace: {result.workspace}"
    else:
        from .report import run_report

        report = run_report(cfg, config_path, reports_dir=reports_dir, fresh_kernels=fresh_kernels,
                            log=log)
        doc = {**run_summary(cfg), "report": report.to_dict()}
        done = (f"run {report.run_id} finished in {report.seconds:.1f}s; report: {report.index} "
                f"(workspace: {cfg.workspace})")
    if as_json:
        _echo_json(doc)
    else:
        click.echo(done)


# --------------------------------------------------------------------------- generate

@cli.command()
@click.option("--config", "config_path", required=True, type=click.Path(path_type=Path),
              help="Run config (YAML).")
@click.option("--backend", default=None, help="Override the config's backend (sketch, diffusers, openai, ...).")
@click.option("--resume", "job_id", default=None, help="Resume one stored generation job by id.")
@WORKSPACE_OPTION
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True)
def generate(config_path: Path, backend: str | None, job_id: str | None, workspace: Path | None,
             quiet: bool, as_json: bool) -> None:
    """Plan and generate each round's images (stages 1-2), or resume one job."""
    from .config import load_config
    from .generate import get_generator
    from .pipeline import run as run_pipeline
    from .stages.generate import run_generation
    from .store import open_store

    # validated with the file, so an unknown backend gets the usual one-line error
    cfg = load_config(config_path, {"generate.backend": backend}, workspace=workspace)
    if job_id is None:
        result = run_pipeline(cfg, stages=("prompts", "generate"), progress=not quiet)
        doc = result.to_dict()
    else:
        generator = get_generator(cfg.generate.backend, **cfg.generate.options_for())
        store = open_store(cfg.workspace)
        job = run_generation(store, store.job(job_id)["id"], generator, progress=not quiet)
        if job.status != "done":
            raise StageError(job.unfinished())
        doc = job.__dict__
    if as_json:
        _echo_json(doc)
    else:
        click.echo(f"generated into {cfg.workspace}")


# --------------------------------------------------------------------------- embed / tag

@cli.command()
@click.option("--config", "config_path", required=True, type=click.Path(path_type=Path), help="Run config (YAML).")
@WORKSPACE_OPTION
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True)
def embed(config_path: Path, workspace: Path | None, quiet: bool, as_json: bool) -> None:
    """Embed, tag and score each round's images (stages 1-3; what is stored is reused)."""
    from .config import load_config
    from .pipeline import run as run_pipeline

    cfg = load_config(config_path, workspace=workspace)
    result = run_pipeline(cfg, stages=("prompts", "generate", "embed"), progress=not quiet)
    if as_json:
        _echo_json(result.to_dict())
    else:
        click.echo(f"embedded into {cfg.workspace}")


@cli.command()
@click.argument("images", nargs=-1, required=True)
@click.option("--model", default="sketch-clip", show_default=True,
              help="Embedding model: a preset, NAME@TAG, NAME@/path/weights, hf-hub:..., local-dir:...")
@click.option("--prompt", default=None, help="Also score each image's alignment with this prompt.")
@WORKSPACE_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print one JSON list, one entry per image.")
def tag(images: tuple[str, ...], model: str, prompt: str | None, workspace: Path | None, as_json: bool) -> None:
    """Detect VLT attributes in IMAGES (zero-shot), with confidences."""
    from .models import create_embedder, load_image
    from .stages.embed import prompt_scores
    from .store import open_store
    from .tagging import VLTTagger

    from .prompts import check_request_text

    if prompt is not None:
        check_request_text(prompt, "--prompt")
    pictures = [load_image(i) for i in images]  # one-line errors for missing or unreadable files first
    embedder = create_embedder(model, where="--model")
    X = embedder.embed_images(pictures)
    tags = VLTTagger(embedder).tag(X)
    docs = [{"image": str(i), "model": embedder.model_id, "attributes": t} for i, t in zip(images, tags)]
    if prompt:
        store = open_store(workspace) if workspace else None
        scores = prompt_scores(embedder, X, [prompt] * len(images), store)
        for i, doc in enumerate(docs):
            doc.update(prompt=prompt, **{k: None if v is None else round(float(v[i]), 4) for k, v in scores.items()})
    if as_json:
        _echo_json(docs)
        return
    for doc in docs:
        attrs = ", ".join(f"{k}={v['value']} ({v['confidence']:.2f})" for k, v in doc["attributes"].items())
        extra = f" | alignment {doc['alignment']:.2f}" if prompt else ""
        if prompt and doc["artefact"] is not None:
            extra += f", artefact {doc['artefact']:.2f}"
        click.echo(f"{doc['image']}: {attrs}{extra}")


@cli.command("train-sketch-clip")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder (default: data/models/sketch-clip).")
@click.option("--images", "n_images", type=click.IntRange(min=512), default=TrainConfig.n_images, show_default=True)
@click.option("--epochs", type=click.IntRange(min=1), default=TrainConfig.epochs, show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=TrainConfig.seed, show_default=True)
@click.option("--max-minutes", type=click.FloatRange(min=1), default=TrainConfig.max_minutes, show_default=True)
@click.option("--steps", type=click.IntRange(min=1), default=None,
              help="Optimiser steps (default: as many as fit --max-minutes, at most --epochs passes; "
                   "training.json records the number, which repeats a run exactly).")
@click.option("--eval-images", type=click.IntRange(min=100), default=1000, show_default=True,
              help="Held-out sketches the zero-shot accuracy in training.json is measured on.")
@click.option("--compile/--no-compile", "compile_", default=TrainConfig.compile, show_default=True,
              help="torch.compile the image tower (1.38x faster steps; the shipped weights were trained "
                   "compiled). --no-compile trains eagerly, which a seeded run repeats bit for bit.")
def train_sketch_clip(out: Path | None, n_images: int, epochs: int, seed: int, max_minutes: float,
                      steps: int | None, eval_images: int, compile_: bool) -> None:
    """Train the offline sketch-clip embedder from scratch (seeded; <= 30 min on 2 CPU cores)."""
    from .models.sketch_clip import MODEL_DIR, finish_model, train

    out = out or MODEL_DIR
    report = train(TrainConfig(n_images=n_images, epochs=epochs, seed=seed, max_minutes=max_minutes, steps=steps,
                               compile=compile_), out, log=lambda m: click.echo(m, err=True))
    report.update(finish_model(out, n_eval=eval_images))
    click.echo(json.dumps(report, indent=2))


# --------------------------------------------------------------------------- bench

@cli.command()
@click.argument("name")
@click.option("--n", "n", type=click.IntRange(min=10), default=None,
              help="Items per run (default: the benchmark's own; dpp: the largest N).")
@click.option("--repeats", type=click.IntRange(min=1), default=None, help="Best of this many (default: per benchmark).")
@click.option("--persona", default=None, help="loop: persona YAML path or name (default: minimalist).")
@click.option("--json", "as_json", is_flag=True)
def bench(name: str, n: int | None, repeats: int | None, persona: str | None, as_json: bool) -> None:
    """Run a benchmark (generate, embed, dpp, cluster, loop, ...): figures as ratios against a same-process baseline."""
    from .bench import run_bench

    result = run_bench(name, n=n, repeats=repeats, **({"persona": persona} if persona else {}))
    if as_json:
        _echo_json(result)
    else:
        for key, value in result.items():
            click.echo(f"{key:>26}: {value}")


# --------------------------------------------------------------------------- feedback

@cli.group()
def feedback() -> None:
    """Import or export designer feedback (CSV or JSON)."""


def _existing_store(workspace: Path | None):
    from .store import STORE_FILENAME, open_store

    ws = _workspace(workspace)
    if not (ws / STORE_FILENAME).exists():
        raise BffkitError(f"--workspace: no store at {ws} (run `bffkit init` or `bffkit run` first)")
    return open_store(ws)


def _check_user_option(user_id: str) -> None:
    from .feedback import USER_ID_RULE, valid_user_id

    if not valid_user_id(user_id):
        raise BffkitError(f"--user={user_id!r}: {USER_ID_RULE}")


@feedback.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@WORKSPACE_OPTION
@click.option("--user", "user_id", default=None, help="User id for rows that carry none.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option("--json", "as_json", is_flag=True)
def feedback_import(file: Path, workspace: Path | None, user_id: str | None, quiet: bool, as_json: bool) -> None:
    """Import feedback rows (image_id, feedback_type, rating, comment, user_id, created_at): all or nothing."""
    from .feedback import Inbox, import_feedback
    from .preferences import update_from_feedback

    if user_id is not None:
        _check_user_option(user_id)
    store = _existing_store(workspace)
    Inbox(store.workspace).merge(store)  # queued widget clicks first, so order is kept
    report = import_feedback(store, file, user_id=user_id, progress=not quiet)
    if report["stored"]:
        update_from_feedback(store, report["users"], progress=not quiet)
    if as_json:
        _echo_json(report)
    else:
        click.echo(f"imported {report['stored']} of {report['rows']} rows "
                   f"({report['already_stored']} already stored) into {store.workspace}")


@feedback.command("export")
@WORKSPACE_OPTION
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="File to write (.csv or .json); default: CSV on stdout.")
@click.option("--user", "user_id", default=None, help="Only this user's feedback.")
def feedback_export(workspace: Path | None, out: Path | None, user_id: str | None) -> None:
    """Export feedback as CSV (or JSON with --out FILE.json)."""
    from .feedback import Inbox, export_feedback

    store = _existing_store(workspace)
    Inbox(store.workspace).merge(store)
    text = export_feedback(store, out, user_id=user_id)
    if out is None:
        click.echo(text, nl=False)
    else:
        click.echo(f"wrote {len(store.feedback(user_id))} rows to {out}")


# --------------------------------------------------------------------------- analytics

@cli.command()
@WORKSPACE_OPTION
@click.option("--window", "window_days", type=click.IntRange(1, 3650), default=90, show_default=True,
              help="Days of history to analyse.")
@click.option("--json", "as_json", is_flag=True)
def analytics(workspace: Path | None, window_days: int, as_json: bool) -> None:
    """Trends, style-profile and attribute outlier rates, and recommendations with their evidence."""
    from .stages.analytics import analytics_for as compute

    store = _existing_store(workspace)
    result = compute(store, window_days)
    if as_json:
        _echo_json(result.to_dict())
        return
    click.echo(f"last {window_days} days: outlier rate {result.overall_outlier_rate}, "
               f"thumbs-up {result.overall_thumbs_up}")
    if len(result.per_round):
        click.echo(result.per_round.to_string(index=False))
    for rec in result.recommendations[:10]:
        click.echo(f"- {rec['text']}")


# --------------------------------------------------------------------------- variants and adopt

def _run_option_value(store, run_id: str | None) -> str:
    run_id = run_id or store.latest_run_id()
    if run_id is None or store.run(run_id) is None:
        known = ", ".join(r["id"] for r in store.runs(limit=5)[1]) or "none"
        raise BffkitError(f"--run={run_id!r}: no such run in the workspace; latest runs: {known}")
    return run_id


RUN_OPTION = click.option("--run", "run_id", default=None, help="Run id (default: the workspace's latest run).")
ROUND_OPTION = click.option("--round", "round_number", type=click.IntRange(min=1), required=True, help="Round (1-based).")
STAGE_OPTION = click.option("--stage", type=click.Choice(["cluster", "select"]), required=True)


@cli.command()
@RUN_OPTION
@ROUND_OPTION
@STAGE_OPTION
@WORKSPACE_OPTION
@click.option("--json", "as_json", is_flag=True)
def variants(run_id: str | None, round_number: int, stage: str, workspace: Path | None, as_json: bool) -> None:
    """A round's stored clustering or selection and the variants explored beside it; * marks the current one."""
    from .history import variants as table
    from .store import ids

    store = _existing_store(workspace)
    run_id = _run_option_value(store, run_id)
    frame = table(store, ids.job_id_for(run_id, round_number), stage)
    if as_json:
        _echo_json(frame.to_dict("records"))
        return
    if frame.empty:
        raise BffkitError(f"--round={round_number}: round {round_number} of run {run_id!r} has no {stage} result yet")
    frame.insert(0, "", ["*" if c else "" for c in frame.pop("current")])
    click.echo(frame.to_string(index=False))


@cli.command()
@click.argument("variant")
@RUN_OPTION
@ROUND_OPTION
@STAGE_OPTION
@click.option("--note", default=None, help="Why (kept with the adoption).")
@WORKSPACE_OPTION
@click.option("--json", "as_json", is_flag=True)
def adopt(variant: str, run_id: str | None, round_number: int, stage: str, note: str | None, workspace: Path | None,
          as_json: bool) -> None:
    """Make a stored VARIANT (or `own`) the round's clustering or selection from now on; recorded, nothing rewritten."""
    from .history import adopt as adopt_variant

    store = _existing_store(workspace)
    run_id = _run_option_value(store, run_id)
    record = adopt_variant(store, run_id, round_number, stage, variant, adopted_by=store.run(run_id)["user_id"],
                           note=note)
    if as_json:
        _echo_json(record)
    else:
        click.echo(f"round {round_number} of run {run_id}: the {stage} result is now {variant} "
                   f"(adoption {record['n']}; `bffkit adopt own` undoes it)")


# --------------------------------------------------------------------------- purge

@cli.command()
@click.option("--user", "user_id", default=None, help="User id whose rows and files to remove.")
@click.option("--older-than", "days", type=click.IntRange(min=1), default=None,
              help="Instead: every user's feedback older than DAYS days (what `retention_days` does).")
@WORKSPACE_OPTION
@click.option("--json", "as_json", is_flag=True)
def purge(user_id: str | None, days: int | None, workspace: Path | None, as_json: bool) -> None:
    """Remove one user's rows and image files, or feedback older than a number of days; nothing else."""
    if (user_id is None) == (days is None):
        raise click.UsageError("give exactly one of --user U or --older-than DAYS")
    store = _existing_store(workspace)
    if days is not None:
        removed = store.purge_feedback_older_than(days)
        if as_json:
            _echo_json({"older_than_days": days, "rows": removed})
        else:
            click.echo(f"purged feedback older than {days} days: {removed['user_feedback']} events, "
                       f"{removed['outliers']} outliers")
        return
    _check_user_option(user_id)
    report = store.purge_user(user_id)
    if as_json:
        _echo_json({"user_id": user_id, "rows": report.rows, "files": report.files})
    else:
        click.echo(f"purged user {user_id!r}: {report.total_rows} rows, {report.files} image files")


# --------------------------------------------------------------------------- doctor

def _check(name: str, ok: bool, detail: str, required: bool = True) -> dict:
    return {"check": name, "ok": ok, "required": required, "detail": detail}


def doctor_checks(workspace: Path) -> list[dict]:
    """Environment checks: store writable, taxonomy valid, optional backends, disk space."""
    from .exceptions import BffkitError as _Err
    from .registry import available_generators
    from .store import open_store
    from .taxonomy import load_taxonomy

    checks = [_check("python", sys.version_info >= (3, 10), platform.python_version())]
    try:
        tax = load_taxonomy()
        groups = len({a.group for a in tax.values()})
        checks.append(_check("taxonomy", True, f"{len(tax)} attributes in {groups} groups (v{tax.version})"))
    except _Err as err:
        checks.append(_check("taxonomy", False, str(err)))
    try:
        store = open_store(workspace, lock_timeout=5)
        store.check_writable()
        free_gb = store.free_disk_bytes() / 1e9
        checks.append(_check("store", True, f"{store.path} writable, schema v{store.schema_version()}"))
        checks.append(_check("disk", free_gb >= 1.0, f"{free_gb:.1f} GB free in {workspace}"))
    except _Err as err:
        checks.append(_check("store", False, str(err)))
    try:
        import torch

        if torch.cuda.is_available():
            device = f"cuda ({torch.cuda.get_device_name(0)})"
        elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            device = "mps"
        else:
            device = "cpu"
        checks.append(_check("torch", True, f"torch {torch.__version__}, device {device}", required=False))
    except Exception as err:  # an optional backend must not break the doctor
        checks.append(_check("torch", False, f"not usable: {type(err).__name__}", required=False))
    from .models.sketch_clip.architecture import MODEL_WEIGHTS as weights
    checks.append(_check("sketch-clip model", weights.is_file(),
                         f"{weights.stat().st_size / 1e6:.1f} MB in {weights.parent}" if weights.is_file()
                         else f"not in {weights.parent} (run `bffkit train-sketch-clip`)", required=False))
    for module, label in (("diffusers", "diffusers backend"), ("open_clip", "open_clip embedder"),
                          ("openai", "openai SDK")):
        found = importlib.util.find_spec(module) is not None
        checks.append(_check(label, found, "installed" if found else "not installed", required=False))
    # Only whether the key is set, never any part of its value.
    has_key = bool(os.environ.get("OPENAI_API_KEY"))
    checks.append(_check("OPENAI_API_KEY", has_key, "set" if has_key else "not set", required=False))
    checks.append(_check("generators", True, ", ".join(available_generators()), required=False))
    return checks


@cli.command()
@WORKSPACE_OPTION
@click.option("--json", "as_json", is_flag=True)
def doctor(workspace: Path | None, as_json: bool) -> None:
    """Check the store, the taxonomy and which optional backends are usable."""
    checks = doctor_checks(_workspace(workspace))
    healthy = all(c["ok"] for c in checks if c["required"])
    if as_json:
        _echo_json({"ok": healthy, "checks": checks})
    else:
        for c in checks:
            mark = "ok " if c["ok"] else ("FAIL" if c["required"] else "-- ")
            click.echo(f"[{mark}] {c['check']:<20} {c['detail']}")
    if not healthy:
        sys.exit(1)


# --------------------------------------------------------------------------- serve, users

from .serve.cli import serve, users  # noqa: E402 - their own module: the server's commands

cli.add_command(serve)
cli.add_command(users)


# --------------------------------------------------------------------------- entry point

def main(argv: list[str] | None = None) -> int:
    """Console entry point: maps errors to exit codes and one-line messages."""
    from .environment import check_environment

    try:
        check_environment()
        cli.main(args=argv, prog_name="bffkit", standalone_mode=False)
    except (BffkitError, StageError) as err:
        click.echo(f"error: {err}", err=True)
        return err.exit_code
    except click.UsageError as err:
        where = f"bffkit {err.ctx.command.name}" if err.ctx and err.ctx.command.name != "cli" else "bffkit"
        click.echo(f"error: {where}: {err.format_message()}".replace("\n", " "), err=True)
        return 2
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 1
    except click.exceptions.Exit as exit_:
        return exit_.exit_code
    except SystemExit as exit_:
        return int(exit_.code or 0)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    except OSError as err:
        if err.errno != errno.ENOSPC:
            return _unexpected(err)
        where = f" ({err.filename})" if err.filename else ""
        click.echo(f"error: no space left on the disk{where}; free some space and rerun "
                   "(everything committed so far is kept)", err=True)
        return 1
    except Exception as err:  # noqa: BLE001 - the boundary: report, don't dump a traceback
        return _unexpected(err)
    return 0


def _unexpected(err: Exception) -> int:
    """A bug, not bad input: one line, and the traceback with BFFKIT_DEBUG=1."""
    if os.environ.get("BFFKIT_DEBUG"):
        traceback.print_exc()
    click.echo(f"error: {type(err).__name__}: {err} (set BFFKIT_DEBUG=1 for the traceback)", err=True)
    return getattr(err, "exit_code", 1)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

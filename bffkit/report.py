"""The main job as users meet it: execute the stage notebooks with papermill, write HTML reports.

``bffkit run --config PATH`` checks every input, then runs the pipeline's loop over rounds
(:func:`bffkit.pipeline.run_rounds`) with each stage executed by its notebook
(``notebooks/01_prompts.ipynb`` ... ``07_feedback.ipynb``, then ``08_analytics.ipynb`` once),
with the run's parameters. Output, under ``<workspace>/reports/<run_id>/`` (``report.dir`` moves it):

* ``notebooks/r<round>-NN_<stage>.ipynb`` — each executed notebook (on failure, with the error);
* ``r<round>-NN_<stage>.html`` — each as HTML without code (nbconvert), plotly.js embedded and
  thumbnails inline, so the folder opens offline;
* ``index.html`` — links to every stage, the headline metrics per round (coverage,
  diversity, outlier rate, thumbs-up) and the run-metrics table (wall time, items, success
  rate per stage).

All notebooks of a run share one kernel (``bffkit``, installed by the setup command): a
kernel start costs about 3 s and UMAP's first call about 10 s of numba compilation, which
would otherwise be paid 15 times. Each notebook sets every variable it uses in its
parameters cell; ``--fresh-kernels`` gives each notebook its own kernel instead.
"""

from __future__ import annotations

import html
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from .config import RunConfig
from .exceptions import BffkitError, StageError
from .paths import NOTEBOOKS_DIR
from .stages import get_stage

KERNEL_NAME = "bffkit"
EXTERNAL_SCRIPT = re.compile(r'<script[^>]*\bsrc="https?://[^"]*"[^>]*>\s*</script>', re.I)
CELL_TIMEOUT = 900  # seconds per cell: generation with a real diffusion model on CPU is slow


@dataclass(frozen=True)
class ReportResult:
    run_id: str
    report_dir: Path
    index: Path
    seconds: float
    stage_seconds: dict[str, float]

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "report_dir": str(self.report_dir), "index": str(self.index),
                "seconds": round(self.seconds, 2), "stage_seconds": self.stage_seconds}


class NotebookStageError(StageError):
    """A stage notebook failed: names the stage, round, cell and where its HTML is."""


def check_kernel() -> None:
    from jupyter_client.kernelspec import KernelSpecManager

    if KERNEL_NAME not in KernelSpecManager().find_kernel_specs():
        raise BffkitError(f"Jupyter kernel {KERNEL_NAME!r} is not installed; run `make setup` (or "
                          f"`python -m ipykernel install --sys-prefix --name {KERNEL_NAME}`)")


def check_parameters(notebook: Path, parameters: dict) -> None:
    """Papermill only warns on a parameter the notebook does not declare; here it is an error."""
    import papermill as pm

    declared = pm.inspect_notebook(str(notebook))
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise BffkitError(f"{notebook.name}: parameter {unknown[0]!r} is not declared in its parameters cell; "
                          f"declared: {', '.join(declared)}")


def _start_kernel():
    from jupyter_client.manager import KernelManager

    km = KernelManager(kernel_name=KERNEL_NAME, transport="ipc")  # a local socket, not TCP
    km.start_kernel(cwd=os.getcwd())  # where `bffkit run` was called: relative paths mean the same
    return km


def to_html(notebook: Path, out: Path) -> Path:
    """An executed notebook as HTML without input cells (plotly.js and thumbnails are in the outputs)."""
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    nb = nbformat.read(notebook, as_version=4)
    # saved widget state makes nbconvert load require.js and the widget manager from CDNs, and
    # widgets cannot work in a static page anyway: drop the state, keep every other output
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            output.get("data", {}).pop("application/vnd.jupyter.widget-view+json", None)
    body, _ = exporter.from_notebook_node(nb)
    # the template links require.js and MathJax from CDNs; nothing here needs them (plotly.js is
    # inline, there is no math), and a report must open offline
    body = EXTERNAL_SCRIPT.sub("", body)
    out.write_text(body, encoding="utf-8")
    return out


def default_reports_dir(config: RunConfig) -> Path:
    """Where a run's report folder goes: ``report.dir``, else the workspace's reports/."""
    return Path(config.report.dir) if config.report.dir else Path(config.workspace) / "reports"


def run_report(config: RunConfig, config_path: Path, *, reports_dir: Path | None = None, fresh_kernels: bool = False,
               log: Callable[[str], None] = print) -> ReportResult:
    """Run every round through the stage notebooks, then analytics; write the HTML report
    under `reports_dir` (default: :func:`default_reports_dir`)."""
    import papermill as pm

    from .pipeline import active_stages, finished_summary, open_run, run_rounds

    t0 = time.perf_counter()
    # papermill and jupyter_client log at WARNING for things handled here (shared-kernel clients,
    # parameters checked below); keep the run's progress lines readable
    for name in ("papermill", "traitlets", "papermill.translators"):
        logging.getLogger(name).setLevel(logging.ERROR)
    # 1. Every input checked before any notebook runs; notebooks declare what we pass
    check_kernel()
    stages = active_stages(config)
    ctx = open_run(config, stages=stages, progress=False, log=log)
    run_id = ctx.run_id
    params = {"config_path": str(Path(config_path).resolve()), "workspace": str(Path(config.workspace).resolve()),
              "run_id": run_id, "interactive": False}
    for stage in stages:
        check_parameters(NOTEBOOKS_DIR / f"{get_stage(stage).notebook}.ipynb", {**params, "round_number": 1})
    out_dir = (reports_dir or default_reports_dir(config)) / run_id
    if out_dir.exists():
        shutil.rmtree(out_dir)  # a rerun's report replaces the old one (the store keeps everything)
    (out_dir / "notebooks").mkdir(parents=True)
    log(f"run {run_id}: {config.rounds} round(s), stages {', '.join(stages)}; report in {out_dir}")
    # 2. The pipeline's loop over rounds, each stage run by its notebook in one shared kernel
    km = None if fresh_kernels else _start_kernel()
    pages: list[tuple[int | None, str, Path]] = []
    stage_seconds: dict[str, float] = {}

    def execute(ctx, stage: str, r: int) -> dict:
        spec = get_stage(stage)
        label = f"r{r}-{spec.notebook}" if spec.per_round else spec.notebook
        executed = out_dir / "notebooks" / f"{label}.ipynb"
        resumed = finished_summary(ctx, stage, r) is not None  # the notebook shows it; nothing is redone
        t = time.perf_counter()
        try:
            pm.execute_notebook(NOTEBOOKS_DIR / f"{spec.notebook}.ipynb", executed,
                                parameters={**params, "round_number": r}, kernel_name=KERNEL_NAME,
                                cwd=os.getcwd(), progress_bar=False, execution_timeout=CELL_TIMEOUT,
                                **({"km": km} if km is not None else {}))
        except pm.PapermillExecutionError as err:
            page = to_html(executed, out_dir / f"{label}.html")
            where = f"round {r}, " if spec.per_round else ""
            raise NotebookStageError(
                f"stage {stage} failed ({where}notebook {spec.notebook}.ipynb, cell #{err.cell_index + 1}): "
                f"{err.ename}: {str(err.evalue).splitlines()[0] if err.evalue else ''}; see {page}") from None
        seconds = time.perf_counter() - t
        stage_seconds[label] = round(seconds, 2)
        pages.append((r if spec.per_round else None, stage, to_html(executed, out_dir / f"{label}.html")))
        return {"message": _stage_message(ctx.store, run_id, r, stage), "seconds": seconds, "resumed": resumed}

    try:
        run_rounds(ctx, execute, log)
    finally:
        if km is not None:
            km.shutdown_kernel(now=True)
    # 3. The index page
    index = write_index(ctx, out_dir, pages, seconds=time.perf_counter() - t0)
    return ReportResult(run_id, out_dir, index, time.perf_counter() - t0, stage_seconds)


def _stage_message(store, run_id: str, r: int, stage: str) -> str:
    """The one-line summary the stage's notebook recorded (it ran :func:`bffkit.pipeline.run_stage`)."""
    metrics = store.run_metrics(run_id)
    row = metrics[(metrics["round"] == r) & (metrics["stage"] == stage)]
    return row.iloc[0]["summary"].get("message", "done") if len(row) else "done"


def headline(store, run_id: str):
    """Per-round headline metrics of a run: generated, success rate, coverage, diversity, outliers, thumbs-up."""
    from .stages.analytics import analytics_for

    a = analytics_for(store, 3650)
    per_round = a.per_round[a.per_round["run_id"] == run_id] if len(a.per_round) else a.per_round
    cols = [c for c in ("round", "generated", "success_rate", "coverage", "coverage_selected", "diversity",
                        "mean_quality", "feedback", "thumbs_up_rate", "outlier_rate") if c in per_round.columns]
    return per_round[cols].reset_index(drop=True), a


STYLE = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.6em;margin-bottom:.2em} h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.9em} td,th{padding:4px 10px;border-bottom:1px solid #eee;text-align:right}
th{background:#f6f6f6} td:first-child,th:first-child{text-align:left} .muted{color:#777}
.cards{display:flex;gap:12px;flex-wrap:wrap} .card{border:1px solid #ddd;border-radius:6px;padding:10px 14px;
min-width:150px} .card b{display:block;font-size:1.5em}
ul.stages{columns:2} a{color:#1a5fb4}
"""


def review_url(config: RunConfig, run_id: str) -> str | None:
    """The run's page on `bffkit serve` when ``report.review_url`` is set."""
    base = config.report.review_url
    return f"{base}/review/{quote(run_id)}" if base else None


def write_index(ctx, out_dir: Path, pages: list[tuple[int | None, str, Path]], seconds: float) -> Path:
    """index.html: headline metrics per round, the run-metrics table, recommendations, links."""
    store, run_id, cfg = ctx.store, ctx.run_id, ctx.config
    per_round, a = headline(store, run_id)
    metrics = store.run_metrics(run_id)
    last = per_round.iloc[-1] if len(per_round) else None

    def card(label, value, fmt="{:.2f}"):
        shown = "–" if value is None or value != value else (fmt.format(value) if isinstance(value, float) else value)
        return f'<div class="card"><span class="muted">{html.escape(label)}</span><b>{shown}</b></div>'

    cards = "".join([
        card("rounds", str(cfg.rounds)),
        card("coverage (last round)", None if last is None else last.get("coverage")),
        card("diversity, Vendi (last round)", None if last is None else last.get("diversity")),
        card("outlier rate (last round)", None if last is None else last.get("outlier_rate"), "{:.0%}"),
        card("thumbs-up (last round)", None if last is None else last.get("thumbs_up_rate"), "{:.0%}"),
        card("wall time", f"{seconds:.0f} s"),
    ])
    by_round: dict = {}
    for r, stage, page in pages:
        by_round.setdefault(r, []).append((stage, page.name))
    links = ""
    for r, items in by_round.items():
        head = f"Round {r}" if r is not None else "Run"
        links += f"<h3>{head}</h3><ul class='stages'>" + "".join(
            f'<li><a href="{html.escape(name)}">{html.escape(stage)}</a></li>' for stage, name in items) + "</ul>"
    table = metrics[["round", "stage", "seconds", "items", "success_rate"]] if len(metrics) else metrics
    recs = "".join(f"<li>{html.escape(r['text'])}</li>" for r in a.recommendations[:8]) or \
        "<li class='muted'>not enough evidence yet</li>"
    url = review_url(cfg, run_id)
    review = (f'<p class="review"><a href="{html.escape(url)}">Give your feedback on these images</a></p>'
              if url else "")
    fmt = {"float_format": lambda x: f"{x:.3f}", "index": False, "border": 0, "na_rep": "–"}
    body = f"""<!doctype html><html><head><meta charset="utf-8"><title>bffkit run {html.escape(run_id)}</title>
<style>{STYLE}</style></head><body>
<h1>bffkit run <code>{html.escape(run_id)}</code></h1>
<p class="muted">Request: “{html.escape(cfg.request if isinstance(cfg.request, str) else json.dumps(cfg.request))}”
· backend {html.escape(cfg.generate.backend)} · {cfg.generate.target_count} selected of
{cfg.generate.planned_count} per round · θ={cfg.select.theta:g} · embeddings {html.escape(str(cfg.embed.model))}
· user {html.escape(cfg.user_id)}</p>
{review}<div class="cards">{cards}</div>
<h2>Per round</h2>{per_round.to_html(**fmt)}
<h2>Recommendations</h2><ul>{recs}</ul>
<h2>Stage reports</h2>{links}
<h2>Run metrics (wall time, items, success rate per stage)</h2>{table.to_html(**fmt)}
<p class="muted">Generated by bffkit in {seconds:.1f} s. Every page opens offline.</p>
</body></html>"""
    index = out_dir / "index.html"
    index.write_text(body, encoding="utf-8")
    return index

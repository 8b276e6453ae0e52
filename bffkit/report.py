"""The main job as users meet it: execute the stage notebooks with papermill, write HTML reports.

``bffkit run --config PATH`` checks every input, then runs the pipeline's loop over rounds
(:func:`bffkit.pipeline.run_rounds`) with each stage executed by its notebook
(``notebooks/01_prompts.ipynb`` ... ``07_feedback.ipynb``, then ``08_analytics.ipynb`` once),
with the run's parameters. Output, under ``<workspace>/reports/<run_id>/`` (``report.dir`` moves it):

* ``notebooks/r<round>-NN_<stage>.ipynb`` — each executed notebook (on failure, with the error),
  without its copy of plotly.js;
* ``r<round>-NN_<stage>.html`` — each as HTML without code (nbconvert); the pages share one
  ``plotly.min.js`` and one stylesheet in the folder, thumbnails are inline WebP, so the folder
  opens offline from disk;
* ``index.html`` — the result first: the request, the last round's selected images by style
  profile, the headline metrics with their change from round 1; then recommendations, the
  per-round table, links to every page and the run-metrics table (wall time, items, success
  rate per stage; the report's bytes and build seconds per round).

All notebooks of a run share one kernel (``bffkit``, installed by the setup command): a
kernel start costs about 3 s and UMAP's first call about 10 s of numba compilation, which
would otherwise be paid 15 times. Each notebook sets every variable it uses in its
parameters cell; ``--fresh-kernels`` gives each notebook its own kernel instead.
"""

from __future__ import annotations

import functools
import hashlib
import html
import logging
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .config import RunConfig
from .exceptions import BffkitError, StageError
from .paths import NOTEBOOKS_DIR
from .stages import get_stage

KERNEL_NAME = "bffkit"
EXTERNAL_SCRIPT = re.compile(r'<script[^>]*\bsrc="https?://[^"]*"[^>]*>\s*</script>', re.I)
STYLE_BLOCK = re.compile(r"<style[^>]*>(.*?)</style>", re.S | re.I)
PLOTLY_JS = "plotly.min.js"  # one copy per report folder
CELL_TIMEOUT = 900  # seconds per cell: generation with a real diffusion model on CPU is slow


@dataclass(frozen=True)
class ReportResult:
    run_id: str
    report_dir: Path
    index: Path
    seconds: float
    stage_seconds: dict[str, float]
    bytes: int = 0  # the whole report folder
    build: dict[str, dict] = field(default_factory=dict)  # per round ("run": its own pages): pages, bytes, seconds

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "report_dir": str(self.report_dir), "index": str(self.index),
                "seconds": round(self.seconds, 2), "stage_seconds": self.stage_seconds, "bytes": self.bytes,
                "build": self.build}


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


@functools.lru_cache(maxsize=1)
def plotly_bundle() -> str:
    """plotly.js as the figures embed it (the first figure of each notebook carries it)."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def cut_plotly_bundle(text: str, bundle: str) -> tuple[str, int]:
    """`text` without its inline copies of plotly.js (each ``<script>`` holding `bundle`), and how many."""
    n = 0
    while (at := text.find(bundle)) >= 0:
        start = text.rfind("<script", 0, at)
        end = text.find("</script>", at + len(bundle)) + len("</script>")
        text = text[:start] + text[end:]
        n += 1
    return text, n


def slim_notebook(notebook: Path) -> None:
    """The executed notebook kept without plotly.js (~4.8 MB a copy): the report's pages load it
    from the folder's one plotly.min.js, and the notebook is the record of what ran."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    bundle, cut = plotly_bundle(), 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if isinstance(data.get("text/html"), str) and bundle in data["text/html"]:
                data["text/html"], n = cut_plotly_bundle(data["text/html"], bundle)
                cut += n
    if cut:
        nb.metadata["bffkit"] = {"plotly_js": f"removed; the report pages load ../{PLOTLY_JS}"}
        nbformat.write(nb, notebook)


def to_html(notebook: Path, out: Path) -> Path:
    """An executed notebook as HTML without input cells; its figures load plotly.js from the
    report folder's one copy (written beside the page), thumbnails are inline."""
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
    # the template links require.js and MathJax from CDNs; nothing here needs them (there is no
    # math), and a report must open offline
    body = EXTERNAL_SCRIPT.sub("", body)
    body, _ = cut_plotly_bundle(body, plotly_bundle())
    body = shared_stylesheet(body, out.parent)
    if "Plotly.newPlot" in body:
        write_plotly_js(out.parent)
        body = body.replace("</head>", f'<script charset="utf-8" src="{PLOTLY_JS}"></script>\n</head>', 1)
    out.write_text(body, encoding="utf-8")
    return out


def shared_stylesheet(page: str, folder: Path) -> str:
    """`page` with the template's inline ``<style>`` blocks (~260 kB, the same on every page) moved
    into one stylesheet in `folder`, named by its content so pages of other templates cannot clash."""
    head_end = page.find("</head>")
    if head_end < 0:
        return page
    head, rest = page[:head_end], page[head_end:]
    blocks = STYLE_BLOCK.findall(head)
    if not blocks:
        return page
    css = "\n".join(blocks)
    name = f"notebook-{hashlib.sha1(css.encode()).hexdigest()[:10]}.css"
    if not (folder / name).exists():
        (folder / name).write_text(css, encoding="utf-8")
    head = STYLE_BLOCK.sub("", head)
    return head + f'<link rel="stylesheet" href="{name}">\n' + rest


def write_plotly_js(folder: Path) -> Path:
    """The report folder's one plotly.js (every page with a figure loads it)."""
    path = folder / PLOTLY_JS
    if not path.exists():
        path.write_text(plotly_bundle(), encoding="utf-8")
    return path


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

    build: dict[int | None, dict] = {}  # per round (None: the run's own pages): report bytes and build seconds

    def write_page(executed: Path, page: Path, r: int | None) -> Path:
        t = time.perf_counter()
        slim_notebook(executed)
        to_html(executed, page)
        row = build.setdefault(r, {"pages": 0, "bytes": 0, "seconds": 0.0})
        row["pages"] += 1
        row["bytes"] += page.stat().st_size + executed.stat().st_size
        row["seconds"] += time.perf_counter() - t
        return page

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
            page = write_page(executed, out_dir / f"{label}.html", r if spec.per_round else None)
            where = f"round {r}, " if spec.per_round else ""
            raise NotebookStageError(
                f"stage {stage} failed ({where}notebook {spec.notebook}.ipynb, cell #{err.cell_index + 1}): "
                f"{err.ename}: {str(err.evalue).splitlines()[0] if err.evalue else ''}; see {page}") from None
        seconds = time.perf_counter() - t
        stage_seconds[label] = round(seconds, 2)
        pages.append((r if spec.per_round else None, stage,
                      write_page(executed, out_dir / f"{label}.html", r if spec.per_round else None)))
        return {"message": _stage_message(ctx.store, run_id, r, stage), "seconds": seconds, "resumed": resumed}

    try:
        run_rounds(ctx, execute, log)
    finally:
        if km is not None:
            km.shutdown_kernel(now=True)
    # 3. The index page
    index = write_index(ctx, out_dir, pages, seconds=time.perf_counter() - t0, build=build)
    total = sum(f.stat().st_size for f in out_dir.rglob("*") if f.is_file())
    return ReportResult(run_id, out_dir, index, time.perf_counter() - t0, stage_seconds, total,
                        {("run" if r is None else str(r)): {**b, "seconds": round(b["seconds"], 2)}
                         for r, b in build.items()})


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
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;color:#222;
padding:0 1em} h1{font-size:1.7em;margin:.1em 0 .3em;font-weight:600} .kicker{text-transform:uppercase;
letter-spacing:.06em;font-size:.75em;color:#777} h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #ddd}
h3{font-size:1em;margin:1.2em 0 .4em} table{border-collapse:collapse;font-size:.9em}
td,th{padding:4px 10px;border-bottom:1px solid #eee;text-align:right} th{background:#f6f6f6}
td:first-child,th:first-child{text-align:left} .muted{color:#777}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:1em 0} .card{border:1px solid #ddd;border-radius:6px;
padding:10px 14px;min-width:150px} .card b{display:block;font-size:1.6em} .card i{font-style:normal;color:#2a7}
.card i.down{color:#c33} .review{font-size:1.1em}
.grid{display:flex;flex-wrap:wrap;gap:8px} .grid figure{margin:0;width:150px}
.grid img{width:150px;height:150px;object-fit:cover;border:1px solid #ddd;border-radius:4px}
.grid figcaption{font-size:11px;line-height:1.2;color:#555}
ul.stages{columns:2} a{color:#1a5fb4}
"""


def _request_text(request) -> str:
    return request if isinstance(request, str) else ", ".join(f"{k}: {v}" for k, v in request.items())


def _card(label: str, value: str, delta: str = "") -> str:
    down = delta.startswith("−") or delta.startswith("-")
    since = f'<i class="{"down" if down else ""}">{html.escape(delta)} vs round 1</i>' if delta else ""
    return f'<div class="card"><span class="muted">{html.escape(label)}</span><b>{html.escape(value)}</b>{since}</div>'


def headline_cards(per_round) -> str:
    """The last round's coverage, diversity and thumbs-up (outlier rate where it differs), each with
    its change from round 1."""
    from .analytics import fold_rates
    from .formatting import change, number, percent

    if not len(per_round):
        return ""
    first, last = per_round.iloc[0], per_round.iloc[-1]
    several = len(per_round) > 1
    shown = [("coverage", "coverage", True), ("diversity", "diversity (Vendi)", False),
             ("thumbs_up_rate", "thumbs-up", True)]
    if fold_rates(per_round)[1] is None:  # shown only where it says something the thumbs-up rate does not
        shown.append(("outlier_rate", "outlier rate", True))
    cards = []
    for col, label, share in shown:
        if col in per_round:
            value = percent(last[col]) if share else number(last[col])
            cards.append(_card(f"{label}, round {int(last['round'])}", value,
                               change(last[col], first[col], as_percent=share) if several else ""))
    return f'<div class="cards">{"".join(cards)}</div>'


def selected_grid(ctx, round_number: int) -> str:
    """The round's selected images as thumbnails, grouped by style profile."""
    from . import figures as fg
    from .workbench import distinguishing_captions, selected_by_profile

    data = ctx.round_data(round_number)
    groups = selected_by_profile(ctx, round_number, data)
    images = ctx.store.job_images(data.job_id).set_index("id")["vlt_attributes"]
    chosen = [data.image_ids[i] for _, rows in groups for i in rows]
    caption = distinguishing_captions({i: images.get(i) for i in chosen})
    out = []
    for name, rows in groups:
        cells = "".join(
            f'<figure><img src="{fg.thumbnail_uri(ctx.store.workspace / data.paths[i], size=150)}" '
            f'alt="{html.escape(caption.get(data.image_ids[i], ""))}" loading="lazy">'
            f"<figcaption>{html.escape(caption.get(data.image_ids[i], ''))}</figcaption></figure>" for i in rows)
        out.append(f'<h3>{html.escape(name)} <span class="muted">· {len(rows)} selected</span></h3>'
                   f'<div class="grid">{cells}</div>')
    return "".join(out)


def metrics_table(metrics, build: dict):
    """The run-metrics table: each stage's wall time, items and success rate, and per round the
    report pages' bytes (page + executed notebook) and build seconds."""
    import pandas as pd

    rows = metrics[["round", "stage", "seconds", "items", "success_rate"]].to_dict("records") if len(metrics) else []
    rows = [{**row, "round": str(row["round"])} for row in rows]
    # each round's report row after its stages; the run's own pages (analytics, index) last
    for r in sorted((r for r in build if r is not None)):
        at = max((k for k, row in enumerate(rows) if row["round"] == str(r)), default=len(rows) - 1) + 1
        rows.insert(at, _report_row(str(r), build[r]))
    if None in build:
        rows.append(_report_row("run", build[None]))
    return pd.DataFrame(rows, columns=["round", "stage", "seconds", "items", "success_rate", "report_mb"])


def _report_row(label: str, b: dict) -> dict:
    return {"round": label, "stage": "report", "seconds": b["seconds"], "items": b["pages"], "success_rate": None,
            "report_mb": b["bytes"] / 1e6}


def write_index(ctx, out_dir: Path, pages: list[tuple[int | None, str, Path]], seconds: float,
                build: dict | None = None) -> Path:
    """index.html, the result first: the request, the last round's selected images by style profile,
    the headline metrics with their change from round 1; then recommendations, the per-round
    table, the stage pages and the run-metrics table."""
    from .analytics import fold_rates
    from .formatting import table_html
    from .workbench import review_url

    store, run_id, cfg = ctx.store, ctx.run_id, ctx.config
    per_round, a = headline(store, run_id)
    last_round = int(per_round["round"].iloc[-1]) if len(per_round) else None
    by_round: dict = {}
    for r, stage, page in pages:
        by_round.setdefault(r, []).append((stage, page.name))
    links = ""
    for r, items in by_round.items():
        head = f"Round {r}" if r is not None else "Run"
        links += f"<h3>{head}</h3><ul class='stages'>" + "".join(
            f'<li><a href="{html.escape(name)}">{html.escape(stage)}</a></li>' for stage, name in items) + "</ul>"
    recs = "".join(f"<li>{html.escape(r['text'])}</li>" for r in a.recommendations[:8]) or \
        "<li class='muted'>not enough evidence yet</li>"
    url = review_url(cfg, run_id)
    feedback_page = next((name for r, items in by_round.items() if r == last_round
                          for stage, name in items if stage == "feedback"), None)
    if url:
        review = f'<p class="review"><a href="{html.escape(url)}">Give your feedback on these images</a></p>'
    elif feedback_page:
        review = (f'<p class="review muted">How to give feedback on these images: '
                  f'<a href="{html.escape(feedback_page)}">the feedback page</a>.</p>')
    else:
        review = ""
    grid = selected_grid(ctx, last_round) if last_round is not None and "select" in ctx.stages else ""
    rounds_table, why = fold_rates(per_round)
    note = f'<p class="muted">{html.escape(why)}</p>' if why else ""
    adopted = "".join(f"<li>round {a['round']} · {a['stage']}: {html.escape(a['variant'] or 'own')} "
                      f"(adopted {a['adopted_at']:%Y-%m-%d %H:%M}{': ' + html.escape(a['note']) if a['note'] else ''})</li>"
                      for a in store.adoptions(run_id=run_id))
    adopted = (f"<h2>Adopted variants</h2><p class='muted'>What these rounds read instead of their stage's own "
               f"result (kept beside it), oldest first.</p><ul>{adopted}</ul>" if adopted else "")
    learner_note = (f" · feedback from the simulated designer (user {html.escape(ctx.learner_id)})"
                    if ctx.learner_id != cfg.user_id and "feedback" in ctx.stages else "")
    body = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>bffkit run {html.escape(run_id)}</title>
<style>{STYLE}</style></head><body>
<div class="kicker">bffkit run {html.escape(run_id)} · {cfg.rounds} round(s)</div>
<h1>“{html.escape(_request_text(cfg.request))}”</h1>
<p class="muted">{cfg.generate.target_count} selected of {cfg.generate.planned_count} generated per round ·
backend {html.escape(cfg.generate.backend)} · θ={cfg.select.theta:g} · embeddings {html.escape(str(cfg.embed.model))}
· user {html.escape(cfg.user_id)}{learner_note}</p>
{review}{headline_cards(per_round)}
{f"<h2>Selected designs, round {last_round}, by style profile</h2>{grid}" if grid else ""}
<h2>Recommendations</h2><ul>{recs}</ul>
<h2>Per round</h2>{table_html(rounds_table)}{note}{adopted}
<h2>Stage reports</h2>{links}
<h2>Run metrics</h2><p class="muted">Wall time, items and success rate per stage; per round, the report pages'
size (page and executed notebook, MB) and build seconds, and the run's own analytics page.</p>
{table_html(metrics_table(store.run_metrics(run_id), build or {}), max_rows=200)}
<p class="muted">Generated by bffkit in {seconds:.0f} s. Every page opens offline.</p>
</body></html>"""
    index = out_dir / "index.html"
    index.write_text(body, encoding="utf-8")
    return index

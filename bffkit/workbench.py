"""What the stage notebooks call: open a run, run a stage, show what it found.

A notebook is a parameters cell and a few calls into this module; every view here is a
function of the store (tested), so notebooks stay thin and the reports show exactly what
the pipeline stored. Interactive explorers (K and theta sliders) recompute live from the
round's embeddings.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import figures as fg
from .config import load_config
from .exceptions import StoreError
from .paths import project_dir
from .pipeline import open_run, run_stage
from .stages import RunContext

# Stage knobs a notebook may set (parameter name -> config field path).
KNOBS = {"k_min": "cluster.k_min", "k_max": "cluster.k_max", "theta": "select.theta",
         "cluster_aware": "select.cluster_aware", "select_k": "select.k", "default_target": "coverage.default_target",
         "feedback_source": "feedback.source", "persona": "feedback.persona", "outlier_threshold":
         "feedback.outlier_threshold", "window_days": "analytics.window_days"}


def open_for_notebook(config_path: str, workspace: str = "", run_id: str = "", stages: tuple[str, ...] = (),
                      **knobs: Any) -> RunContext:
    """Load the config (paths relative to the project folder, :func:`bffkit.paths.project_dir`), apply the notebook's knobs, open the run.

    An empty `workspace` falls back to ``$BFFKIT_WORKSPACE``, then to the config's (tests run the
    notebooks top to bottom with their defaults and point them at a scratch workspace this way).
    An empty `run_id` opens the workspace's latest run with the config it ran under (plus the
    knobs), so that a knob can change without touching `run_id`; in an empty workspace, the
    config's own run (which stage 1 starts). On a finished round, a changed knob stores a variant
    (:func:`bffkit.pipeline.run_stage`).
    """
    import os

    from .config import apply_overrides, config_from_dict, with_overrides
    from .exceptions import ConfigError
    from .store import STORE_FILENAME, open_store

    unknown = [name for name in knobs if name not in KNOBS]
    if unknown:
        raise ConfigError(f"{unknown[0]}: not a stage knob; knobs: {', '.join(KNOBS)}")
    workspace = workspace or os.environ.get("BFFKIT_WORKSPACE", "")
    root = project_dir()
    path = Path(config_path)
    path = path if path.is_absolute() else root / path
    overrides = {KNOBS[name]: value for name, value in knobs.items()}
    cfg = load_config(path, overrides, workspace=workspace or None, run_id=run_id or None)
    if not Path(cfg.workspace).is_absolute():
        cfg = with_overrides(cfg, {"workspace": str(root / cfg.workspace)}, source=path.name)
    if not run_id and (Path(cfg.workspace) / STORE_FILENAME).is_file():
        store = open_store(cfg.workspace)
        latest = store.latest_run_id()
        if latest is not None:
            stored = {**store.run(latest)["config"], "workspace": cfg.workspace, "run_id": latest}
            cfg = config_from_dict(apply_overrides(stored, overrides), source=f"run {latest}")
    return open_run(cfg, stages=stages, progress=False)


def run(ctx: RunContext, stage: str, round_number: int) -> dict:
    """Run one stage of one round and print its one-line summary."""
    out = run_stage(ctx, stage, round_number)
    print(f"round {round_number} · {stage}: {out['message']} ({out['seconds']:.2f}s)")
    return out


def _display(*items) -> None:
    from IPython.display import HTML, display

    for it in items:
        if isinstance(it, str):
            display(HTML(it))
        elif hasattr(it, "to_html") and hasattr(it, "data"):  # a plotly figure
            fg.show(it)
        else:
            display(it)


def _round_frame(ctx: RunContext, round_number: int) -> pd.DataFrame:
    return ctx.store.job_images(ctx.job_id(round_number))


def captions(images: pd.DataFrame) -> dict[str, str]:
    out = {}
    for r in images.to_dict("records"):
        a = r["vlt_attributes"] or {}
        out[r["id"]] = " · ".join(v for k, v in a.items() if k in ("length", "pattern", "primary_color", "category"))
    return out


def distinguishing_captions(attributes: dict[str, dict], n: int = 4) -> dict[str, str]:
    """Per image id, up to `n` design attribute values it was generated with, among those that
    differ between the images (the request's fixed values would repeat under every one)."""
    from .tagging import DESIGN_ATTRIBUTES

    varying = [a for a in DESIGN_ATTRIBUTES if len({(d or {}).get(a) for d in attributes.values()} - {None}) > 1]
    return {i: " · ".join([d[a] for a in varying if (d or {}).get(a)][:n]) for i, d in attributes.items()}


# --------------------------------------------------------------------------- per stage views

def prompts_view(ctx: RunContext, round_number: int) -> list:
    specs = ctx.store.prompt_specs(ctx.job_id(round_number))
    table = pd.DataFrame([{"#": s["spec_index"], "prompt": s["prompt"], "negative": s["negative_prompt"][:80]}
                          for s in specs[:20]])
    counts = pd.Series([s["attributes"].get("category") for s in specs]).value_counts()
    values = pd.Series([f"{a}={v}" for s in specs for a, v in s["attributes"].items()]).value_counts().head(25)
    import plotly.graph_objects as go

    fig = go.Figure(go.Bar(x=values.values[::-1], y=values.index[::-1], orientation="h"))
    fig.update_layout(title=f"Round {round_number}: the 25 most sampled attribute values of {len(specs)} specs",
                      height=520, margin=dict(l=220))
    return [f"<h3>Round {round_number}: {len(specs)} prompt specs, {len(counts)} categories</h3>",
            fg.table_html(table), fig]


def generate_view(ctx: RunContext, round_number: int, n: int = 48) -> list:
    images = _round_frame(ctx, round_number)
    ok = images[images["status"] == "ok"]
    cap = captions(ok)
    items = [{"uri": fg.thumbnail_uri(ctx.store.workspace / r["path"]), "caption": cap[r["id"]]}
             for r in ok.head(n).to_dict("records")]
    failed = images[images["status"] != "ok"]
    return [f"<h3>Round {round_number}: {len(ok)} images generated, {len(failed)} failed</h3>",
            fg.image_grid_html(items, title=f"the first {len(items)}")]


def embed_view(ctx: RunContext, round_number: int) -> list:
    images = _round_frame(ctx, round_number)
    tags = ctx.store.image_tags(ctx.model_id, images["id"].tolist())
    import plotly.graph_objects as go

    fig = go.Figure([go.Histogram(x=tags["quality"], name="quality (what selection weighs)", opacity=0.7, nbinsx=20),
                     go.Histogram(x=tags["adherence"], name="adherence", opacity=0.7, nbinsx=20)])
    fig.update_layout(barmode="overlay", title=f"Round {round_number}: quality and adherence ({ctx.model_id})",
                      height=340)
    rows = tags.merge(images[["id", "prompt", "path"]], left_on="image_id", right_on="id")
    table = pd.DataFrame({"image": rows["image_id"].str[-5:], "quality": rows["quality"],
                          "alignment": rows["alignment"], "artefact": rows["artefact"],
                          "clip_score": rows["clip_score"], "adherence": rows["adherence"],
                          "detected": [", ".join(f"{a}={t['value']}" for a, t in d.items())
                                       for d in rows["detected"]]})
    exact = {r["image_id"]: r["duplicate_of"] for r in rows.to_dict("records") if isinstance(r["duplicate_of"], str)}
    head = (f"<p><b>Quality</b> is P(the image shows its prompt rather than a near miss) × P(not smudged or "
            f"cropped); <b>alignment</b> is P(its prompt rather than another image's), which nearly every image "
            f"passes. {len(exact)} exact duplicates (the same bytes as an earlier image) are left out of "
            f"selection.</p>")
    return [fig, head, *duplicate_grids(ctx, exact, dict(zip(rows["image_id"], rows["path"])), "exact duplicates"),
            fg.table_html(table.sort_values("quality", ascending=False), max_rows=15)]


def duplicate_grids(ctx: RunContext, duplicate_of: dict[str, str], paths: dict[str, str], what: str,
                    limit: int = 12) -> list:
    """Each duplicate beside the image it repeats (the one kept), for the embed and cluster pages."""
    if not duplicate_of:
        return []
    items = [{"uri": fg.thumbnail_uri(ctx.store.workspace / paths[i]), "caption": f"{label} {i[-5:]}"}
             for dup, kept in list(duplicate_of.items())[:limit] for i, label in ((kept, "kept"), (dup, "left out"))]
    return [fg.image_grid_html(items, title=f"{len(duplicate_of)} {what}: each beside the image kept", columns=8)]


def cluster_view(ctx: RunContext, round_number: int, *, seed: int = 0) -> list:
    data = ctx.round_data(round_number)
    job = ctx.job_id(round_number)
    result = ctx.store.clustering(job)
    metrics = result["metrics"]
    labels = ctx.store.cluster_labels(job, data.image_ids)
    profiles = ctx.store.style_profiles(job)
    names = {int(p["cluster_id"]): f"{p['name']} ({p['size']})" for p in profiles}
    try:
        selected = ctx.store.selected_indices(job, data.image_ids)
    except StoreError:  # the map is drawn before selection too
        selected = np.array([], dtype=int)
    thumbs = [fg.thumbnail_uri(ctx.store.workspace / p, size=128) for p in data.paths]
    hover = [f"{i[-5:]}<br>" + "<br>".join(f"{a}: {v}" for a, v in d.items()) for i, d in zip(data.image_ids,
                                                                                           data.detected)]
    coords = fg.project_2d(data.X, seed=seed)
    fmap = fg.embedding_map(coords, labels, selected=selected, names=names, hover=hover, thumbs=thumbs, seed=seed)
    sil = fg.silhouette_figure({int(k): v for k, v in metrics["silhouette"].items()}, int(result["num_clusters"]))
    table = pd.DataFrame([{"style profile": p["name"], "size": p["size"],
                           "dominant values": ", ".join(f"{a['value']} ({a['share']:.0%}, lift {a['lift']:.1f})"
                                                        for a in p["attributes"][:4])} for p in profiles])
    near = ctx.store.near_duplicates(job)
    note = (f"<p>{len(near)} near duplicates (cosine ≥ {metrics.get('near_duplicate', ctx.config.cluster.near_duplicate):g} "
            f"to a better image of their style profile) are left out of selection.</p>")
    return [*adopted_note(ctx, round_number, "cluster", result), ("map", fmap), sil, fg.table_html(table), note,
            *duplicate_grids(ctx, near, dict(zip(data.image_ids, data.paths)), "near duplicates"),
            *variants_view(ctx, round_number, "cluster")]


def select_view(ctx: RunContext, round_number: int) -> list:
    from .baselines import SELECTORS, compare_selections, dpp
    from .dpp import theta_sweep
    from .stages.coverage import round_targets

    data = ctx.round_data(round_number)
    job = ctx.job_id(round_number)
    row = ctx.store.selection(job)
    metrics = row["metrics"]
    selected = ctx.store.selected_indices(job, data.image_ids)
    labels = ctx.store.cluster_labels(job, data.image_ids)
    sel_cfg = ctx.config.select
    sweep = theta_sweep(data.X, data.quality, int(row["k"]), clusters=labels, candidates=data.selectable,
                        kernel=sel_cfg.kernel, bandwidth=sel_cfg.bandwidth, min_distance=sel_cfg.min_distance)
    compared = compare_selections(
        data.X, data.quality, int(row["k"]), candidates=data.selectable, clusters=labels, detected=data.detected,
        defects=data.defects if data.backend == "sketch" else None, seed=ctx.seed(round_number),
        targets=round_targets(ctx), methods={f"DPP θ {sel_cfg.theta:g} ({sel_cfg.kernel})": dpp(sel_cfg.theta, labels is not None,
                                                                    kernel=sel_cfg.kernel, bandwidth=sel_cfg.bandwidth,
                                                                    min_distance=sel_cfg.min_distance),
                 **SELECTORS}, selections={"stored selection": selected})
    rank = {int(i): r for r, i in enumerate(selected, start=1)}  # the greedy's pick order, as stored
    grids = []
    for name, rows in selected_by_profile(ctx, round_number, data):
        items = [{"uri": fg.thumbnail_uri(ctx.store.workspace / data.paths[i]),
                  "caption": f"#{rank[i]} · q {data.quality[i]:.2f}" + (f" · {data.defects[i]}" if data.defects[i] else "")}
                 for i in rows]
        grids.append(fg.image_grid_html(items, title=f"{name} — {len(rows)} selected"))
    head = (f"<h3>Round {round_number}: {len(selected)} selected at θ={row['theta']:g}: Vendi {row['vendi_score']:.2f} "
            f"vs {metrics['random_vendi']:.2f} for random subsets; mean quality {row['mean_quality']:.3f}"
            + (f"; {metrics['n_excluded']} likely artefacts or off-prompt left out" if metrics.get("n_excluded") else "")
            + (f"; defects {metrics['defect_share']:.0%} vs {metrics['pool_defect_share']:.0%} in the pool"
               if metrics.get("defect_share") is not None else "") + "</h3>")
    note = ("<p>The same candidates for every method (likely artefacts and off-prompt images left out); random "
            "methods averaged over 20 seeds. <i>values_covered</i>: distinct detected attribute values in the "
            "subset; <i>coverage</i>: its coverage score against the stage's targets; "
            "<i>min_distance</i>: cosine distance of its closest pair. <b>Quality</b> (q under each image, "
            "the x axis above) is the probability that an image is worth showing: P(it shows its prompt rather "
            "than a near miss, one with its category, colour or pattern changed) × P(it is not smudged or "
            "cropped), from the embedding model's own calibration; here without the preference head, which "
            "joins it in the stage once it beats chance (the <i>stored selection</i> row, what the stage kept, "
            "includes it). #n is the order the greedy picked them in.</p>")
    return [*adopted_note(ctx, round_number, "select", row), head,
            fg.theta_sweep_figure(sweep, float(row["theta"]), baselines=compared),
            "<h3>The selection against the baselines</h3>", fg.table_html(compared.drop(columns="repeats")), note,
            *grids, *variants_view(ctx, round_number, "select")]


def adopted_note(ctx: RunContext, round_number: int, stage: str, row: dict) -> list:
    """A line over a page whose round's current result is an adopted variant, not the stage's own."""
    if not isinstance(row.get("variant"), str):  # the stage's own (NULL reads back as None or NaN)
        return []
    last = [a for a in ctx.store.adoptions(ctx.job_id(round_number)) if a["stage"] == stage][-1]
    return [f"<p><b>Adopted variant {html.escape(row['variant'])}</b> (on {last['adopted_at']:%Y-%m-%d %H:%M}"
            + (f": {html.escape(last['note'])}" if last.get("note") else "") + "): the round's "
            f"{'clustering' if stage == 'cluster' else 'selection'} below is this variant's; the stage's own is kept "
            "beside it (the table at the end).</p>"]


def variants_view(ctx: RunContext, round_number: int, stage: str) -> list:
    """The round's stored result and the variants explored beside it, and how to adopt one."""
    from .history import variants

    table = variants(ctx.store, ctx.job_id(round_number), stage)
    if len(table) < 2:
        return []
    table["current"] = table["current"].map({True: "✓", False: ""})
    example = table.loc[table["current"] == "", "variant"].iloc[0]
    return [f"<h3>Stored {'clusterings' if stage == 'cluster' else 'selections'} of round {round_number}</h3>",
            fg.table_html(table),
            f"<p>✓: what the round's pages, reports and later rounds read. To make another one current: "
            f"<code>wb.adopt(ctx, \"{stage}\", {round_number}, \"{html.escape(example)}\")</code> here, or "
            f"<code>bffkit adopt {html.escape(example)} --run {html.escape(ctx.run_id)} --round {round_number} "
            f"--stage {stage}</code>; <code>own</code> goes back to the stage's own.</p>"]


def adopt(ctx: RunContext, stage: str, round_number: int, variant: str, note: str | None = None) -> dict:
    """Make a stored variant (or ``own``) the round's clustering or selection from now on (recorded)."""
    from .history import adopt as adopt_variant

    record = adopt_variant(ctx.store, ctx.run_id, round_number, stage, variant, adopted_by=ctx.config.user_id,
                           note=note)
    print(f"round {round_number} · {stage}: {variant} is now the round's result (adoption {record['n']})")
    return record


def selected_by_profile(ctx: RunContext, round_number: int, data=None) -> list[tuple[str, list[int]]]:
    """The round's selected images (indices into its RoundData) grouped by style profile, largest group first."""
    data = data if data is not None else ctx.round_data(round_number)
    job = ctx.job_id(round_number)
    selected = [int(i) for i in ctx.store.selected_indices(job, data.image_ids)]
    labels = ctx.store.cluster_labels(job, data.image_ids)
    if labels is None:
        return [("selection", selected)]
    names = {int(p["cluster_id"]): p["name"] for p in ctx.store.style_profiles(job)}
    groups: dict[int, list[int]] = {}
    for i in selected:
        groups.setdefault(int(labels[i]), []).append(i)
    return [(names.get(c, f"profile {c}"), rows) for c, rows in sorted(groups.items(), key=lambda kv: -len(kv[1]))]


def coverage_view(ctx: RunContext, round_number: int) -> list:
    from .formatting import number

    job = ctx.job_id(round_number)
    report = ctx.store.coverage_report(job)["coverage_data"]
    gaps = pd.DataFrame(report["gaps"])
    head = (f"<h3>Round {round_number}: coverage score {number(report['score'])} (selected: {number(report['score_selected'])}); "
            f"{len(gaps)} gaps</h3>")
    out = [head, fg.coverage_heatmap(report["values"], column="generated")]
    if len(gaps):
        out.append(fg.table_html(gaps[["attribute", "value", "severity", "observed", "target", "boost", "factor"]]))
    return out


def feedback_view(ctx: RunContext, round_number: int) -> list:
    from .formatting import number

    learner = ctx.learner_id  # a persona's judgements are under its own user, never the designer's
    fb = ctx.store.feedback(learner)
    images = ctx.store.table("generated_images")[["id", "job_id"]]
    jobs = ctx.store.jobs(ctx.run_id)[["id", "round"]]
    joined = fb.merge(images, left_on="image_id", right_on="id", suffixes=("", "_img")) \
        .merge(jobs, left_on="job_id", right_on="id", suffixes=("", "_job"))
    counts = joined.groupby(["round", "feedback_type"]).size().reset_index(name="n")
    mine = ctx.store.learning_updates(learner)
    whose = (f"<p>This run learns from the simulated designer ({html.escape(ctx.persona.name)}), stored as user "
             f"<code>{html.escape(learner)}</code>; your own clicks below are stored as "
             f"<code>{html.escape(ctx.config.user_id)}</code> (set <code>feedback_source = \"none\"</code> for them "
             "to steer the next round).</p>" if learner != ctx.config.user_id else
             f"<p>Feedback of user <code>{html.escape(learner)}</code> (the grid, imports, the review page).</p>")
    out = [whose, fg.feedback_figure(counts) if len(counts) else "<p>No feedback yet.</p>"]
    if len(mine):
        last = mine.iloc[-1]
        patterns, impact = last["patterns"], last["impact"]
        likes = pd.DataFrame(patterns["top_positive"])
        dislikes = pd.DataFrame(patterns["top_negative"])
        out += [f"<h3>What feedback taught (after {impact['n_feedback']} events): thumbs-up rate "
                f"{impact['thumbs_up_rate']:.0%}, {impact['n_outliers']} outliers, predicted lift "
                f"{impact['predicted_lift']:+.3f}, preference head AUC {number(impact['head_auc'])}</h3>",
                "<b>likes</b>", fg.table_html(likes) if len(likes) else "–",
                "<b>dislikes</b>", fg.table_html(dislikes) if len(dislikes) else "–"]
    return out


def analytics_view(ctx: RunContext) -> list:
    from .analytics import fold_rates, lift_table
    from .formatting import percent
    from .stages.analytics import analytics_for

    cfg = ctx.config.analytics
    a = analytics_for(ctx.store, cfg.window_days)
    per_round = a.per_round[a.per_round["run_id"] == ctx.run_id] if len(a.per_round) else a.per_round
    recs = "".join(f"<li>{html.escape(r['text'])}</li>" for r in a.recommendations[:12]) or \
        "<li>not enough evidence yet</li>"
    same = a.overall_outlier_rate == a.overall_thumbs_up
    rates = (f"thumbs-up and outlier rate {percent(a.overall_thumbs_up)}" if same else
             f"outlier rate {percent(a.overall_outlier_rate)}, thumbs-up {percent(a.overall_thumbs_up)}")
    out = [f"<h3>Last {cfg.window_days} days: {rates}</h3>", f"<h3>Recommendations</h3><ul>{recs}</ul>"]
    notes = set()
    if len(per_round):
        table, why = fold_rates(per_round[[c for c in ("round", "generated", "success_rate", "coverage", "diversity",
                                                       "feedback", "thumbs_up_rate", "outlier_rate")
                                           if c in per_round.columns]])
        notes.add(why)
        out += [fg.rounds_figure(table, title=f"Run {ctx.run_id} per round"), fg.table_html(table)]
    if len(a.profiles):
        table, why = fold_rates(a.profiles)
        notes.add(why)
        out += ["<h3>Style profiles</h3>", fg.table_html(table)]
    if len(a.attributes):
        table, why = fold_rates(lift_table(a.attributes, cfg.min_support))
        notes.add(why)
        out += [f"<h3>Attribute values by outlier lift</h3><p>Values judged at least {cfg.min_support} times "
                "(<code>analytics.min_support</code>), ranked by the lift's lower 95% bound (<code>lift_low</code>),"
                f" so a value seen once cannot top the table; {len(a.attributes) - len(table)} rarer values left "
                "out.</p>", fg.table_html(table, max_rows=25)]
    out += [f'<p class="muted">{html.escape(n)}</p>' for n in notes if n]
    return out


def review_url(config, run_id: str) -> str | None:
    """The run's page on `bffkit serve` when ``report.review_url`` is set."""
    from urllib.parse import quote

    base = config.report.review_url
    return f"{base}/review/{quote(run_id)}" if base else None


def feedback_howto(ctx: RunContext, round_number: int) -> str:
    """HTML for a static report where the notebook's 👍/👎 grid stood: the round's selected images
    with their ids, and the three ways to give feedback on them (review page, notebook, CSV)."""
    import base64
    import io

    job = ctx.job_id(round_number)
    ids = ctx.store.selection(job)["selected_ids"]  # no embeddings needed: the stored ids and their files
    paths = _round_frame(ctx, round_number).set_index("id")["path"]
    items = [{"uri": fg.thumbnail_uri(ctx.store.workspace / paths[i]), "caption": i} for i in ids]
    buf = io.StringIO()
    pd.DataFrame({"image_id": ids, "feedback_type": "", "rating": "", "comment": ""}).to_csv(buf, index=False)
    csv_uri = "data:text/csv;base64," + base64.b64encode(buf.getvalue().encode()).decode()
    url = review_url(ctx.config, ctx.run_id)
    served = (f'<li><b>On the review page</b>: <a href="{html.escape(url)}">give your feedback on these images</a> '
              "(👍 / 👎 and a comment, keys 1/2/0; sign in with the token from <code>bffkit users add</code>).</li>"
              if url else
              "<li><b>On the review page</b> of <code>bffkit serve</code> (set <code>report.review_url</code> "
              "in the run config and this report links it).</li>")
    return (f"<h3>Give feedback on round {round_number}'s {len(ids)} selected images</h3><ol>{served}"
            "<li><b>In the notebook</b>: <code>make lab</code>, open <code>07_feedback.ipynb</code>, "
            f"set <code>run_id = \"{html.escape(ctx.run_id)}\"</code> and <code>round_number = {round_number}</code>, "
            "run all: every click on the like / dislike grid is stored at once.</li>"
            f'<li><b>As a CSV</b>: <a download="feedback-{html.escape(ctx.run_id)}-r{round_number}.csv" '
            f'href="{csv_uri}">download the sheet</a> (one row per image below), fill <code>feedback_type</code> '
            "(positive, negative or neutral) and optionally <code>rating</code> (1-5) and <code>comment</code> "
            "(rows left empty are skipped), then "
            f"<code>bffkit feedback import FILE.csv --workspace WORKSPACE --user {html.escape(ctx.config.user_id)}"
            "</code>.</li></ol>"
            + fg.image_grid_html(items, size=96, columns=8))


def show(items: list) -> None:
    for item in items:
        if isinstance(item, tuple):
            fg.show(item[1], hover_image=True)
        else:
            _display(item)


# --------------------------------------------------------------------------- live explorers

def kmeans_explorer(ctx: RunContext, round_number: int):
    """A K slider over the round's style map, redrawn in place (:class:`bffkit.explorers.ClusterExplorer`)."""
    from .explorers import ClusterExplorer

    return ClusterExplorer(ctx, round_number)


def theta_explorer(ctx: RunContext, round_number: int):
    """A θ slider: the selection on the style map against the stored one (:class:`bffkit.explorers.SelectionExplorer`)."""
    from .explorers import SelectionExplorer

    return SelectionExplorer(ctx, round_number)


def feedback_grid(ctx: RunContext, round_number: int):
    """The 👍 / 👎 grid over the round's selected images (each click stored at once)."""
    from .widgets import FeedbackGrid

    ids = ctx.store.selection(ctx.job_id(round_number))["selected_ids"]
    # what each image shows (the tagger's values that differ between them), the request on hover
    from .tagging import detected_values

    shown = {t["image_id"]: detected_values(t["detected"] or {}) for t in ctx.store.latest_tags(ids, ctx.model_id)}
    asked = captions(_round_frame(ctx, round_number))
    return FeedbackGrid(ctx.store.workspace, ids, user_id=ctx.config.user_id,
                        threshold=ctx.config.feedback.outlier_threshold,
                        captions=distinguishing_captions(shown) if shown else asked,
                        hover={i: f"asked for: {c}" for i, c in asked.items()})

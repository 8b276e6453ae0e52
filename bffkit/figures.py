"""Figures for the stage notebooks and reports (plotly), and the helpers that make them travel.

Every figure is built here (tested), so notebooks stay thin. :func:`show` puts a figure in a
notebook as self-contained HTML: the first figure of a kernel session embeds plotly.js, the
rest reuse it, so an executed notebook's HTML export opens offline with no CDN. Thumbnails
are small WebP data URIs and travel inside the HTML.
"""

from __future__ import annotations

import base64
import html
import io
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

_PLOTLY_EMBEDDED = False
MAX_MAP_POINTS = 2000  # beyond this the map is sampled (size of the HTML, browser speed)
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")


def thumbnail_uri(path: str | Path, size: int = 96, quality: int = 75) -> str:
    """A WebP data URI of an image, at most `size` px on its longer side (half a JPEG's bytes at
    the same look: the reports carry hundreds of these)."""
    from PIL import Image

    with Image.open(path) as img:
        img = img.convert("RGB")
        img.thumbnail((size, size))
        buf = io.BytesIO()
        img.save(buf, format="WEBP", quality=quality, method=4)
    return "data:image/webp;base64," + base64.b64encode(buf.getvalue()).decode()


def figure_html(fig, *, include_plotlyjs: bool = True, hover_image: bool = False) -> str:
    """A figure as an HTML fragment; with `hover_image`, hovering a point shows its thumbnail
    (``customdata[0]`` holds the data URI) beside the plot."""
    div_id = f"fig-{uuid.uuid4().hex[:10]}"
    post = None
    extra = ""
    if hover_image:
        extra = (f'<img id="{div_id}-thumb" style="position:absolute;right:8px;top:8px;width:128px;'
                 'border:1px solid #ccc;background:#fff" alt="">')
        post = (f"var gd=document.getElementById('{div_id}');var im=document.getElementById('{div_id}-thumb');"
                "gd.on('plotly_hover',function(d){var c=d.points[0].customdata;if(c){im.src=c[0];}});")
    body = fig.to_html(full_html=False, include_plotlyjs=include_plotlyjs, div_id=div_id, post_script=post,
                       config={"displaylogo": False})
    return f'<div style="position:relative">{body}{extra}</div>'


def show(fig, *, hover_image: bool = False) -> None:
    """Display a plotly figure in a notebook, plotly.js embedded once per kernel session."""
    global _PLOTLY_EMBEDDED
    from IPython.display import HTML, display

    display(HTML(figure_html(fig, include_plotlyjs=not _PLOTLY_EMBEDDED, hover_image=hover_image)))
    _PLOTLY_EMBEDDED = True


def reset_plotly_embedding() -> None:
    """The next :func:`show` embeds plotly.js again (call at the top of each notebook: each HTML
    export must carry its own copy)."""
    global _PLOTLY_EMBEDDED
    _PLOTLY_EMBEDDED = False


# --------------------------------------------------------------------------- maps

def project_2d(X: np.ndarray, seed: int = 0, method: str = "umap") -> np.ndarray:
    """2-D coordinates of the rows of X: UMAP (cosine), or PCA for tiny inputs or method='pca'."""
    X = np.asarray(X, dtype=np.float32)
    if method == "pca" or len(X) < 16:
        Xc = X - X.mean(0)
        _, _, vt = np.linalg.svd(Xc, full_matrices=False)
        return Xc @ vt[:2].T
    import umap

    return umap.UMAP(n_neighbors=min(15, len(X) - 1), min_dist=0.1, metric="cosine", random_state=seed,
                     n_jobs=1).fit_transform(X)


SVG_POINTS = 5000


def embedding_map(coords: np.ndarray, labels: np.ndarray, *, selected: Sequence[int] = (),
                  names: Mapping[int, str] | None = None, hover: Sequence[str] | None = None,
                  thumbs: Sequence[str] | None = None, title: str = "Style map (UMAP of the image embeddings)",
                  max_points: int = MAX_MAP_POINTS, seed: int = 0):
    """Scatter of 2-D coordinates coloured by cluster; selected images ringed; hover shows attributes
    (and, through :func:`figure_html`, the thumbnail)."""
    import plotly.graph_objects as go

    n = len(coords)
    keep = np.arange(n)
    if n > max_points:  # always keep the selected ones
        rng = np.random.default_rng(seed)
        others = np.setdiff1d(keep, selected)
        keep = np.sort(np.concatenate([np.asarray(selected, dtype=int),
                                       rng.choice(others, max_points - len(selected), replace=False)]))
    sel = set(int(i) for i in selected)
    fig = go.Figure()
    # SVG up to this size: a browser holds only ~16 WebGL contexts, and every redraw of a K slider
    # made a new one until the oldest map went blank
    scatter = go.Scatter if len(keep) <= SVG_POINTS else go.Scattergl
    for c in sorted(set(int(x) for x in labels[keep])):
        rows = keep[labels[keep] == c]
        fig.add_trace(scatter(
            x=coords[rows, 0], y=coords[rows, 1], mode="markers",
            name=(names or {}).get(c, f"cluster {c}"),
            marker=dict(size=[11 if i in sel else 7 for i in rows], color=PALETTE[c % len(PALETTE)],
                        line=dict(width=[2 if i in sel else 0 for i in rows], color="black"), opacity=0.85),
            text=[hover[i] for i in rows] if hover is not None else None,
            customdata=[[thumbs[i]] for i in rows] if thumbs is not None else None,
            hovertemplate="%{text}<extra></extra>" if hover is not None else None))
    fig.update_layout(title=title + (f" — {len(sel)} selected ringed" if sel else ""), height=520,
                      xaxis=dict(visible=False), yaxis=dict(visible=False), legend_title_text="style profile",
                      margin=dict(l=10, r=150, t=50, b=10))
    return fig


def silhouette_figure(scores: Mapping[int, float], chosen: int):
    import plotly.graph_objects as go

    ks = sorted(int(k) for k in scores)
    fig = go.Figure(go.Bar(x=ks, y=[scores[k] if k in scores else scores[str(k)] for k in ks],
                           marker_color=["#2ca02c" if k == chosen else "#9ecae1" for k in ks]))
    fig.update_layout(title=f"Silhouette by K (sampled) — K={chosen} chosen", xaxis_title="K",
                      yaxis_title="silhouette", height=320)
    return fig


def theta_sweep_figure(sweep: Sequence[Mapping], chosen_theta: float, baselines=None):
    """The diversity / quality frontier across θ; with `baselines` (a :func:`bffkit.baselines.compare_selections`
    table), each other method as a labelled point on the same axes."""
    import plotly.graph_objects as go

    fig = go.Figure(go.Scatter(
        x=[s["mean_quality"] for s in sweep], y=[s["vendi"] for s in sweep], mode="lines+markers+text",
        text=[f"θ={s['theta']:g}" for s in sweep], textposition="top center", name="DPP, θ sweep",
        marker=dict(size=[14 if abs(s["theta"] - chosen_theta) < 1e-9 else 8 for s in sweep])))
    if baselines is not None and len(baselines):
        fig.add_trace(go.Scatter(x=baselines["mean_quality"], y=baselines["vendi"], mode="markers+text",
                                 text=baselines["method"], textposition="bottom center", name="baselines",
                                 marker=dict(symbol="diamond", size=11)))
    fig.update_layout(title="Selection frontier: diversity (Vendi) vs mean quality, the θ sweep and the baselines",
                      xaxis_title="mean quality", yaxis_title="Vendi score (effective number of distinct images)",
                      height=400)
    return fig


def coverage_heatmap(values: Sequence[Mapping], *, column: str = "generated"):
    """Attribute x value heatmap of coverage / target (capped at 1.5); gaps marked with ✕."""
    import plotly.graph_objects as go

    attrs = list(dict.fromkeys(v["attribute"] for v in values))
    width = max(sum(1 for v in values if v["attribute"] == a) for a in attrs) if attrs else 0
    z = np.full((len(attrs), width), np.nan)
    text = [["" for _ in range(width)] for _ in attrs]
    hover = [["" for _ in range(width)] for _ in attrs]
    pos: dict[str, int] = {}
    for v in values:
        i = attrs.index(v["attribute"])
        j = pos.get(v["attribute"], 0)
        pos[v["attribute"]] = j + 1
        share = v.get(column)
        ratio = min(1.5, share / v["target"]) if share is not None else np.nan
        z[i, j] = ratio
        text[i][j] = ("✕ " if share is not None and share < v["target"] else "") + v["value"]
        hover[i][j] = f"{v['attribute']} = {v['value']}<br>{column}: {share}<br>target: {v['target']:.3f}"
    fig = go.Figure(go.Heatmap(z=z, text=text, texttemplate="%{text}", textfont=dict(size=9), customdata=hover,
                               hovertemplate="%{customdata}<extra></extra>", colorscale="RdYlGn", zmin=0, zmax=1.5,
                               colorbar=dict(title="share / target")))
    fig.update_layout(title=f"Coverage of detected attribute values ({column}); ✕ = gap", height=60 + 34 * len(attrs),
                      yaxis=dict(tickvals=list(range(len(attrs))), ticktext=attrs, autorange="reversed"),
                      xaxis=dict(visible=False), margin=dict(l=120, r=20, t=50, b=10))
    return fig


def rounds_figure(per_round, metrics: Sequence[str] = ("thumbs_up_rate", "outlier_rate", "coverage", "diversity"),
                  title: str = "Per round"):
    """Lines of per-round metrics (one subplot each)."""
    from plotly.subplots import make_subplots
    import plotly.graph_objects as go

    present = [m for m in metrics if m in per_round.columns]
    fig = make_subplots(rows=1, cols=max(1, len(present)), subplot_titles=present)
    for k, m in enumerate(present, start=1):
        fig.add_trace(go.Scatter(x=per_round["round"], y=per_round[m], mode="lines+markers", name=m), row=1, col=k)
        fig.update_xaxes(title_text="round", dtick=1, row=1, col=k)
    fig.update_layout(title=title, height=320, showlegend=False)
    return fig


def feedback_figure(counts):
    """Stacked bars of feedback types per round (`counts`: round, feedback_type, n)."""
    import plotly.graph_objects as go

    colours = {"positive": "#2ca02c", "neutral": "#bbbbbb", "negative": "#d62728"}
    fig = go.Figure([go.Bar(x=g["round"], y=g["n"], name=k, marker_color=colours.get(k))
                     for k, g in counts.groupby("feedback_type")])
    fig.update_layout(barmode="stack", title="Designer feedback per round", xaxis_title="round", height=320,
                      xaxis=dict(dtick=1))
    return fig


def image_grid_html(items: Sequence[Mapping], *, columns: int = 8, size: int = 96, title: str | None = None) -> str:
    """A grid of thumbnails (``uri``, ``caption``) as self-contained HTML."""
    cells = "".join(
        f'<figure style="margin:2px;width:{size}px;display:inline-block;vertical-align:top">'
        f'<img src="{it["uri"]}" style="width:{size}px;border:1px solid #ddd" alt="">'
        f'<figcaption style="font-size:10px;line-height:1.1">{html.escape(str(it.get("caption", "")))}</figcaption>'
        "</figure>" for it in items)
    head = f"<h4>{html.escape(title)}</h4>" if title else ""
    return f'{head}<div style="max-width:{columns * (size + 8)}px">{cells}</div>'


def table_html(frame, *, max_rows: int = 30) -> str:
    """A readable HTML table: shares as percentages, other numbers to 3 significant digits, rows capped."""
    from .formatting import table_html as people_table

    return people_table(frame, max_rows=max_rows)

"""The K and theta explorers of the cluster and select notebooks: one map updated in place.

Each explorer is a slider over one plotly ``FigureWidget`` whose traces are rewritten on a move
(a few kilobytes of coordinates, no new HTML, no new WebGL context), with the hovered image's
thumbnail beside the map. The slider sends its value when it is let go (a drag computes the
value it stops on; arrow keys step), and each K or theta is computed once per explorer. They
recompute exactly what the stage would (:func:`bffkit.cluster.auto_kmeans` on the stage's
silhouette sample; the stage's quality, kernel and quotas), start at the stored K and theta, and
"keep this" stores the value shown as a variant beside the round's result (adopting it is a
second, explicit click).
"""

from __future__ import annotations

import html
import time
from collections.abc import Sequence

import numpy as np

from . import figures as fg
from .exceptions import StoreError

MAX_K = 12  # the K slider's right end, and the map's number of traces
THUMB = 160  # px, the hover thumbnail
LEFT_COLOUR = "#d62728"


def cluster_at_k(data, k: int, *, seed: int, sample_size: int) -> tuple[np.ndarray, float, dict[int, str]]:
    """(labels, silhouette, profile names) of the round at one K, as the stage computes them: the
    same seed, K-means starts and silhouette sample, so the stored K gives the stored numbers."""
    from .cluster import kmeans_for_k, style_profiles

    labels, silhouette = kmeans_for_k(data.X, k, seed=seed, sample_size=sample_size)
    return labels, silhouette, {p.cluster_id: p.name for p in style_profiles(data.X, labels, data.detected)}


def entered_and_left(stored: Sequence[int], shown: Sequence[int]) -> tuple[list[int], list[int]]:
    """The rows in `shown` but not `stored` (in `shown`'s order) and those in `stored` but not `shown`."""
    a, b = set(int(i) for i in stored), set(int(i) for i in shown)
    return [int(i) for i in shown if int(i) not in a], [int(i) for i in stored if int(i) not in b]


class MapWidget:
    """A style map (one trace per cluster, MAX_K of them) that is redrawn by rewriting its traces,
    and the hovered point's thumbnail beside it."""

    def __init__(self, coords: np.ndarray, paths: Sequence, hover: Sequence[str], title: str):
        import ipywidgets as w
        import plotly.graph_objects as go

        self.coords, self.paths, self.hover = coords, list(paths), list(hover)
        self.rows: list[np.ndarray] = [np.array([], dtype=int)] * MAX_K
        self._thumbs: dict[int, bytes] = {}
        self.figure = go.FigureWidget(layout=dict(
            title=title, height=520, xaxis=dict(visible=False), yaxis=dict(visible=False),
            legend_title_text="style profile", margin=dict(l=10, r=10, t=50, b=10), uirevision="keep"))
        for c in range(MAX_K):
            self.figure.add_trace(go.Scatter(x=[], y=[], mode="markers", hovertemplate="%{text}<extra></extra>",
                                             marker=dict(color=fg.PALETTE[c % len(fg.PALETTE)], opacity=0.85)))
            self.figure.data[c].on_hover(self._on_hover)
        self.thumb = w.Image(format="webp", width=THUMB, layout=w.Layout(border="1px solid #ccc", min_height="40px"))
        self.caption = w.HTML("<small>hover a point to see its image</small>", layout=w.Layout(width=f"{THUMB}px"))
        self.widget = w.HBox([self.figure, w.VBox([self.thumb, self.caption])],
                             layout=w.Layout(align_items="flex-start"))

    def _thumb(self, row: int) -> bytes:
        import base64

        if row not in self._thumbs:  # made on first hover: a round's 500 thumbnails would take seconds
            self._thumbs[row] = base64.b64decode(fg.thumbnail_uri(self.paths[row], size=THUMB).split(",", 1)[1])
        return self._thumbs[row]

    def _on_hover(self, trace, points, state) -> None:
        if not points.point_inds:
            return
        row = int(self.rows[points.trace_index][points.point_inds[0]])
        self.thumb.value = self._thumb(row)
        self.caption.value = f"<small>{self.hover[row]}</small>"

    def draw(self, labels: np.ndarray, names: dict[int, str], *, ringed=(), entered=(), left=(),
             title: str = "") -> None:
        """Rewrite the traces: a cluster per trace (its profile's name and size in the legend); `ringed`
        rows black-ringed and larger, `entered` ringed green, `left` drawn as red crosses."""
        ring, new, gone = set(map(int, ringed)), set(map(int, entered)), set(map(int, left))
        with self.figure.batch_update():
            for c in range(MAX_K):
                rows = np.flatnonzero(labels == c)
                self.rows[c] = rows
                t = self.figure.data[c]
                t.x, t.y = self.coords[rows, 0], self.coords[rows, 1]
                t.text = [self.hover[i] for i in rows]
                t.name = f"{names.get(c, f'profile {c}')} ({len(rows)})"
                t.showlegend = len(rows) > 0
                t.marker.size = [11 if i in ring or i in new or i in gone else 7 for i in rows]
                t.marker.symbol = ["x" if i in gone else "circle" for i in rows]
                t.marker.color = [LEFT_COLOUR if i in gone else fg.PALETTE[c % len(fg.PALETTE)] for i in rows]
                t.marker.line = dict(width=[2 if i in ring or i in new else 0 for i in rows],
                                     color=["#2ca02c" if i in new else "black" for i in rows])
            if title:
                self.figure.layout.title.text = title


def _round_map(ctx, data, title: str) -> MapWidget:
    hover = [f"{i[-5:]}<br>" + "<br>".join(f"{a}: {v}" for a, v in d.items())
             for i, d in zip(data.image_ids, data.detected)]
    return MapWidget(fg.project_2d(data.X), [ctx.store.workspace / p for p in data.paths], hover, title)


class _Explorer:
    def _repr_mimebundle_(self, **kwargs):  # display(explorer) shows its widget
        return self.widget._repr_mimebundle_(**kwargs)


class ClusterExplorer(_Explorer):
    """A K slider over the round's style map, from the stored K; "keep this" stores K as a variant."""

    def __init__(self, ctx, round_number: int):
        import ipywidgets as w

        self.ctx, self.round = ctx, round_number
        self.data = data = ctx.round_data(round_number)
        job = ctx.job_id(round_number)
        cfg = ctx.config.cluster
        self.seed, self.sample_size = ctx.seed(round_number), cfg.silhouette_sample
        try:  # start where the stage chose (or the adopted variant)
            self.stored_k = int(ctx.store.clustering(job)["num_clusters"])
        except StoreError:
            self.stored_k = cfg.k_min
        try:
            self.selected = ctx.store.selected_indices(job, data.image_ids)
        except StoreError:
            self.selected = np.array([], dtype=int)
        self._computed: dict[int, tuple] = {}
        self.map = _round_map(ctx, data, "")
        self.slider = w.IntSlider(value=self.stored_k, min=2, max=min(MAX_K, len(data) - 1), description="K",
                                  continuous_update=False)
        self.keep = w.Button(description="keep this K", tooltip="store this clustering as a variant of the round")
        self.adopt = w.Button(description="adopt it", disabled=True,
                              tooltip="make the kept variant the round's clustering from now on (recorded)")
        self.status = w.HTML()
        self.kept: str | None = None
        self.slider.observe(lambda change: self.show(change["new"]), names="value")
        self.keep.on_click(lambda _: self.keep_variant())
        self.adopt.on_click(lambda _: self.adopt_variant())
        self.widget = w.VBox([w.HBox([self.slider, self.keep, self.adopt]), self.status, self.map.widget])
        self.show(self.stored_k)

    def at(self, k: int) -> tuple[np.ndarray, float, dict[int, str], float]:
        """(labels, silhouette, names, seconds to compute) at K; each K computed once."""
        if k not in self._computed:
            t = time.perf_counter()
            self._computed[k] = (*cluster_at_k(self.data, k, seed=self.seed, sample_size=self.sample_size),
                                 time.perf_counter() - t)
        return self._computed[k]

    def show(self, k: int) -> None:
        labels, sil, names, seconds = self.at(k)
        stored = " (the round's K)" if k == self.stored_k else ""
        self.map.draw(labels, names, ringed=self.selected,
                      title=f"K={k}{stored}: silhouette {sil:.3f}"
                            + (f" — the {len(self.selected)} selected ringed" if len(self.selected) else ""))
        self.status.value = f"<small>computed in {seconds * 1000:.0f} ms</small>"
        self.keep.description = f"keep K={k}"

    def keep_variant(self) -> str:
        """Store the shown K as a variant clustering (``k<K>-<K>``, the API's naming); its name."""
        from .stages.cluster import cluster_round

        k = int(self.slider.value)
        cfg = self.ctx.config.cluster
        self.kept = f"k{k}-{k}"
        cluster_round(self.ctx.store, self.data, k_range=(k, k), seed=self.seed, sample_size=self.sample_size,
                      near_duplicate=cfg.near_duplicate, variant=self.kept,
                      parameters={**cfg.model_dump(mode="json"), "k_min": k, "k_max": k})
        self.adopt.disabled = False
        self.status.value = (f"stored as variant <code>{self.kept}</code> beside the round's clustering; "
                             "<b>adopt it</b> to make it the round's clustering from now on")
        return self.kept

    def adopt_variant(self) -> dict:
        from .history import adopt

        record = adopt(self.ctx.store, self.ctx.run_id, self.round, "cluster", self.kept,
                       adopted_by=self.ctx.config.user_id, note="kept in the K explorer")
        self.stored_k, self.adopt.disabled = int(self.slider.value), True
        self.status.value = f"adopted <code>{html.escape(self.kept)}</code>: round {self.round}'s clustering is now K={self.stored_k}"
        return record


class SelectionExplorer(_Explorer):
    """A theta slider: the selection at theta on the style map (selected ringed; against the stored
    selection, entered ringed green, left as red crosses) and its numbers; "keep this" stores it."""

    def __init__(self, ctx, round_number: int):
        import ipywidgets as w

        from .stages.select import selection_quality

        self.ctx, self.round = ctx, round_number
        self.data = data = ctx.round_data(round_number)
        job = ctx.job_id(round_number)
        cfg = ctx.config.select
        try:
            row = ctx.store.selection(job)
            self.stored_theta, self.k = float(row["theta"]), int(row["k"])
            self.stored = ctx.store.selected_indices(job, data.image_ids)
            used_head = (row["metrics"] or {}).get("head_share", 0) > 0
        except StoreError:
            self.stored_theta, self.k, self.stored, used_head = cfg.theta, ctx.config.select_k, np.array([], int), False
        # the stage's quality: with the preference head where the stage had one (as it is now)
        self.quality, self.head_share = (selection_quality(ctx.store, data, ctx.learner_id) if used_head
                                         else (data.quality, 0.0))
        self.labels = ctx.store.cluster_labels(job, data.image_ids)
        self.names = {int(p["cluster_id"]): p["name"] for p in ctx.store.style_profiles(job)}
        self._computed: dict[float, tuple] = {}
        self.map = _round_map(ctx, data, "")
        self.uris = [fg.thumbnail_uri(ctx.store.workspace / p, size=72) for p in data.paths]
        self.slider = w.FloatSlider(value=self.stored_theta, min=0.0, max=0.95, step=0.05, description="θ",
                                    continuous_update=False, readout_format=".2f")
        self.keep = w.Button(description="keep this θ", tooltip="store this selection as a variant of the round")
        self.adopt = w.Button(description="adopt it", disabled=True,
                              tooltip="make the kept variant the round's selection from now on (recorded)")
        self.status, self.changes = w.HTML(), w.HTML()
        self.kept: str | None = None
        self.slider.observe(lambda change: self.show(change["new"]), names="value")
        self.keep.on_click(lambda _: self.keep_variant())
        self.adopt.on_click(lambda _: self.adopt_variant())
        self.widget = w.VBox([w.HBox([self.slider, self.keep, self.adopt]), self.status, self.map.widget,
                              self.changes])
        self.show(self.stored_theta)

    def _select(self, theta: float):
        from .dpp import select

        cfg = self.ctx.config.select
        return select(self.data.X, self.quality, self.k, theta=theta,
                      clusters=self.labels if cfg.cluster_aware else None, candidates=self.data.selectable,
                      kernel=cfg.kernel, bandwidth=cfg.bandwidth, min_distance=cfg.min_distance)

    def at(self, theta: float):
        """(the selection, seconds to compute) at theta; each theta computed once."""
        theta = round(float(theta), 4)
        if theta not in self._computed:
            t = time.perf_counter()
            self._computed[theta] = (self._select(theta), time.perf_counter() - t)
        return self._computed[theta]

    def show(self, theta: float) -> None:
        sel, seconds = self.at(theta)
        entered, left = entered_and_left(self.stored, sel.indices)
        labels = self.labels if self.labels is not None else np.zeros(len(self.data), dtype=int)
        self.map.draw(labels, self.names, ringed=sel.indices, entered=entered, left=left,
                      title=f"θ={theta:.2f}: {len(sel.indices)} selected ringed; against the stored selection "
                            f"{len(entered)} entered (green), {len(left)} left (red ×)")
        head = f", preference head {self.head_share:.0%} of quality" if self.head_share else ""
        stored = " (the round's θ)" if abs(theta - self.stored_theta) < 1e-9 else ""
        self.status.value = (f"<b>θ={theta:.2f}{stored}</b>: Vendi {sel.vendi:.2f}, mean quality "
                             f"{sel.mean_quality:.3f}{head} <small>({seconds * 1000:.0f} ms)</small>")
        grid = []
        for what, rows in (("entered", entered), ("left", left)):
            if rows:
                grid.append(fg.image_grid_html([{"uri": self.uris[i], "caption": f"q {self.quality[i]:.2f}"}
                                                for i in rows], size=72, columns=12,
                                               title=f"{len(rows)} {what} against the stored selection"))
        self.changes.value = "".join(grid) or "<p>The same images as the stored selection.</p>"
        self.keep.description = f"keep θ={theta:.2f}"

    def keep_variant(self) -> str:
        """Store the shown selection as a variant (``t<θ>-k<k>[-ca]``, the API's naming); its name."""
        from .stages.select import select_round

        cfg = self.ctx.config.select
        theta = round(float(self.slider.value), 4)
        aware = cfg.cluster_aware and self.labels is not None
        self.kept = f"t{theta:g}-k{self.k}" + ("-ca" if aware else "")
        select_round(self.ctx.store, self.data, self.k, theta=theta, labels=self.labels if aware else None,
                     seed=self.ctx.seed(self.round), quality=self.quality, head_share=self.head_share,
                     kernel=cfg.kernel, bandwidth=cfg.bandwidth, min_distance=cfg.min_distance, variant=self.kept,
                     parameters={**cfg.model_dump(mode="json"), "theta": theta})
        self.adopt.disabled = False
        self.status.value += (f"<br>stored as variant <code>{self.kept}</code> beside the round's selection; "
                              "<b>adopt it</b> to make it the round's selection from now on")
        return self.kept

    def adopt_variant(self) -> dict:
        from .history import adopt

        record = adopt(self.ctx.store, self.ctx.run_id, self.round, "select", self.kept,
                       adopted_by=self.ctx.config.user_id, note="kept in the θ explorer")
        self.stored_theta, self.adopt.disabled = round(float(self.slider.value), 4), True
        self.stored = self.ctx.store.selected_indices(self.ctx.job_id(self.round), self.data.image_ids)
        self.show(self.stored_theta)
        return record

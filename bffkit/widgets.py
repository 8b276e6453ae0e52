"""The notebook feedback grid: thumbnails of the selected images with 👍 / 👎 / neutral buttons.

Each click becomes a feedback event at once (:func:`bffkit.feedback.record_feedback`: into
the inbox, then merged into the store unless a batch run holds it) and the image's status
line says which. The grid holds no state the store does not: reopening a notebook shows what
was already said.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from .feedback import make_event, record_feedback

BUTTONS = (("👍", "positive", "success"), ("👎", "negative", "danger"), ("–", "neutral", ""))


def thumbnail_png(path: str | Path, size: int = 160) -> bytes:
    from PIL import Image

    with Image.open(path) as img:
        img = img.convert("RGB")
        img.thumbnail((size, size))
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        return buf.getvalue()


class FeedbackGrid:
    """A grid of image cards; `.widget` is the ipywidgets box to display."""

    def __init__(self, workspace: str | Path, image_ids: Sequence[str], *, user_id: str, columns: int = 4,
                 thumb_size: int = 160, threshold: float = 0.75, captions: dict[str, str] | None = None):
        import ipywidgets as w

        from .store import Store

        self.workspace = Path(workspace)
        self.user_id = user_id
        self.threshold = threshold
        store = Store(self.workspace)
        images = store.images_by_id(list(image_ids))
        given = {}
        if (self.workspace / "bff.duckdb").exists():
            fb = store.feedback(user_id)
            given = dict(zip(fb["image_id"], fb["feedback_type"]))
        self.status: dict[str, w.Label] = {}
        self.comments: dict[str, w.Text] = {}
        self.buttons: dict[str, dict[str, w.Button]] = {}
        self.events: list = []
        cards = []
        for image_id in image_ids:
            row = images.get(image_id)
            if row is None or not row.get("path"):
                continue
            img = w.Image(value=thumbnail_png(self.workspace / row["path"], thumb_size), format="png",
                          layout=w.Layout(width=f"{thumb_size}px"))
            comment = w.Text(placeholder="comment (optional)", layout=w.Layout(width=f"{thumb_size}px"))
            status = w.Label(f"said: {given[image_id]}" if image_id in given else "")
            row_buttons = {}
            for label, kind, style in BUTTONS:
                b = w.Button(description=label, button_style=style, tooltip=kind, layout=w.Layout(width="48px"))
                b.on_click(lambda _b, i=image_id, k=kind: self.give(i, k))
                row_buttons[kind] = b
            caption = w.HTML(f"<small>{(captions or {}).get(image_id, image_id)}</small>")
            cards.append(w.VBox([img, caption, w.HBox(list(row_buttons.values())), comment, status],
                                layout=w.Layout(border="1px solid #ddd", padding="4px", margin="2px")))
            self.status[image_id], self.comments[image_id], self.buttons[image_id] = status, comment, row_buttons
        self.widget = w.GridBox(cards, layout=w.Layout(grid_template_columns=f"repeat({columns}, {thumb_size + 16}px)"))

    def give(self, image_id: str, kind: str) -> str:
        """Record one click; returns "stored" or "queued" (the store was busy; it merges later)."""
        comment = self.comments[image_id].value.strip() or None
        event = make_event({"image_id": image_id, "feedback_type": kind, "comment": comment},
                           user_id=self.user_id, source="widget")
        state = record_feedback(self.workspace, event, threshold=self.threshold)
        self.events.append(event)
        self.status[image_id].value = f"✓ {kind} {state}" if state == "stored" else f"… {kind} queued (store busy)"
        return state

    def _ipython_display_(self):  # pragma: no cover - display hook
        from IPython.display import display

        display(self.widget)

"""The notebook feedback grid: thumbnails of the selected images with like / dislike / neutral
buttons, a rating and a comment.

Each click becomes a feedback event at once (:func:`bffkit.feedback.record_feedback`: into
the inbox, then merged into the store unless a batch run holds it) and the image's status
line says which; learning from it waits for a pause in the clicks and runs in the background.
The grid holds no state the store does not: reopening a notebook shows what this person already
said (not what a simulated designer said).
"""

from __future__ import annotations

import html
import io
import threading
from collections.abc import Sequence
from pathlib import Path

from .feedback import make_event, record_feedback

# text beside the emoji: where no emoji font is installed the buttons still say what they do
BUTTONS = (("👍 like", "positive", "success"), ("👎 dislike", "negative", "danger"), ("– neutral", "neutral", ""))
HUMAN_SOURCES = ("widget", "import", "api")  # feedback.SOURCES but the simulated designer
RATINGS = (("rating", None), ("1", 1), ("2", 2), ("3", 3), ("4", 4), ("5", 5))
# learning (outliers, posteriors, the preference head: 16 logistic fits) waits for this pause in the
# clicks and runs off the click's thread, so that a click is acknowledged at once
LEARN_AFTER = 2.0


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

    def __init__(self, workspace: str | Path, image_ids: Sequence[str], *, user_id: str, columns: int | None = None,
                 thumb_size: int = 160, threshold: float = 0.75, captions: dict[str, str] | None = None,
                 hover: dict[str, str] | None = None, learn_after: float = LEARN_AFTER):
        import ipywidgets as w

        from .store import Store

        self.workspace = Path(workspace)
        self.user_id = user_id
        self.threshold = threshold
        self.learn_after = learn_after
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        store = Store(self.workspace)
        images = store.images_by_id(list(image_ids))
        given = {}
        if (self.workspace / "bff.duckdb").exists():
            fb = store.feedback(user_id)
            # what this person said here; a simulated designer's judgements are not theirs
            fb = fb[fb["source"].isin(HUMAN_SOURCES)] if "source" in fb else fb
            given = dict(zip(fb["image_id"], fb["feedback_type"]))
        self.status: dict[str, w.Label] = {}
        self.comments: dict[str, w.Text] = {}
        self.buttons: dict[str, dict[str, w.Button]] = {}
        self.ratings: dict[str, w.Dropdown] = {}
        self.events: list = []
        cards = []
        for image_id in image_ids:
            row = images.get(image_id)
            if row is None or not row.get("path"):
                continue
            img = w.Image(value=thumbnail_png(self.workspace / row["path"], thumb_size), format="png",
                          layout=w.Layout(width=f"{thumb_size}px"))
            comment = w.Text(placeholder="comment (optional)", layout=w.Layout(width="100%"))
            rating = w.Dropdown(options=RATINGS, value=None, layout=w.Layout(width="80px"))
            status = w.Label(f"you said: {given[image_id]}" if image_id in given else "")
            row_buttons = {}
            for label, kind, style in BUTTONS:
                b = w.Button(description=label, button_style=style, tooltip=kind, layout=w.Layout(width="auto"))
                b.on_click(lambda _b, i=image_id, k=kind: self.give(i, k))
                row_buttons[kind] = b
            title = html.escape((hover or {}).get(image_id, ""), quote=True)
            text = html.escape((captions or {}).get(image_id, image_id))
            # one line, cut with an ellipsis: the buttons line up card to card; the whole text on hover
            caption = w.HTML(f'<div title="{title}" style="font-size:11px;white-space:nowrap;overflow:hidden;'
                             f'text-overflow:ellipsis;width:{thumb_size}px">{text}</div>')
            cards.append(w.VBox([img, caption, w.HBox([*row_buttons.values(), rating], layout=w.Layout(flex_flow="row wrap")),
                                 comment, status],
                                layout=w.Layout(border="1px solid #ddd", padding="4px", margin="2px")))
            self.status[image_id], self.comments[image_id], self.buttons[image_id] = status, comment, row_buttons
            self.ratings[image_id] = rating
        # as many columns as the page is wide (or exactly `columns`)
        track = f"repeat({columns}, {thumb_size + 120}px)" if columns else f"repeat(auto-fill, minmax({thumb_size + 120}px, 1fr))"
        self.widget = w.GridBox(cards, layout=w.Layout(grid_template_columns=track, width="100%"))

    def give(self, image_id: str, kind: str) -> str:
        """Record one click (with the card's comment and rating); returns "stored" or "queued" (the
        store was busy; it merges later). Learning follows after a pause, off this thread (:meth:`learn`)."""
        comment = self.comments[image_id].value.strip() or None
        event = make_event({"image_id": image_id, "feedback_type": kind, "comment": comment,
                            "rating": self.ratings[image_id].value}, user_id=self.user_id, source="widget")
        state = record_feedback(self.workspace, event, threshold=self.threshold, learn=False)
        self.events.append(event)
        self.status[image_id].value = f"✓ {kind} {state}" if state == "stored" else f"… {kind} queued (store busy)"
        self._learn_later()
        return state

    def _learn_later(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()  # a click within the pause: one refit for the whole burst
            # not a daemon: a kernel shutting down waits for a refit under way instead of killing it
            self._timer = threading.Timer(self.learn_after, self.learn)
            self._timer.start()

    def flush(self) -> bool | None:
        """Learn now from clicks still waiting for their pause; None if none were waiting."""
        with self._lock:
            pending, self._timer = self._timer, None
        if pending is None:
            return None
        pending.cancel()
        return self.learn()

    def learn(self) -> bool:
        """Update outliers and what feedback taught for this user now; False when the store was busy
        (the next click tries again)."""
        from .exceptions import StoreError
        from .preferences import update_from_feedback
        from .store import Store

        with self._lock:
            self._timer = None
        try:
            update_from_feedback(Store(self.workspace, lock_timeout=5.0), [self.user_id], threshold=self.threshold)
        except StoreError:
            return False
        return True

    def _ipython_display_(self):  # pragma: no cover - display hook
        from IPython.display import display

        display(self.widget)

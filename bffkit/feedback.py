"""Stage 7: designer feedback — events, the inbox that loses nothing, import/export, personas.

**Concurrency.** DuckDB lets one process write a store file at a time, and a batch run
writes often. Feedback therefore never waits on the store: :func:`record_feedback` first
writes the event as one small JSON file into ``<workspace>/inbox/`` (written to a temporary
name, then renamed: a reader sees all of it or nothing), then tries briefly to merge the
inbox into ``user_feedback``. If the store is busy the event stays queued, and the next
merge — the next click, the batch run's next feedback stage, ``bffkit feedback import`` or
any analytics call — picks it up. Merging is idempotent (the event id is the row id; a file
is deleted only after its row committed), so a crash between the two can only leave a file
that the next merge skips as already stored.

**Personas.** A simulated designer (``data/personas/*.yaml``) has hidden preferences: a
logit weight per attribute value, a dislike of drawing defects, noise and a neutral band.
It judges what an image really shows (for sketches, the attributes the renderer drew),
seeded, so batch runs and the learning benchmark are reproducible.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from .exceptions import ConfigError, RequestError, StoreError
from .paths import DATA_DIR
from .store import ids

FEEDBACK_TYPES = ("positive", "negative", "neutral")
SOURCES = ("widget", "import", "persona", "api")
INBOX_DIRNAME = "inbox"
PERSONAS_DIR = DATA_DIR / "personas"
DEFAULT_PERSONA = PERSONAS_DIR / "minimalist.yaml"
FIELDS = ("image_id", "feedback_type", "rating", "comment", "user_id", "created_at")


class FeedbackError(RequestError):
    """A feedback event or file that cannot be taken (exit 2, one line)."""


@dataclass(frozen=True)
class FeedbackEvent:
    image_id: str
    feedback_type: str
    user_id: str
    rating: int | None = None
    comment: str | None = None
    source: str = "api"
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="microseconds"))
    id: str = field(default_factory=ids.new_id)

    def to_dict(self) -> dict:
        return asdict(self)


def make_event(row: Mapping[str, Any], *, user_id: str | None = None, source: str = "api",
               where: str = "feedback") -> FeedbackEvent:
    """A validated event from a mapping; errors name `where` (e.g. "row 7") and the field."""
    def fail(name: str, value: Any, allowed: str) -> FeedbackError:
        return FeedbackError(f"{where}: {name}={value!r}: {allowed}")

    unknown = set(row) - set(FIELDS) - {"id", "source", "is_outlier"}
    if unknown:
        raise fail(sorted(unknown)[0], row[sorted(unknown)[0]], f"unknown field; allowed: {', '.join(FIELDS)}")
    image_id = str(row.get("image_id") or "").strip()
    if not image_id:
        raise fail("image_id", row.get("image_id"), "required (an id from generated_images)")
    kind = str(row.get("feedback_type") or "").strip().lower()
    kind = {"up": "positive", "down": "negative", "👍": "positive", "👎": "negative", "+1": "positive",
            "-1": "negative", "0": "neutral"}.get(kind, kind)
    if kind not in FEEDBACK_TYPES:
        raise fail("feedback_type", row.get("feedback_type"), f"must be one of {', '.join(FEEDBACK_TYPES)}")
    rating = row.get("rating")
    if rating in ("", None) or (isinstance(rating, float) and math.isnan(rating)):
        rating = None
    else:
        try:
            rating = int(str(rating).strip())
        except ValueError:
            raise fail("rating", row.get("rating"), "must be an integer from 1 to 5, or empty") from None
        if not 1 <= rating <= 5:
            raise fail("rating", row.get("rating"), "must be an integer from 1 to 5, or empty")
    uid = str(row.get("user_id") or user_id or "").strip()
    if not uid:
        raise fail("user_id", row.get("user_id"), "required (or pass --user)")
    comment = row.get("comment")
    comment = None if comment in ("", None) or (isinstance(comment, float) and math.isnan(comment)) else str(comment)
    created = row.get("created_at")
    kw = {}
    if created not in ("", None):
        try:
            kw["created_at"] = datetime.fromisoformat(str(created)).isoformat()
        except ValueError:
            raise fail("created_at", created, "must be an ISO 8601 timestamp") from None
    if row.get("id"):
        kw["id"] = str(row["id"])
    elif source in ("import", "persona"):
        # a re-import (or a rerun of a batch round) must not duplicate: the id follows the content
        key = json.dumps([uid, image_id, kind, rating, comment, created, where if source == "persona" else ""])
        kw["id"] = hashlib.sha1(key.encode()).hexdigest()[:32]
    return FeedbackEvent(image_id=image_id, feedback_type=kind, user_id=uid, rating=rating, comment=comment,
                         source=source, **kw)


# --------------------------------------------------------------------------- inbox

class Inbox:
    """Append-only folder of feedback events waiting to be merged into the store."""

    def __init__(self, workspace: str | Path):
        self.dir = Path(workspace) / INBOX_DIRNAME

    def put(self, event: FeedbackEvent) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        # time-ordered names: merges keep click order
        name = f"{time.time_ns():020d}-{event.id}.json"
        tmp = self.dir / f".{name}.tmp"
        tmp.write_text(json.dumps(event.to_dict()))
        os.replace(tmp, self.dir / name)
        return self.dir / name

    def pending(self) -> list[Path]:
        return sorted(self.dir.glob("*.json")) if self.dir.is_dir() else []

    def merge(self, store) -> list[FeedbackEvent]:
        """Move every pending event into ``user_feedback`` (one transaction); returns the new ones."""
        files = self.pending()
        if not files:
            return []
        events = []
        for f in files:
            try:
                events.append(FeedbackEvent(**json.loads(f.read_text())))
            except (OSError, ValueError, TypeError):
                continue  # a file being renamed in right now is picked up next time
        new = store.add_feedback_events([e.to_dict() for e in events])
        for f in files:
            f.unlink(missing_ok=True)
        fresh = set(new)
        return list({e.id: e for e in events if e.id in fresh}.values())


def record_feedback(workspace: str | Path, event: FeedbackEvent, *, wait: float = 0.5, learn: bool = True,
                    threshold: float = 0.75) -> str:
    """Queue one event and try to merge it now; "stored", or "queued" if the store is busy.

    With `learn`, a successful merge also updates outliers and what feedback taught
    (:func:`bffkit.preferences.update_from_feedback`): learning follows every event.
    """
    from .store import Store

    inbox = Inbox(workspace)
    inbox.put(event)
    store = Store(workspace, lock_timeout=wait)
    try:
        new = inbox.merge(store)
        if learn and new:
            from .preferences import update_from_feedback

            update_from_feedback(store, [e.user_id for e in new], threshold=threshold)
    except StoreError:
        return "queued"
    return "stored"


# --------------------------------------------------------------------------- import / export

def read_feedback_file(path: str | Path, *, user_id: str | None = None) -> list[FeedbackEvent]:
    """Every row of a CSV or JSON (list of objects, or JSON lines) file as events; the first bad row
    raises with its number and field, and nothing is taken."""
    path = Path(path)
    if not path.is_file():
        raise FeedbackError(f"feedback file {path}: not found")
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".csv":
        rows = list(csv.DictReader(io.StringIO(text)))
        first = 2  # row 1 is the header
    elif path.suffix.lower() in (".json", ".jsonl"):
        try:
            data = json.loads(text) if path.suffix.lower() == ".json" else \
                [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as err:
            raise FeedbackError(f"feedback file {path}: not valid JSON (line {err.lineno}: {err.msg})") from None
        rows = data if isinstance(data, list) else data.get("feedback") if isinstance(data, dict) else None
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise FeedbackError(f"feedback file {path}: expected a list of objects (or {{\"feedback\": [...]}})")
        first = 1
    else:
        raise FeedbackError(f"feedback file {path}: suffix {path.suffix!r} not supported; use .csv, .json or .jsonl")
    return [make_event(r, user_id=user_id, source="import", where=f"{path.name} row {i}")
            for i, r in enumerate(rows, start=first)]


def import_feedback(store, path: str | Path, *, user_id: str | None = None) -> dict:
    """Validate a whole file, check every image exists, then store it in one transaction (all or nothing)."""
    events = read_feedback_file(path, user_id=user_id)
    known = store.existing_image_ids([e.image_id for e in events])
    for i, e in enumerate(events):
        if e.image_id not in known:
            raise FeedbackError(f"{Path(path).name} row {i + (2 if str(path).endswith('.csv') else 1)}: "
                                f"image_id={e.image_id!r}: no such image in {store.workspace}")
    new = store.add_feedback_events([e.to_dict() for e in events])
    return {"rows": len(events), "stored": len(new), "already_stored": len(events) - len(new)}


def export_feedback(store, path: str | Path | None = None, *, user_id: str | None = None) -> str:
    """All feedback (or one user's) as CSV (or JSON when `path` ends in .json); returns the text."""
    frame = store.feedback(user_id)
    cols = ["id", "image_id", "feedback_type", "rating", "comment", "user_id", "source", "is_outlier", "created_at"]
    frame = frame[cols]
    frame["created_at"] = frame["created_at"].astype(str)
    if path is not None and str(path).endswith(".json"):
        text = json.dumps(json.loads(frame.to_json(orient="records")), indent=2, ensure_ascii=False)
    else:
        text = frame.to_csv(index=False)
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text


# --------------------------------------------------------------------------- personas

@dataclass(frozen=True)
class Persona:
    """A simulated designer with hidden attribute preferences (logit weights)."""

    name: str
    preferences: dict[str, dict[str, float]]
    base: float = -0.5  # logit of liking an image nothing in `preferences` speaks to
    defect_penalty: float = 3.0  # a smudged or cropped drawing is a thumbs-down
    noise: float = 0.5  # std of the logit noise per judgement
    neutral_band: float = 0.4  # |logit| below this: neutral
    seed: int = 0
    description: str = ""

    def logit(self, attributes: Mapping[str, str], defect: str | None = None) -> float:
        z = self.base + sum(self.preferences.get(a, {}).get(v, 0.0) for a, v in attributes.items())
        return z - (self.defect_penalty if defect else 0.0)

    def judge(self, attributes: Mapping[str, str], defect: str | None, rng: np.random.Generator) -> tuple[str, int]:
        """(feedback type, rating 1-5) for one image."""
        z = self.logit(attributes, defect) + rng.normal(0, self.noise)
        kind = "neutral" if abs(z) < self.neutral_band else ("positive" if z > 0 else "negative")
        return kind, int(np.clip(round(3 + z), 1, 5))


def load_persona(path: str | Path | None = None) -> Persona:
    """A persona from YAML (default: data/personas/minimalist.yaml); a name finds data/personas/NAME.yaml."""
    from .taxonomy import load_taxonomy
    from .yamlfile import read_yaml

    path = Path(path) if path else DEFAULT_PERSONA
    if not path.suffix and not path.exists():
        path = PERSONAS_DIR / f"{path}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PERSONAS_DIR.glob("*.yaml")))
        raise ConfigError(f"feedback.persona={str(path)!r}: not found; shipped personas: {known}")
    data = read_yaml(path, ConfigError, "persona file")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a persona file holds a mapping (name, preferences, base, noise, ...)")
    allowed = {f for f in Persona.__dataclass_fields__}
    unknown = set(data) - allowed
    if unknown:
        raise ConfigError(f"{path}: unknown key {sorted(unknown)[0]!r}; allowed: {', '.join(sorted(allowed))}")
    tax = load_taxonomy()
    prefs = data.get("preferences") or {}
    for attr, values in prefs.items():
        if attr not in tax:
            raise ConfigError(f"{path}: preferences.{attr}: not a taxonomy attribute")
        for v, w in (values or {}).items():
            if v not in tax[attr].value_names:
                raise ConfigError(f"{path}: preferences.{attr}.{v}: not a value of {attr}; allowed: "
                                  f"{', '.join(tax[attr].value_names)}")
            if not isinstance(w, (int, float)) or not math.isfinite(w):
                raise ConfigError(f"{path}: preferences.{attr}.{v}={w!r}: must be a number (logit weight)")
    return Persona(**{**data, "name": data.get("name") or path.stem,
                      "preferences": {a: {v: float(w) for v, w in vs.items()} for a, vs in prefs.items()}})


def simulate_feedback(store, persona: Persona, image_ids: Sequence[str], *, user_id: str, seed: int = 0,
                      workspace: str | Path | None = None) -> list[FeedbackEvent]:
    """The persona judges each image (what it really shows) and its events go through the inbox."""
    images = store.images_by_id(image_ids)
    rng = np.random.default_rng(np.random.SeedSequence([persona.seed, seed]))
    events = []
    for image_id in image_ids:
        row = images[image_id]
        meta = row["metadata"] or {}
        shown = meta.get("rendered") or row["vlt_attributes"] or {}
        kind, rating = persona.judge(shown, meta.get("defect"), rng)
        events.append(make_event({"image_id": image_id, "feedback_type": kind, "rating": rating},
                                 user_id=user_id, source="persona", where=f"persona {persona.name} seed {seed}"))
    inbox = Inbox(workspace or store.workspace)
    for e in events:
        inbox.put(e)
    inbox.merge(store)
    return events


def thumbs_up_rate(events: Iterable[FeedbackEvent]) -> float:
    events = list(events)
    return sum(e.feedback_type == "positive" for e in events) / len(events) if events else float("nan")

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
import json
import math
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import Field, ValidationError
from tqdm.auto import tqdm

from .exceptions import ConfigError, RequestError, StoreError
from .paths import DATA_DIR
from .sections import Section, format_validation_error, interval
from .store import ids
from .textfile import check_output_file, check_regular_file, write_text_atomic

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
        return dict(self.__dict__)  # asdict() deep-copies: 30x slower on a 100k-row import


USER_ID_RULE = "must be 1-100 letters, digits, '-', '_', '.' or '@'"


def valid_user_id(user_id: str) -> bool:
    return 0 < len(user_id) <= 100 and all(ch.isalnum() or ch in "-_.@" for ch in user_id)


def simulated_user_id(user_id: str, persona: str) -> str:
    """The user a persona's judgements are stored under, ``<user>@<persona>``: never the human's own,
    so one image never holds a simulated and a human judgement for one user (and purging a user's
    simulations is purging that id)."""
    name = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in persona) or "persona"
    return f"{user_id}@{name}"[:100]


def _short(value: Any, limit: int = 60) -> Any:
    text = str(value)
    return value if len(text) <= limit else text[:limit] + "..."


def make_event(row: Mapping[str, Any], *, user_id: str | None = None, source: str = "api",
               where: str = "feedback") -> FeedbackEvent:
    """A validated event from a mapping; errors name `where` (e.g. "row 7") and the field."""
    def fail(name: str, value: Any, allowed: str) -> FeedbackError:
        return FeedbackError(f"{where}: {name}={value!r}: {allowed}")

    unknown = set(row) - set(FIELDS) - {"id", "source", "is_outlier"}
    if unknown:
        raise fail(sorted(unknown)[0], row[sorted(unknown)[0]], f"unknown field; allowed: {', '.join(FIELDS)}")
    image_id = row.get("image_id")
    image_id = str(image_id).strip() if isinstance(image_id, (str, int)) else ""
    if not image_id or len(image_id) > MAX_ID_CHARS:
        raise fail("image_id", _short(row.get("image_id")), "required: an id from generated_images")
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
    if not valid_user_id(uid):
        raise fail("user_id", _short(uid), USER_ID_RULE)
    comment = row.get("comment")
    comment = None if comment in ("", None) or (isinstance(comment, float) and math.isnan(comment)) else str(comment)
    if comment is not None and len(comment) > MAX_COMMENT_CHARS:
        raise FeedbackError(f"{where}: comment: {len(comment):,} characters; at most {MAX_COMMENT_CHARS:,}")
    created = row.get("created_at")
    kw = {}
    if created not in ("", None):
        try:
            kw["created_at"] = datetime.fromisoformat(str(created)).isoformat()
        except ValueError:
            raise fail("created_at", created, "must be an ISO 8601 timestamp") from None
    if row.get("id"):
        if not isinstance(row["id"], (str, int)) or len(str(row["id"])) > MAX_ID_CHARS:
            raise fail("id", _short(row["id"]), f"an event id is text of at most {MAX_ID_CHARS} characters")
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

MAX_COMMENT_CHARS = 5000  # a designer's note, not a document
MAX_ID_CHARS = 200
MAX_JSON_BYTES = 500_000_000  # a JSON file is parsed whole; CSV and JSON lines stream at any size


def read_feedback_file(path: str | Path, *, user_id: str | None = None,
                       progress: bool = False) -> list[FeedbackEvent]:
    """Every row of a feedback file as events (see :func:`read_feedback_rows`)."""
    return [event for _, event in read_feedback_rows(path, user_id=user_id, progress=progress)]


def read_feedback_rows(path: str | Path, *, user_id: str | None = None,
                       progress: bool = False) -> list[tuple[str, FeedbackEvent]]:
    """(where, event) for every row of a CSV, JSON (a list of objects) or JSON lines file, read as a stream.

    The first bad row raises with its number and field, and nothing is taken: a file with no
    rows, text that is not UTF-8, an over-long field, or an explicit event id given twice with
    different content.
    """
    path = Path(path)
    check_regular_file(path, FeedbackError, "feedback file")
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json", ".jsonl"):
        raise FeedbackError(f"feedback file {path}: suffix {path.suffix!r} not supported; use .csv, .json or .jsonl")
    rows = {".csv": _csv_rows, ".json": _json_rows, ".jsonl": _jsonl_rows}[suffix](path)
    events, by_id = [], {}
    bar = tqdm(rows, disable=None if progress else True, unit="row", desc=f"read {path.name}", leave=False)
    try:
        for where, row in bar:
            event = make_event(row, user_id=user_id, source="import", where=f"{path.name} {where}")
            seen = by_id.setdefault(event.id, event)
            if seen is not event and _content(seen) != _content(event):
                raise FeedbackError(f"{path.name} {where}: id={event.id!r} is given twice with different content")
            events.append((where, event))
    except UnicodeDecodeError as err:
        raise FeedbackError(f"{path.name}: not a UTF-8 text file (byte {err.start} of a block near row "
                            f"{len(events) + 2}); save it as UTF-8") from None
    finally:
        bar.close()
    if not events:
        raise FeedbackError(f"{path.name}: has no feedback rows (expected {', '.join(FIELDS[:2])}, ... per row)")
    return events


UNJUDGED_FIELDS = ("feedback_type", "rating", "comment")  # all empty: the CSV row is skipped


def _csv_rows(path: Path):
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        try:
            header = next(reader, None)
            if header is None:
                return
            header = [h.strip() for h in header]
            allowed = set(FIELDS) | {"id", "source", "is_outlier"}
            for name in header:
                if name not in allowed:
                    raise FeedbackError(f"{path.name} row 1: column {name!r} is not a feedback field; "
                                        f"allowed: {', '.join(FIELDS)} (and id, source, is_outlier)")
            for number, cells in enumerate(reader, start=2):
                if not cells:
                    continue
                if len(cells) > len(header):
                    raise FeedbackError(f"{path.name} row {number}: {len(cells)} cells for {len(header)} columns")
                row = dict(zip(header, cells))
                if not any(str(row.get(k) or "").strip() for k in UNJUDGED_FIELDS):
                    continue  # a row of a feedback sheet (the report's CSV) left unjudged
                yield f"row {number}", row
        except csv.Error as err:
            raise FeedbackError(f"{path.name} row {reader.line_num}: not valid CSV ({err})") from None


def _json_rows(path: Path):
    if path.stat().st_size > MAX_JSON_BYTES:
        raise FeedbackError(f"{path.name}: over {MAX_JSON_BYTES:,} bytes of JSON; use JSON lines (.jsonl) or CSV")
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as err:
        raise FeedbackError(f"feedback file {path}: not valid JSON (line {err.lineno}: {err.msg})") from None
    except RecursionError:
        raise FeedbackError(f"{path.name}: nested too deeply to be a list of feedback rows") from None
    rows = data if isinstance(data, list) else data.get("feedback") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise FeedbackError(f"feedback file {path}: expected a list of objects (or {{\"feedback\": [...]}})")
    for number, row in enumerate(rows, start=1):
        yield f"row {number}", row


def _jsonl_rows(path: Path):
    with path.open(encoding="utf-8-sig") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except (json.JSONDecodeError, RecursionError) as err:
                why = err.msg if isinstance(err, json.JSONDecodeError) else "nested too deeply"
                raise FeedbackError(f"feedback file {path}: line {number} is not valid JSON ({why})") from None
            if not isinstance(row, dict):
                raise FeedbackError(f"{path.name} line {number}: expected one JSON object per line")
            yield f"line {number}", row


def _content(event: FeedbackEvent) -> tuple:
    return (event.user_id, event.image_id, event.feedback_type, event.rating, event.comment)


def import_feedback(store, path: str | Path, *, user_id: str | None = None, progress: bool = False) -> dict:
    """Validate a whole file, check every image exists and no explicit id is already stored with
    other content, then store it in one transaction (all or nothing)."""
    rows = read_feedback_rows(path, user_id=user_id, progress=progress)
    name = Path(path).name
    known = store.existing_image_ids(list({e.image_id for _, e in rows}))
    stored = store.feedback_content([e.id for _, e in rows])
    for where, e in rows:
        if e.image_id not in known:
            raise FeedbackError(f"{name} {where}: image_id={_short(e.image_id)!r}: no such image in {store.workspace}")
        if e.id in stored and stored[e.id] != _content(e):
            raise FeedbackError(f"{name} {where}: id={e.id!r} is already stored with different content; "
                                "give this row a new id (or leave id empty)")
    events = [e for _, e in rows]
    new = store.add_feedback_events([e.to_dict() for e in events])
    fresh = set(new)
    users = list(dict.fromkeys(e.user_id for e in events if e.id in fresh))
    return {"rows": len(events), "stored": len(new), "already_stored": len(events) - len(new), "users": users}


def export_feedback(store, path: str | Path | None = None, *, user_id: str | None = None) -> str:
    """All feedback (or one user's) as CSV (or JSON when `path` ends in .json); returns the text.

    The file is written whole or not at all (a temporary file beside it, then renamed)."""
    if path is not None:
        path = check_output_file(Path(path), (".csv", ".json"), "--out")
    frame = store.feedback(user_id)
    cols = ["id", "image_id", "feedback_type", "rating", "comment", "user_id", "source", "is_outlier", "created_at"]
    frame = frame[cols]
    frame["created_at"] = frame["created_at"].astype(str)
    if path is not None and path.suffix.lower() == ".json":
        text = json.dumps(json.loads(frame.to_json(orient="records")), indent=2, ensure_ascii=False)
    else:
        text = frame.to_csv(index=False)
    if path is not None:
        write_text_atomic(path, text, "--out")
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


LogitWeight = Annotated[float, interval(-20, 20)]


class PersonaFile(Section):
    """What a persona file may say (see :class:`Persona`), checked with the run config."""

    name: str | None = None
    description: str = ""
    preferences: dict[str, dict[str, LogitWeight]] = Field(default_factory=dict)
    base: LogitWeight = -0.5
    defect_penalty: Annotated[float, interval(0, 20)] = 3.0
    noise: Annotated[float, interval(0, 10)] = 0.5
    neutral_band: Annotated[float, interval(0, 10)] = 0.4
    seed: Annotated[int, interval(0, 2**32 - 1)] = 0


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
        raise ConfigError(f"{path.name}: a persona file holds a mapping (name, preferences, base, noise, ...)")
    try:
        spec = PersonaFile.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"{path.name}: {format_validation_error(err)}") from None
    tax = load_taxonomy()
    for attr, values in spec.preferences.items():
        if attr not in tax:
            raise ConfigError(f"{path.name}: preferences.{attr}: not a taxonomy attribute")
        try:
            tax[attr].check_values(values, f"preferences.{attr}")
        except ValueError as err:
            raise ConfigError(f"{path.name}: {err}") from None
    return Persona(**{**spec.model_dump(), "name": spec.name or path.stem})


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

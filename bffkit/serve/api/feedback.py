"""/api/feedback: post judgements (one or a batch), read back one's own feedback and outliers.

A POST never waits on the store: the event is checked, written to the inbox (one small file)
and answered 202; the server's writer thread merges it. Events are idempotent by the client's
``client_event_id``: its stored id is derived from the caller and that id, so a retried POST
stores nothing twice and no one can write over another user's event.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from ...feedback import MAX_COMMENT_CHARS, MAX_ID_CHARS, USER_ID_RULE, FeedbackEvent, make_event
from ..auth import Caller
from ..deps import CallerDep, PageDep, ServerDep, not_found, paged, plain, require

router = APIRouter(prefix="/api/feedback", tags=["feedback"])
MAX_BATCH = 500
CLIENT_ID = r"^[A-Za-z0-9._:-]{1,100}$"


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image_id: Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS, pattern=r"^[A-Za-z0-9_.:@-]+$")]
    feedback_type: Literal["positive", "negative", "neutral"]
    rating: Annotated[int | None, Field(ge=1, le=5)] = None
    comment: Annotated[str | None, Field(max_length=MAX_COMMENT_CHARS)] = None
    client_event_id: Annotated[str | None, Field(pattern=CLIENT_ID, description=(
        "your id for this event: posting it again stores nothing new"))] = None
    source: Literal["api", "review"] = "api"


class FeedbackBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: Annotated[list[FeedbackIn], Field(min_length=1, max_length=MAX_BATCH)]


def event_id(user: str, client_event_id: str | None) -> str | None:
    if client_event_id is None:
        return None
    return hashlib.sha1(f"{user}\x00{client_event_id}".encode()).hexdigest()[:32]


async def _accept(server, who: Caller, items: list[FeedbackIn]) -> list[FeedbackEvent]:
    # on the event loop: memory checks and one small file per event; only an image id not yet
    # known (stored since the last load) sends the check to a thread, as it reads the store
    missing = set(server.images.unknown([e.image_id for e in items]))
    if missing:
        missing = set(await run_in_threadpool(server.images.missing, sorted(missing)))
    for i, e in enumerate(items):
        if e.image_id in missing:
            where = f"events[{i}].image_id" if len(items) > 1 else "image_id"
            raise HTTPException(422, f"{where}={e.image_id!r}: not a stored image")
    events = []
    for e in items:
        row = {"image_id": e.image_id, "feedback_type": e.feedback_type, "rating": e.rating, "comment": e.comment}
        eid = event_id(who.name, e.client_event_id)
        events.append(make_event({**row, **({"id": eid} if eid else {})}, user_id=who.name, source=e.source))
    for event in events:
        server.writer.inbox.put(event)
    # no wake-up: the writer merges what has arrived every `interval` (0.25 s), one transaction
    # for many events instead of one per event (a store connection costs ~20 ms)
    return events


def _receipt(events: list[FeedbackEvent]) -> dict:
    return {"status": "accepted", "ids": [e.id for e in events],
            "detail": "stored within a moment; GET /api/feedback/events/{id} shows it"}


@router.post("/events", status_code=202, summary="Post one judgement of an image")
async def post_event(body: FeedbackIn, server: ServerDep, who: CallerDep) -> dict:
    return _receipt(await _accept(server, who, [body]))


@router.post("/events/batch", status_code=202, summary=f"Post up to {MAX_BATCH} judgements at once")
async def post_batch(body: FeedbackBatch, server: ServerDep, who: CallerDep) -> dict:
    return _receipt(await _accept(server, who, body.events))


@router.get("/events", summary="The caller's own feedback, newest first")
def my_events(server: ServerDep, who: CallerDep, p: PageDep) -> dict:
    total, rows = server.store.user_feedback_page(who.name, limit=p.limit, offset=p.offset)
    return paged(total, rows, p)


EventId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:@-]{1,200}$")]


@router.get("/events/{feedback_id}", summary="One of the caller's events (another user's is 404)")
def my_event(feedback_id: EventId, server: ServerDep, who: CallerDep) -> dict:
    row = server.store.user_feedback_event(who.name, feedback_id)
    if row is None:
        raise not_found(f"feedback event {feedback_id!r}")
    return plain(row)


@router.get("/outliers", summary="The images the caller's feedback made outliers (liked and unusual)")
def my_outliers(server: ServerDep, who: CallerDep, p: PageDep) -> dict:
    total, rows = server.store.user_outliers(who.name, limit=p.limit, offset=p.offset)
    return paged(total, rows, p)


UserName = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.@-]{1,100}$", description=USER_ID_RULE)]


@router.delete("/users/{user_name}", summary="Admins: erase a user: their feedback, runs, images and token")
def purge_user(user_name: UserName, server: ServerDep, who: Annotated[Caller, require("admin")]) -> dict:
    with server.writer.lock:
        server.writer.flush()  # events still in the inbox are theirs too
        report = server.store.purge_user(user_name)
    server.users.refresh()
    return plain({"user": user_name, "rows": report.rows, "files": report.files})

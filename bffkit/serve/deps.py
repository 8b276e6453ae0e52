"""What every endpoint shares: the server's state, the caller, pages, and JSON-safe values."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from fastapi import Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from limits import RateLimitItem

from .auth import COOKIE_NAME, Caller, RateLimits, UserDirectory
from .queue import RunQueue, Worker
from .settings import ServeSettings, rate_limit
from .writer import ImageIndex, StoreWriter

MAX_PAGE = 500  # the most rows one list call returns


@dataclass
class Server:
    """One `bffkit serve` process: its workspace, store, users, limits, writer and worker."""

    workspace: Path
    settings: ServeSettings
    store: Any
    users: UserDirectory
    writer: StoreWriter
    queue: RunQueue
    images: ImageIndex
    worker: Worker | None = None
    learner: Any = None  # bffkit.serve.learner.Learner
    limits: RateLimits = field(default_factory=RateLimits)
    api_rate: RateLimitItem | None = None
    file_rate: RateLimitItem | None = None

    def __post_init__(self):
        self.api_rate = rate_limit(self.settings.rate_limit)
        self.file_rate = rate_limit(self.settings.file_rate_limit)


# Dependencies are `async def`: they run on the event loop, not through the thread pool (which
# would cost each request a thread hop per dependency); anything that may wait goes to a thread.

async def server_of(request: Request) -> Server:
    return request.app.state.server


ServerDep = Annotated[Server, Depends(server_of)]


REVIEW_HEADER = "x-bffkit-review"  # the review page's posts carry it: a cross-site form cannot


def _token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    cookie = request.cookies.get(COOKIE_NAME)
    if cookie and request.method not in ("GET", "HEAD") and REVIEW_HEADER not in request.headers:
        raise HTTPException(403, f"a write signed in by cookie must carry the {REVIEW_HEADER} header")
    return cookie or None


async def _authenticate(request: Request, limit: RateLimitItem) -> Caller:
    server: Server = request.app.state.server
    token = _token(request)
    found = server.users.known(token) if token else None
    if found is None and token:  # maybe a user added since the last load: that reads the store
        found = await run_in_threadpool(server.users.caller, token)
    if found is None:
        raise HTTPException(401, "a valid token is required: 'Authorization: Bearer <token>' "
                                 "(make one with `bffkit users add NAME`)",
                            headers={"WWW-Authenticate": "Bearer"})
    wait = server.limits.retry_after(limit, found.key)
    if wait is not None:
        raise HTTPException(429, f"rate limit of {limit} per token reached; retry in {wait} s",
                            headers={"Retry-After": str(wait)})
    request.state.caller = found
    return found


async def caller(request: Request) -> Caller:
    return await _authenticate(request, request.app.state.server.api_rate)


async def file_caller(request: Request) -> Caller:
    """Image files count against their own, larger limit: a review page fetches one per image."""
    return await _authenticate(request, request.app.state.server.file_rate)


CallerDep = Annotated[Caller, Depends(caller)]


def require(role: str):
    """A dependency: the caller, if their role is `role` or above; 403 otherwise."""
    async def check(who: CallerDep) -> Caller:
        if not who.may(role):
            raise HTTPException(403, f"this needs the {role} role or above; {who.name} is a {who.role}")
        return who

    return Depends(check)


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int


async def page(limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="rows per page")] = 50,
         offset: Annotated[int, Query(ge=0, le=2**31, description="rows to skip")] = 0) -> Page:
    return Page(limit, offset)


PageDep = Annotated[Page, Depends(page)]


def paged(total: int, rows: list, p: Page) -> dict:
    return {"total": total, "limit": p.limit, "offset": p.offset, "items": plain(rows)}


def plain(value: Any) -> Any:
    """`value` with numpy scalars, NaN, timestamps and paths made JSON values (NaN -> null)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, np.ndarray)):
        return [plain(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(value) else float(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, str):
        return value
    try:  # pandas NaT / NA
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def not_found(what: str) -> HTTPException:
    return HTTPException(404, f"{what} not found")

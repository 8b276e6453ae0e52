"""The FastAPI application behind `bffkit serve`: `create_app(workspace)` builds it.

The app holds one :class:`~bffkit.serve.deps.Server`: the workspace's store, the users (in
memory), the store writer thread and the worker process. Requests never run a stage: runs go
to the worker, feedback to the inbox the writer merges, and reads open short store
connections that wait while a batch run holds the file (503 with Retry-After past the wait).
"""

from __future__ import annotations

import logging
import time
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from .. import __version__
from ..exceptions import BffkitError, NotStoredError, StoreError
from .auth import UserDirectory
from .deps import Server
from .learner import Learner
from .queue import RunQueue, run_worker
from .settings import ServeSettings
from .writer import ImageIndex, StoreWriter

log = logging.getLogger("bffkit.serve")
STATIC_DIR = Path(__file__).parent / "static"


def _one_line(err: RequestValidationError) -> str:
    parts = []
    for e in err.errors()[:3]:
        where = ".".join(str(p) for p in e["loc"] if p != "body") or "body"
        parts.append(f"{where}: {e['msg']}")
    more = len(err.errors()) - 3
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def _handle_errors(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError):
        # field errors as FastAPI lists them, plus one line a person can read
        detail = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in err.errors()]
        return JSONResponse({"detail": detail, "message": _one_line(err)}, status_code=422)

    @app.exception_handler(NotStoredError)
    async def not_stored(request: Request, err: NotStoredError):
        return JSONResponse({"detail": str(err)}, status_code=404)

    @app.exception_handler(StoreError)
    async def store_busy(request: Request, err: StoreError):
        if "lock" in str(err).lower() or "busy" in str(err).lower():
            return JSONResponse({"detail": "the store is busy (a batch run is writing it); retry shortly"},
                                status_code=503, headers={"Retry-After": "2"})
        log.error("store error on %s: %s", request.url.path, err)
        return JSONResponse({"detail": f"store: {err}"}, status_code=503)

    @app.exception_handler(BffkitError)
    async def bad_input(request: Request, err: BffkitError):
        return JSONResponse({"detail": str(err)}, status_code=422)


def create_app(workspace: str | Path, settings: ServeSettings | None = None, *, worker: bool = True) -> FastAPI:
    """The API and review page over `workspace` (created and migrated if needed).

    With `worker` False no child process starts: runs stay queued (tests drive the queue) and
    learning from feedback happens in the writer thread.
    """
    from ..store import open_store
    from . import api, review

    workspace = Path(workspace).resolve()
    settings = settings or ServeSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        store = open_store(workspace, lock_timeout=settings.store_wait_seconds)
        users = UserDirectory(store)
        users.refresh()  # also proves the store readable: the writer's first 'ok'
        learner = Learner(workspace, settings.outlier_threshold) if worker else None
        writer = StoreWriter(store, users=users, threshold=settings.outlier_threshold,
                             retention_days=settings.retention_days, learner=learner)
        server = Server(workspace=workspace, settings=settings, store=store, users=users, writer=writer,
                        queue=RunQueue(workspace), images=ImageIndex(store),
                        worker=run_worker(workspace) if worker else None, learner=learner)
        writer.last_ok = time.time()
        if settings.retention_days:
            writer.apply_retention()  # at start, then hourly
        writer.start()
        for child in (server.worker, learner):
            if child:
                child.start()
        app.state.server = server
        log.info("serving %s: %d user(s)", workspace, len(users))
        try:
            yield
        finally:
            if server.worker:
                server.worker.stop()
            writer.stop()  # merges the last events, then the learner may stop
            if learner:
                learner.stop()

    app = FastAPI(title="bffkit", version=__version__, lifespan=lifespan, max_body_size=settings.max_body_bytes,
                  description="The designer's best-friend pipeline: runs, clusters, selections, coverage, "
                              "feedback and analytics of one workspace. Every call but health carries "
                              "`Authorization: Bearer <token>` (`bffkit users add NAME`).")
    _handle_errors(app)
    for router in api.ROUTERS:
        app.include_router(router)
    app.include_router(review.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    if settings.cors_origins:  # off unless origins are named
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_credentials=False,
                           allow_methods=["GET", "POST", "DELETE"], allow_headers=["Authorization", "Content-Type"])
    return app

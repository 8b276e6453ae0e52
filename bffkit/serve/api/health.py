"""/api/health and /api/<group>/health: no token; what a load balancer or an operator checks.

Answers come from what the server already knows (the writer's last pass, the queue folder, facts
found at start), so a health call costs no store connection: it is also the benchmark's baseline.
"""

from __future__ import annotations

import importlib.util
import time
from functools import lru_cache

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ..deps import ServerDep

router = APIRouter(tags=["health"])
STALE_SECONDS = 30  # the writer passes every 0.25 s and reloads users every 5 s


@lru_cache(maxsize=1)
def _static_facts() -> dict:
    from ...registry import available_generators

    from ...models.sketch_clip.architecture import MODEL_WEIGHTS as weights
    backends = {name: True for name in available_generators()}
    for name, module in (("diffusers", "diffusers"), ("openai", "openai")):
        if name in backends:
            backends[name] = importlib.util.find_spec(module) is not None
    return {"model": {"sketch-clip": weights.is_file(), "open_clip": importlib.util.find_spec("open_clip") is not None},
            "backends": backends}


_counts: dict[str, tuple[float, int]] = {}


def _count(name: str, fn, max_age: float = 1.0) -> int:
    """`fn()`, reused for up to `max_age` s: health runs on the event loop and may be polled hard."""
    at, value = _counts.get(name, (0.0, 0))
    if time.monotonic() - at > max_age:
        value = fn()
        _counts[name] = (time.monotonic(), value)
    return value


def _store_state(server) -> dict:
    w = server.writer
    age = None if w.last_ok is None else round(time.time() - w.last_ok, 1)
    ok = server.store.path.is_file() and w.last_error is None and age is not None and age < STALE_SECONDS
    return {"ok": ok, "path": server.store.path.name, "last_ok_seconds_ago": age, "error": w.last_error}


def _queue_state(server) -> dict:
    return {"depth": _count(f"queue:{server.workspace}", server.queue.depth), "worker_alive": bool(server.worker and server.worker.alive)}


def _inbox(server) -> int:
    return _count(f"inbox:{server.workspace}", lambda: len(server.writer.inbox.pending()))


def _answer(body: dict) -> JSONResponse:
    return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)


@router.get("/api/health", summary="The server: store reachable, model present, backends, queue depth")
async def health(server: ServerDep) -> JSONResponse:
    store, queue, facts = _store_state(server), _queue_state(server), _static_facts()
    body = {"status": "ok" if store["ok"] else "degraded", "store": store, "queue": queue,
            "inbox_pending": _inbox(server), "users": len(server.users), **facts}
    return _answer(body)


def _group_checks(server, group: str) -> dict:
    store, facts = _store_state(server), _static_facts()
    if group == "generation":
        queue = _queue_state(server)
        ok = store["ok"] and (queue["worker_alive"] or server.worker is None) and any(facts["backends"].values())
        return {"ok": ok, "store": store, "queue": queue, "backends": facts["backends"]}
    if group in ("clusters", "diversity"):
        return {"ok": store["ok"] and any(facts["model"].values()), "store": store, "model": facts["model"]}
    if group == "feedback":
        return {"ok": store["ok"], "store": store, "inbox_pending": _inbox(server),
                "merged_since_start": server.writer.merged,
                "learner_alive": bool(server.learner and server.learner.alive)}
    return {"ok": store["ok"], "store": store}


def _group_route(group: str):
    async def group_health(server: ServerDep) -> JSONResponse:
        checks = _group_checks(server, group)
        return _answer({"status": "ok" if checks.pop("ok") else "degraded", "group": group, **checks})

    group_health.__name__ = f"{group}_health"
    return group_health


for _group in ("generation", "clusters", "diversity", "coverage", "feedback", "analytics"):
    router.add_api_route(f"/api/{_group}/health", _group_route(_group), methods=["GET"],
                         summary=f"The {_group} group: what it needs, checked", tags=[_group])

"""/api/generation: start runs (queued for the worker), follow them, list and fetch images."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ...config import RunConfig, apply_overrides, config_from_dict
from ...exceptions import ConfigError
from ...paths import DATA_DIR
from ...yamlfile import read_yaml
from ..auth import Caller
from ..deps import CallerDep, PageDep, ServerDep, file_caller, not_found, paged, plain, require
from .rounds import ID, RunId

router = APIRouter(prefix="/api/generation", tags=["generation"])

CONFIG_NAME = r"^[A-Za-z0-9_-]{1,100}(\.ya?ml)?$"
# Fields whose value names a file on the server: set them in a config file, never from a client.
PATH_FIELDS = ("prompts.taxonomy", "feedback.file")
BARE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    config: Annotated[str | None, Field(pattern=CONFIG_NAME, description=(
        "a config file name: <workspace>/configs/NAME.yaml, else the shipped data/configs/NAME.yaml"))] = None
    config_body: Annotated[dict[str, Any] | None, Field(description="a run config as a mapping, instead of a file")] = None
    overrides: Annotated[dict[str, Any], Field(description="dotted paths to values, e.g. {\"select.theta\": 0.5}",
                                               max_length=100)] = {}
    report: Annotated[bool, Field(description="run the stage notebooks and write an HTML report")] = False

    @model_validator(mode="after")
    def _one_source(self) -> RunRequest:
        if (self.config is None) == (self.config_body is None):
            raise ValueError("give exactly one of config (a file name) or config_body (a mapping)")
        return self


def _config_file(server, name: str) -> dict:
    stem = re.sub(r"\.ya?ml$", "", name)
    for folder in (server.workspace / "configs", DATA_DIR / "configs"):
        path = folder / f"{stem}.yaml"
        if path.is_file():
            data = read_yaml(path, ConfigError, "config file")
            if not isinstance(data, dict):
                raise ConfigError(f"{path.name}: top level must be a mapping of fields")
            return data
    known = sorted({p.stem for f in (server.workspace / "configs", DATA_DIR / "configs") for p in f.glob("*.yaml")})
    raise HTTPException(404, f"config {name!r} not found; configs: {', '.join(known) or 'none'}")


def _looks_like_path(value: str) -> bool:
    return (value.startswith(("/", "~", ".", "\\", "local-dir:", "file:")) or "/../" in value
            or "@/" in value or "@." in value or "@~" in value or bool(re.match(r"^[A-Za-z]:[\\/]", value)))


def check_client_values(data: Any, where: str = "") -> None:
    """Refuse what a client sends that would name a file on the server (ConfigError, one line)."""
    if isinstance(data, dict):
        for key, value in data.items():
            check_client_values(value, f"{where}.{key}" if where else str(key))
        return
    if isinstance(data, list):
        for i, value in enumerate(data):
            check_client_values(value, f"{where}[{i}]")
        return
    if where in PATH_FIELDS and data is not None:
        raise ConfigError(f"{where}: names a file on the server; set it in a config file in <workspace>/configs/")
    if where == "feedback.persona" and data is not None and not BARE_NAME.match(str(data)):
        raise ConfigError(f"{where}={data!r}: over the API, a shipped persona's name (e.g. minimalist)")
    if isinstance(data, str) and _looks_like_path(data):
        raise ConfigError(f"{where}={data[:60]!r}: a file path; over the API name files only in a config "
                          "file in <workspace>/configs/")


def _flatten(data: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in data.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        out.update(_flatten(value, path) if isinstance(value, dict) and key != "request" else {path: value})
    return out


def build_config(server, body: RunRequest, user: str) -> RunConfig:
    """The run config a request asks for, with the server's workspace and the caller as its user."""
    check_client_values(_flatten(body.overrides) if body.overrides else {})
    check_client_values({k: v for k, v in _flatten(body.config_body or {}).items()})
    data = _config_file(server, body.config) if body.config else dict(body.config_body)
    data = apply_overrides(data, body.overrides)
    data.update(workspace=str(server.workspace), user_id=user)  # a run's feedback is its caller's
    return config_from_dict(data, source=body.config or "config_body")


@router.post("/runs", status_code=202, summary="Queue a run; it executes in the worker process")
def start_run(body: RunRequest, server: ServerDep, response: Response,
              who: Annotated[Caller, require("researcher")]) -> dict:
    config = build_config(server, body, who.name)
    job, added = server.queue.submit(config, user_id=who.name, report=body.report)
    if server.worker:
        server.worker.wake()
    response.headers["Location"] = f"/api/generation/runs/{job['run_id']}"
    return {"run_id": job["run_id"], "status": job["status"], "added": added,
            "position": server.queue.position(job["run_id"]), "url": f"/api/generation/runs/{job['run_id']}"}


def _job_view(job: dict) -> dict:
    return {k: job.get(k) for k in ("status", "user_id", "report", "submitted_at", "started_at", "finished_at",
                                    "error", "result")}


@router.get("/runs", summary="Runs, newest first: those waiting in the queue, then the stored ones")
def list_runs(server: ServerDep, who: CallerDep, p: PageDep) -> dict:
    stored_total, _ = server.store.runs(limit=1)
    waiting = [j for j in reversed(server.queue.jobs()) if j["status"] == "queued" and server.store.run(j["run_id"]) is None]
    head = [{"id": j["run_id"], "status": "queued", "user_id": j["user_id"],
             "request": j["config"].get("request"), "created_at": j["submitted_at"]} for j in waiting]
    items = head[p.offset:p.offset + p.limit]
    rest = p.limit - len(items)
    if rest > 0:
        _, rows = server.store.runs(limit=rest, offset=max(0, p.offset - len(head)))
        items += rows
    return paged(stored_total + len(head), items, p)


@router.get("/runs/{run_id}", summary="A run's status and per-stage progress")
def run_status(run_id: RunId, server: ServerDep, who: CallerDep) -> dict:
    from ...pipeline import active_stages
    from ...stages import get_stage

    job = server.queue.get(run_id)
    row = server.store.run(run_id)
    if job is None and row is None:
        raise not_found(f"run {run_id!r}")
    config = (job or {}).get("config") or (row or {}).get("config") or {}
    metrics = server.store.run_metrics(run_id) if row is not None else None
    done = [] if metrics is None else metrics[["round", "stage", "seconds", "items", "success_rate"]].to_dict("records")
    try:
        cfg = RunConfig.model_validate(config)
        stages = active_stages(cfg)
        planned = sum(cfg.rounds if get_stage(s).per_round else 1 for s in stages)
        rounds = cfg.rounds
    except ValueError:  # a config stored by an older version: progress without a plan
        planned, rounds, stages = None, None, ()
    status = job["status"] if job else row["status"]
    return plain({"run_id": run_id, "status": status, "request": config.get("request"), "rounds": rounds,
                  "stages": list(stages), "progress": {"done": len(done), "planned": planned, "stages": done},
                  "position": server.queue.position(run_id), "job": _job_view(job) if job else None,
                  "created_at": row["created_at"] if row is not None else None,
                  "updated_at": row["updated_at"] if row is not None else None})


def _image_view(row: dict) -> dict:
    return {**row, "file_url": f"/api/generation/images/{row['id']}/file"}


@router.get("/images", summary="Stored images, filtered by run, round and whether the round selected them")
def list_images(server: ServerDep, who: CallerDep, p: PageDep,
                run_id: Annotated[str | None, Query(pattern=ID)] = None,
                round: Annotated[int | None, Query(ge=1, le=50)] = None,
                selected: bool | None = None) -> dict:
    total, rows = server.store.image_page(run_id=run_id, round=round, selected=selected, limit=p.limit,
                                          offset=p.offset)
    return paged(total, [_image_view(r) for r in rows], p)


@router.get("/images/{image_id}", summary="One image's metadata")
def image_meta(image_id: Annotated[str, Path(pattern=ID)], server: ServerDep, who: CallerDep) -> dict:
    found = server.store.images_by_id([image_id])
    if image_id not in found:
        raise not_found(f"image {image_id!r}")
    row = {k: v for k, v in found[image_id].items() if k not in ("path", "user_id")}
    return plain(_image_view(row))


@router.get("/images/{image_id}/file", summary="An image's file (content-addressed: cache it forever)",
            response_class=FileResponse, responses={200: {"content": {"image/png": {}}}, 304: {}})
def image_file(image_id: Annotated[str, Path(pattern=ID)], request: Request, server: ServerDep,
               who: Annotated[Caller, Depends(file_caller)]):
    # the id goes to the store, never to the file system; the path is the store's own, under images/
    found = server.images.file(image_id)
    if found is None:
        raise not_found(f"image {image_id!r}")
    sha, path = found
    headers = {"ETag": f'"{sha}"', "Cache-Control": "private, max-age=31536000, immutable"}
    if request.headers.get("if-none-match") == headers["ETag"]:
        return Response(status_code=304, headers=headers)
    return FileResponse(path, headers=headers, media_type="image/png" if path.suffix == ".png" else None)

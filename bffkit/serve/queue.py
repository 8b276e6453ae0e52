"""Runs asked for through the API: a queue of job files, and the one worker process that runs them.

A run never executes in the server's request threads: ``POST /api/generation/runs`` writes a
job file (``<workspace>/queue/<run_id>.json``, written whole then renamed) and answers 202.
One worker process takes the oldest queued job, runs it (:func:`bffkit.pipeline.run`, or the
stage notebooks and an HTML report), and records how it ended. Runs resume, so a worker killed
mid-run (a server stopped, a machine rebooted) puts the job back in the queue at its next start
and the rerun keeps every stage that had finished.
"""

from __future__ import annotations

import json
import multiprocessing
import threading
import traceback
from datetime import datetime, timezone
from pathlib import Path

from ..config import RunConfig, config_from_dict
from ..exceptions import BffkitError
from ..textfile import write_text_atomic

QUEUE_DIRNAME = "queue"
RUN_STATES = ("queued", "running", "done", "failed")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class RunQueue:
    """The job files of one workspace; the server adds jobs, the worker moves them along."""

    def __init__(self, workspace: str | Path):
        self.dir = Path(workspace) / QUEUE_DIRNAME
        self._lock = threading.Lock()

    def _path(self, run_id: str) -> Path:
        return self.dir / f"{run_id}.json"

    def _write(self, job: dict) -> dict:
        self.dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self._path(job["run_id"]), json.dumps(job, default=str), "run queue")
        return job

    def get(self, run_id: str) -> dict | None:
        path = self._path(run_id)
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None  # mid-rename on a filesystem without atomic replace: absent for now

    def jobs(self) -> list[dict]:
        """Every job, oldest first."""
        found = (self.get(p.stem) for p in self.dir.glob("*.json")) if self.dir.is_dir() else ()
        return sorted((j for j in found if j), key=lambda j: (j["submitted_at"], j["run_id"]))

    def queued(self) -> list[dict]:
        return [j for j in self.jobs() if j["status"] == "queued"]

    def depth(self) -> int:
        """Jobs waiting or running."""
        return sum(j["status"] in ("queued", "running") for j in self.jobs())

    def position(self, run_id: str) -> int | None:
        """1 for the next job to run; None when the job is not waiting."""
        ids = [j["run_id"] for j in self.queued()]
        return ids.index(run_id) + 1 if run_id in ids else None

    def submit(self, config: RunConfig, *, user_id: str, report: bool = False) -> tuple[dict, bool]:
        """(the job, whether it was added). A job already waiting or running is returned as it is;
        one that ended is queued again (the rerun resumes: finished stages are kept)."""
        run_id = config.resolved_run_id()
        with self._lock:
            job = self.get(run_id)
            if job is not None and job["status"] in ("queued", "running"):
                return job, False
            return self._write({"run_id": run_id, "status": "queued", "user_id": user_id, "report": report,
                                "submitted_at": _now(), "started_at": None, "finished_at": None,
                                "config": config.model_dump(mode="json"), "error": None, "result": None}), True

    # ----------------------------------------------------------------- the worker's side
    def claim_next(self) -> dict | None:
        waiting = self.queued()
        if not waiting:
            return None
        return self._write({**waiting[0], "status": "running", "started_at": _now()})

    def finish(self, job: dict, status: str, **fields) -> dict:
        return self._write({**job, **fields, "status": status, "finished_at": _now()})

    def requeue_interrupted(self) -> list[str]:
        """Jobs left running by a worker that died go back to the queue; their ids."""
        back = [j for j in self.jobs() if j["status"] == "running"]
        for job in back:
            self._write({**job, "status": "queued", "started_at": None})
        return [j["run_id"] for j in back]

    def log_path(self, run_id: str) -> Path:
        return self.dir / f"{run_id}.log"


def run_job(queue: RunQueue, job: dict) -> dict:
    """Run one claimed job to its end and record how it went; the finished job."""
    log_file = queue.log_path(job["run_id"]).open("a", encoding="utf-8")

    def log(message: str) -> None:
        log_file.write(f"{_now()} {message}\n")
        log_file.flush()

    try:
        config = config_from_dict(job["config"], source=f"run {job['run_id']}")
        if job.get("report"):
            from ..report import run_report

            # the notebooks read their config from a file
            path = queue.dir / f"{job['run_id']}.config.json"
            write_text_atomic(path, json.dumps(job["config"]), "run queue")
            report = run_report(config, path, log=log)
            result = {"report": str(report.index), "seconds": round(report.seconds, 3)}
        else:
            from ..pipeline import run

            result = run(config, progress=False, log=log).to_dict()
        log("done")
        return queue.finish(job, "done", result=result)
    except BffkitError as err:
        log(f"failed: {err}")
        return queue.finish(job, "failed", error=str(err))
    except Exception as err:  # the worker outlives a failed run; the log keeps the traceback
        log("failed:\n" + traceback.format_exc())
        return queue.finish(job, "failed", error=f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")
    finally:
        log_file.close()


def work(workspace: str, stop, wake, poll: float = 1.0) -> None:
    """The worker process: run queued jobs one at a time until `stop` is set."""
    queue = RunQueue(workspace)
    queue.requeue_interrupted()
    while not stop.is_set():
        job = queue.claim_next()
        if job is None:
            wake.wait(poll)
            wake.clear()
            continue
        run_job(queue, job)


class Worker:
    """A spawned child process of the server (no state shared with it) running
    ``target(*args, stop, wake)``: the run worker, or the learner."""

    def __init__(self, target, *args, name: str = "bffkit-worker"):
        ctx = multiprocessing.get_context("spawn")
        self._stop, self._wake = ctx.Event(), ctx.Event()
        self._process = ctx.Process(target=target, args=(*args, self._stop, self._wake), name=name, daemon=True)

    def start(self) -> None:
        self._process.start()

    def wake(self) -> None:
        self._wake.set()

    @property
    def alive(self) -> bool:
        return self._process.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the job in hand; past `timeout` the job is cut off (it resumes next start)."""
        if self._process.pid is None:
            return
        self._stop.set()
        self._wake.set()
        self._process.join(timeout)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5)


def run_worker(workspace: str | Path) -> Worker:
    """The process that runs queued runs, one at a time."""
    return Worker(work, str(workspace), name="bffkit-worker")

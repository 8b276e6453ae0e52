"""Stage 2, generate: each stored prompt spec of the round's job through the configured backend.

:func:`run_generation` skips specs already stored, writes each image atomically and
content-addressed (the store's journal), records refusals with their reason, and leaves the
job ``done``, or ``partial`` (resumable) when some specs could not be made.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any

from tqdm.auto import tqdm

from ..exceptions import StageError
from ..generate import Generator, encode_png
from ..prompts import PromptSpec
from .base import Stage, StageResult
from .context import RunContext


@dataclass(frozen=True)
class JobResult(StageResult):
    """The outcome of one run of a generation job."""

    job_id: str
    status: str
    n_planned: int
    n_done: int
    n_failed: int
    n_new: int
    seconds: float
    last_error: str | None = None
    backend: str | None = None

    @property
    def images_per_second(self) -> float:
        return self.n_new / self.seconds if self.seconds > 0 else 0.0

    @property
    def items(self) -> int:
        return self.n_done

    @property
    def success_rate(self) -> float:
        return self.n_done / self.n_planned if self.n_planned else 1.0

    def summary(self) -> str:
        return (f"{self.n_done}/{self.n_planned} images ({self.n_new} new, {self.n_failed} failed)"
                f" with {self.backend}, {self.images_per_second:.0f} img/s")

    def unfinished(self) -> str:
        """The one-line error for a job that did not end ``done``."""
        missing = self.n_planned - self.n_done - self.n_failed
        reason = f" (last error: {self.last_error})" if self.last_error else ""
        return (f"stage generate: job {self.job_id} ended {self.status} with {missing} of {self.n_planned} specs "
                f"not generated{reason}; rerun the same command to resume")


def run_generation(store, job_id: str, generator: Generator, *, progress: bool = True,
                   batch_size: int = 32, flush_seconds: float = 2.0) -> JobResult:
    """Generate every spec of a stored job that has no image yet; safe to rerun after a kill."""
    t0 = time.perf_counter()
    # 1. Load the job; clean up after a killed run; skip what is stored
    job = store.job(job_id)
    specs = [PromptSpec.from_row(r, generator.name) for r in store.prompt_specs(job_id)]
    store.recover_job(job_id)
    stored = store.stored_spec_indices(job_id)
    pending = [s for s in specs if s.index not in stored]
    by_index = {s.index: s for s in specs}
    store.mark_job_running(job_id, generator.name, generator.model)

    # 2. Generate; store results in batches (one transaction each), at least every few seconds
    n_new, last_error = 0, None
    batch: list[dict[str, Any]] = []
    last_flush = time.monotonic()

    def flush() -> None:
        nonlocal last_flush
        if batch:
            store.save_images(job_id, job["user_id"], batch)
            batch.clear()
        last_flush = time.monotonic()

    bar = tqdm(total=len(specs), initial=len(stored), disable=None if progress else True, unit="img",
               file=sys.stderr, desc=f"generate {job_id}", dynamic_ncols=True)
    completed = False
    try:
        for result in generator.generate(pending):
            spec = by_index[result.spec_index]
            item = dict(spec_index=spec.index, prompt=spec.prompt, negative_prompt=spec.negative_prompt,
                        seed=spec.seed, backend=generator.name, model=generator.model, params=spec.params,
                        vlt_attributes=spec.attributes, metadata=result.metadata)
            if result.error is None:
                image = result.image.convert("RGB")
                batch.append(dict(item, data=encode_png(image), width=image.width, height=image.height))
                n_new += 1
            elif result.permanent:
                batch.append(dict(item, error=result.error))
            else:
                last_error = result.error
            bar.update(1)
            if len(batch) >= batch_size or time.monotonic() - last_flush > flush_seconds:
                flush()
        completed = True
    finally:
        flush()
        bar.close()
        # 3. Final status: done when every spec has a row, else partial (resumable)
        n_stored = len(store.stored_spec_indices(job_id))
        if not completed:
            status = "partial"  # interrupted: keep what was stored, resumable
        elif n_stored == len(specs):
            status = "done"
        else:
            status = "partial" if n_stored or last_error else "failed"
        n_done, n_failed = store.finish_job(job_id, status, error=last_error)
    return JobResult(job_id=job_id, status=status, n_planned=len(specs), n_done=n_done, n_failed=n_failed,
                     n_new=n_new, seconds=time.perf_counter() - t0, last_error=last_error, backend=generator.name)


def run(ctx: RunContext, round_number: int) -> JobResult:
    job = run_generation(ctx.store, ctx.job_id(round_number), ctx.generator, progress=ctx.progress)
    if job.status != "done":
        raise StageError(job.unfinished())
    return job


def check(ctx: RunContext) -> None:
    ctx.generator  # keys, weights, paths: before any work


STAGE = Stage(2, "generate", "Generation", "generate", run, seed_numbers=(1, 2, 3, 4, 5, 6), check=check)

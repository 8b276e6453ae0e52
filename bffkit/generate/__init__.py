"""Stage 2, generation: prompt specs in, images and metadata out, stored resumably.

A backend is any object with a ``name``, a ``model`` and ``generate(specs)`` yielding one
:class:`ImageResult` per spec. The built-in ones are `sketch` (offline default),
`diffusers` and `openai`; a third party adds one through the ``bffkit.generators``
entry-point group (a Midjourney backend would arrive that way: it has no public API).

:func:`run_generation` drives a stored generation job: it skips specs already stored,
writes each image atomically and content-addressed, records refusals with their reason,
and leaves the job ``done``, or ``partial`` (resumable) when some specs could not be made.
"""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

from tqdm.auto import tqdm

from ..exceptions import ConfigError
from ..prompts import PromptSpec
from ..registry import ENTRY_POINT_GROUP, available_generators


@dataclass
class ImageResult:
    """What a backend made of one spec: an image, or an error (permanent or worth retrying)."""

    spec_index: int
    image: Any = None  # PIL.Image.Image
    metadata: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    permanent: bool = True  # False: a transient failure (5xx, timeout); the spec stays pending


@runtime_checkable
class Generator(Protocol):
    name: str
    model: str | None

    def generate(self, specs: Sequence[PromptSpec]) -> Iterator[ImageResult]: ...


def get_generator(name: str, **options: Any) -> Generator:
    """Build a backend by name with its options from the run config.

    Raises ConfigError listing the available backends for an unknown name, and whatever
    one-line error the backend raises for missing keys or model paths (before any work).
    """
    if name == "sketch":
        from .sketch import SketchGenerator

        return SketchGenerator(**options)
    if name == "diffusers":
        from .diffusers_backend import DiffusersGenerator

        return DiffusersGenerator(**options)
    if name == "openai":
        from .openai_backend import OpenAIGenerator

        return OpenAIGenerator(**options)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            return ep.load()(**options)
    raise ConfigError(f"unknown backend {name!r}; available: {', '.join(available_generators())}")


@dataclass(frozen=True)
class JobResult:
    """The outcome of one run of a generation job."""

    job_id: str
    status: str
    n_planned: int
    n_done: int
    n_failed: int
    n_new: int
    seconds: float
    last_error: str | None = None

    @property
    def images_per_second(self) -> float:
        return self.n_new / self.seconds if self.seconds > 0 else 0.0


def encode_png(image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


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
                     n_new=n_new, seconds=time.perf_counter() - t0, last_error=last_error)

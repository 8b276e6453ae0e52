"""`diffusers`: any text-to-image pipeline that `AutoPipelineForText2Image` loads.

A Hub id (``stabilityai/sd-turbo``, ``stable-diffusion-v1-5/stable-diffusion-v1-5``,
``stabilityai/stable-diffusion-xl-base-1.0``) or a local folder written by
``save_pretrained``. Device auto (cuda, mps, cpu), fp16 on cuda, batched, one seeded
``torch.Generator`` per image so every image is reproducible on its own. Steps and guidance
come from each spec's quality parameters (turbo models: guidance 0, 1-4 steps, no negative
prompt). Nothing is downloaded unless the user names a Hub id that is not cached.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Sequence
from itertools import groupby
from pathlib import Path

from ..exceptions import ConfigError
from ..devices import resolve_device, resolve_dtype
from .base import ImageResult


class DiffusersGenerator:
    """The `diffusers` backend."""

    name = "diffusers"

    def __init__(self, model: str = "stabilityai/sd-turbo", steps: int | None = None, guidance: float = 7.5,
                 width: int | None = None, height: int | None = None, batch_size: int = 4,
                 device: str = "auto", dtype: str = "auto", **_ignored):
        try:
            import torch  # noqa: F401
            from diffusers import AutoPipelineForText2Image
        except ImportError:
            raise ConfigError("the diffusers backend needs diffusers and transformers: "
                              "pip install 'bffkit[diffusers]'") from None
        # 1. Check the model reference before loading anything
        path = Path(model).expanduser()
        if model.startswith(("/", "./", "../", "~")) or os.sep in model and path.parent.exists() and not path.exists():
            if not path.exists():
                raise ConfigError(f"generate.diffusers.model={model!r}: no such local path")
        if path.exists() and not (path / "model_index.json").exists():
            raise ConfigError(f"generate.diffusers.model={model!r}: not a diffusers pipeline folder "
                              "(no model_index.json)")
        # 2. Load through the same path real checkpoints use
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        try:
            with warnings.catch_warnings():
                # newer diffusers renamed `torch_dtype` to `dtype`; the old name works on every version
                warnings.filterwarnings("ignore", message=".*torch_dtype.*", category=FutureWarning)
                pipe = AutoPipelineForText2Image.from_pretrained(str(path) if path.exists() else model,
                                                                 torch_dtype=self.dtype)
        except (OSError, ValueError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ConfigError(f"generate.diffusers.model={model!r}: cannot load the pipeline: {first}") from None
        pipe.set_progress_bar_config(disable=True)
        self.pipe = pipe.to(self.device)
        self.model = model
        self.batch_size = max(1, int(batch_size))
        self.defaults = {"steps": steps, "guidance": guidance, "width": width, "height": height}

    def _call_args(self, spec) -> tuple[int, int, int, float]:
        p = spec.params
        width = int(p.get("width") or self.defaults["width"] or 512)
        height = int(p.get("height") or self.defaults["height"] or 512)
        steps = int(p.get("num_inference_steps") or self.defaults["steps"] or 30)
        guidance = float(p.get("guidance_scale", self.defaults["guidance"]))
        return width, height, steps, guidance

    def generate(self, specs: Sequence) -> Iterator[ImageResult]:
        import torch

        # Specs with the same size/steps/guidance share a batch; order is kept within a group.
        keyed = sorted(specs, key=self._call_args)
        gen_device = "cpu" if self.device == "mps" else self.device
        for (width, height, steps, guidance), group in groupby(keyed, key=self._call_args):
            group = list(group)
            for start in range(0, len(group), self.batch_size):
                chunk = group[start:start + self.batch_size]
                kwargs = dict(
                    prompt=[s.prompt for s in chunk], width=width, height=height, num_inference_steps=steps,
                    guidance_scale=guidance,
                    generator=[torch.Generator(device=gen_device).manual_seed(int(s.seed)) for s in chunk])
                if guidance > 1.0:  # classifier-free guidance is what reads the negative prompt
                    kwargs["negative_prompt"] = [s.negative_prompt for s in chunk]
                with torch.inference_mode():
                    out = self.pipe(**kwargs)
                flagged = getattr(out, "nsfw_content_detected", None) or [False] * len(chunk)
                for spec, image, nsfw in zip(chunk, out.images, flagged):
                    meta = {"model": self.model, "device": self.device, "dtype": str(self.dtype).removeprefix("torch."),
                            "steps": steps, "guidance_scale": guidance, "batch": len(chunk)}
                    if nsfw:
                        yield ImageResult(spec.index, error="refused: flagged by the pipeline's safety checker",
                                          metadata=meta, permanent=True)
                    else:
                        yield ImageResult(spec.index, image=image, metadata=meta)

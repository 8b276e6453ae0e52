"""`sketch`: the offline default backend, drawing each spec with the procedural renderer
(:mod:`bffkit.synth`)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from ..synth import RENDERER, SketchRenderer
from .base import ImageResult


class SketchGenerator:
    """The offline `sketch` backend: specs in, rendered flats and metadata out."""

    name = "sketch"

    def __init__(self, width: int = 256, height: int = 256, defect_rate: float = 0.15, **_ignored):
        self.width, self.height, self.defect_rate = width, height, defect_rate
        self.model = RENDERER

    def generate(self, specs: Sequence) -> Iterator[ImageResult]:
        renderers: dict[tuple[int, int], SketchRenderer] = {}
        for spec in specs:
            size = (int(spec.params.get("width", self.width)), int(spec.params.get("height", self.height)))
            renderer = renderers.setdefault(size, SketchRenderer(*size, defect_rate=self.defect_rate))
            image, meta = renderer.render(spec.attributes, spec.seed)
            yield ImageResult(spec_index=spec.index, image=image, metadata=meta)

"""What every generation backend is: specs in, one :class:`ImageResult` per spec out."""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ..prompts import PromptSpec


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


def encode_png(image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()

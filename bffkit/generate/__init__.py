"""Image-generation backends: `sketch` (offline default), `diffusers`, `openai`, and plug-ins.

A backend is any object with a ``name``, a ``model`` and ``generate(specs)`` yielding one
:class:`ImageResult` per spec (:mod:`.base`). A third party adds one through the
``bffkit.generators`` entry-point group (a Midjourney backend would arrive that way: it has no
public API). :func:`get_generator` is the one factory. The generate stage
(:mod:`bffkit.stages.generate`) drives a backend over a stored job.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from ..exceptions import ConfigError
from ..registry import ENTRY_POINT_GROUP, available_generators
from .base import Generator, ImageResult, encode_png

__all__ = ["Generator", "ImageResult", "encode_png", "get_generator"]


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

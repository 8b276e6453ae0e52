"""Names of the image-generation backends: the built-in ones plus the `bffkit.generators`
entry-point group, through which a third party adds one (Midjourney has no public API, so a
Midjourney backend would arrive this way)."""

from __future__ import annotations

from importlib.metadata import entry_points

BUILTIN_GENERATORS = ("sketch", "diffusers", "openai")
ENTRY_POINT_GROUP = "bffkit.generators"


def available_generators() -> list[str]:
    """Built-in backend names first, then installed plug-ins, without duplicates."""
    plugins = sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
    return list(dict.fromkeys([*BUILTIN_GENERATORS, *plugins]))

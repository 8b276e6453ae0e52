"""Colours and backgrounds the renderer draws with, and the small colour arithmetic it needs."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

COLORS: dict[str, tuple[int, int, int]] = {
    "black": (28, 28, 30), "white": (246, 246, 244), "ivory": (236, 224, 180), "grey": (128, 130, 134),
    "navy": (26, 40, 100), "blue": (40, 88, 200), "light blue": (150, 192, 232), "teal": (22, 138, 140),
    "green": (40, 150, 60), "sage": (156, 180, 140), "olive": (112, 116, 46), "emerald": (8, 112, 76),
    "red": (200, 28, 36), "burgundy": (110, 20, 40), "pink": (236, 72, 150), "blush": (236, 180, 182),
    "orange": (238, 118, 26), "coral": (246, 128, 108), "yellow": (248, 214, 40), "mustard": (206, 160, 30),
    "purple": (110, 44, 150), "lavender": (190, 166, 226), "brown": (108, 66, 36), "camel": (196, 154, 104),
    "gold": (212, 175, 55), "silver": (192, 192, 200),
}
OUTLINE = (34, 34, 38)
# The least luminance difference between a print's marks and its ground (0-255 scale)
PRINT_CONTRAST = 60

BACKGROUNDS: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = {
    # (top colour, bottom colour) of a vertical gradient
    "plain white": ((252, 252, 252), (244, 244, 244)),
    "studio grey": ((214, 214, 216), (170, 170, 174)),
    "pastel backdrop": ((250, 224, 230), (226, 236, 250)),
    "urban street": ((176, 180, 188), (96, 96, 100)),
    "nature": ((196, 226, 178), (92, 140, 70)),
    "runway": ((40, 40, 48), (150, 150, 156)),
    "interior": ((236, 224, 204), (188, 164, 132)),
    "seaside": ((160, 206, 240), (232, 214, 170)),
}



@lru_cache(maxsize=64)
def gradient(top: tuple[int, int, int], bottom: tuple[int, int, int], w: int, h: int) -> np.ndarray:
    t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    col = (1 - t) * np.array(top, np.float32) + t * np.array(bottom, np.float32)
    return np.broadcast_to(col, (h, w, 3)).astype(np.uint8)


@lru_cache(maxsize=8)
def grid(w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    return np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))


def mix(a, b, t: float) -> tuple[int, int, int]:
    return tuple(int(round(x * (1 - t) + y * t)) for x, y in zip(a, b))


def luminance(color) -> float:
    return 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]


def contrast(color) -> tuple[int, int, int]:
    return (250, 250, 248) if luminance(color) < 140 else (30, 30, 34)


def jitter_color(name: str, rng) -> tuple[int, int, int]:
    """A named colour, jittered by the seed (unknown names draw navy)."""
    r, g, b = COLORS.get(name, COLORS["navy"])
    j = rng.integers(-8, 9, size=3)
    return tuple(int(np.clip(c + d, 0, 255)) for c, d in zip((r, g, b), j))

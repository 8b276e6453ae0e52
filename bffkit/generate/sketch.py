"""`sketch`: a procedural renderer of fashion flats, the offline default backend.

It draws what a spec asks for — garment category silhouette, length, sleeve length and type,
neckline, fit, waistline, primary and secondary colour, pattern, fabric hint, background —
so every later stage has real, checkable images on a machine with no network and no GPU.

Rendering is deterministic for (attributes, seed); the seed jitters position, scale, colour
and pattern phase so two seeds differ. Like a real generator it sometimes fails: with
probability `defect_rate` the image gets one of a few realistic failure modes (wrong colour,
cropped, smudged, missing sleeves), recorded in the metadata as ground truth.

Coordinates below are fractions of the canvas (x right, y down); `_Frame` maps them to
pixels through the seeded jitter.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter

DEFECT_MODES = ("wrong_color", "cropped", "smudged", "missing_sleeves")

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
# The drawing's version, recorded with every image (`meta["renderer"]`, the generator's model name)
RENDERER = "sketch-v6"

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

FIT_WIDTH = {"slim": 0.86, "regular": 1.0, "relaxed": 1.12, "oversized": 1.28, "tailored": 0.93}
DRESS_LENGTH = {"mini": 0.52, "above-knee": 0.6, "knee-length": 0.68, "midi": 0.79, "maxi": 0.9, "floor-length": 0.96}
TOP_LENGTH = {"cropped": 0.36, "hip-length": 0.53, "longline": 0.63, "tunic": 0.67}
LEG_END = {"full-length": 0.95, "ankle": 0.89, "cropped": 0.8, "capri": 0.72}
SLEEVE_LENGTH = {"short": 0.1, "elbow": 0.2, "three-quarter": 0.28, "long": 0.38, "extra-long": 0.46}
WAIST_Y = {"empire waist": 0.29, "high waist": 0.33, "natural waist": 0.39, "basque waist": 0.42, "drop waist": 0.5}
# hem half-width of a skirt part (at the hem), relative to the waist
SKIRT_FLARE = {
    "a-line": 0.24, "sheath": 0.145, "shift": 0.18, "fit and flare": 0.31, "bodycon": 0.125,
    "mermaid": 0.28, "trumpet": 0.25, "peplum": 0.16, "tent": 0.33, "balloon": 0.17, "slip": 0.19,
    "ball gown": 0.4,
}
# (half-width at the hem, half-width at the knee) of one trouser leg
LEG_SHAPE = {
    "skinny": (0.038, 0.048), "straight": (0.068, 0.07), "wide-leg": (0.118, 0.1), "flared": (0.125, 0.058),
    "bootcut": (0.085, 0.06), "tapered": (0.042, 0.066), "barrel": (0.06, 0.1),
}
# sleeve shape: (width at shoulder, width in the middle, width at the end) as canvas fractions
SLEEVE_TYPE = {
    "set-in": (0.1, 0.085, 0.075), "puff": (0.16, 0.12, 0.07), "bishop": (0.1, 0.14, 0.06),
    "bell": (0.1, 0.11, 0.19), "cap": (0.1, 0.1, 0.1), "raglan": (0.11, 0.09, 0.075),
    "kimono": (0.16, 0.15, 0.15), "lantern": (0.09, 0.17, 0.07), "batwing": (0.26, 0.12, 0.065),
    "flutter": (0.1, 0.14, 0.2), "leg-of-mutton": (0.17, 0.1, 0.06),
}
CATEGORY_DEFAULTS: dict[str, dict[str, str]] = {
    "dress": {"length": "knee-length", "sleeve_length": "short", "neckline": "crew", "silhouette": "a-line"},
    "jumpsuit": {"sleeve_length": "sleeveless", "neckline": "v-neck", "leg_shape": "wide-leg"},
    "top": {"sleeve_length": "sleeveless", "neckline": "scoop", "top_length": "cropped"},
    "t-shirt": {"sleeve_length": "short", "neckline": "crew"},
    "shirt": {"sleeve_length": "long", "neckline": "crew", "collar_type": "point collar"},
    "blouse": {"sleeve_length": "long", "neckline": "v-neck"},
    "sweater": {"sleeve_length": "long", "neckline": "crew"},
    "cardigan": {"sleeve_length": "long", "neckline": "v-neck", "opening_type": "button-front"},
    "hoodie": {"sleeve_length": "long", "neckline": "crew", "hood": "hooded", "pocket_type": "kangaroo pocket"},
    "trousers": {"leg_shape": "straight", "leg_length": "full-length"},
    "jeans": {"leg_shape": "straight", "leg_length": "full-length", "fit": "slim"},
    "skirt": {"length": "knee-length", "silhouette": "a-line"},
    "shorts": {"leg_shape": "straight"},
    "coat": {"sleeve_length": "long", "length": "knee-length", "lapel_type": "notched lapel",
             "opening_type": "single-breasted"},
    "jacket": {"sleeve_length": "long", "top_length": "hip-length", "opening_type": "zip-front"},
    "blazer": {"sleeve_length": "long", "lapel_type": "notched lapel", "opening_type": "single-breasted"},
}
# How far below the neck point each neckline's cut reaches: `_neckline` cuts to these depths and
# a blouse's bow and a t-shirt's label sit under them. The bodice's top edge lies 0.02 below the
# neck point, so a shallower cut is a pixel or two at the embedder's 112 px: sketch-v3's boat
# (0.022) and crew (0.035) were all but invisible and read as one another.
NECKLINE_DEPTH = {"crew": 0.06, "scoop": 0.13, "boat": 0.045, "v-neck": 0.12, "plunging": 0.24, "square": 0.1,
                  "keyhole": 0.16, "cowl": 0.06}
# The garment is drawn this much wider than tall (sketch-v6): a flat filled under a third of the
# canvas's width, so a print showed a few repeats at the embedder's 112 px. Drawn 1.2x wider, the
# probe (an image tower with linear heads, 400 steps) read pattern 0.733 instead of 0.699, neckline
# 0.606 instead of 0.593; sleeves hang steeper (SLEEVE_ANGLE) so that long ones stay on the canvas.
STRETCH = 1.2
# Degrees from vertical a sleeve hangs at (kimono and batwing sleeves spread wider); with the
# stretch, 18 looks like sketch-v5's 28 and reaches as far out.
SLEEVE_ANGLE = {"default": 18, "kimono": 40, "batwing": 40}
# Half-widths of the round cuts: a boat neck runs nearly shoulder to shoulder, a crew hugs the neck.
NECKLINE_HALF_WIDTH = {"crew": 0.065, "scoop": 0.095, "boat": 0.14}
UPPER = {"top", "t-shirt", "shirt", "blouse", "sweater", "cardigan", "hoodie", "jacket", "blazer", "coat"}
SURFACE_FROM_MATERIAL = {"denim": "denim twill", "satin": "satin sheen", "silk": "satin sheen",
                         "knit": "knit rib", "organza": "sheer", "tulle": "sheer", "chiffon": "sheer"}


@dataclass
class _Frame:
    """Maps canvas fractions to pixels through the seeded jitter (scale about the centre, shift)."""

    width: int
    height: int
    scale: float = 1.0
    dx: float = 0.0
    dy: float = 0.0
    stretch: float = 1.0  # horizontal only: lengths are read off the vertical

    def __call__(self, x: float, y: float) -> tuple[float, float]:
        return (((x - 0.5) * self.scale * self.stretch + 0.5 + self.dx) * self.width,
                ((y - 0.5) * self.scale + 0.5 + self.dy) * self.height)

    def pts(self, points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
        return [self(x, y) for x, y in points]

    def box(self, x0: float, y0: float, x1: float, y1: float) -> list[float]:
        (a, b), (c, d) = self(x0, y0), self(x1, y1)
        return [min(a, c), min(b, d), max(a, c), max(b, d)]

    def len(self, v: float) -> float:
        return v * self.scale * min(self.width, self.height)


@lru_cache(maxsize=64)
def _gradient(top: tuple[int, int, int], bottom: tuple[int, int, int], w: int, h: int) -> np.ndarray:
    t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    col = (1 - t) * np.array(top, np.float32) + t * np.array(bottom, np.float32)
    return np.broadcast_to(col, (h, w, 3)).astype(np.uint8)


@lru_cache(maxsize=8)
def _grid(w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    return np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))


def _mix(a, b, t: float) -> tuple[int, int, int]:
    return tuple(int(round(x * (1 - t) + y * t)) for x, y in zip(a, b))


def _luminance(color) -> float:
    return 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]


def _chest_point(mask: Image.Image) -> tuple[float, float]:
    """Where a graphic goes: the garment pixel nearest to a point 30% down its bounding box, centred
    (read from the garment's own mask, so it lands on a top's chest and on a skirt or trousers alike)."""
    m = np.asarray(mask) > 127
    ys, xs = np.nonzero(m)
    if not len(xs):
        return m.shape[1] / 2, m.shape[0] * 0.38
    tx, ty = (xs.min() + xs.max()) / 2, ys.min() + 0.3 * (ys.max() - ys.min())
    k = int(np.argmin((xs - tx) ** 2 + (ys - ty) ** 2))
    return float(xs[k]), float(ys[k])


def _contrast(color) -> tuple[int, int, int]:
    return (250, 250, 248) if _luminance(color) < 140 else (30, 30, 34)


def _max_filter(img: Image.Image, size: int) -> Image.Image:
    """``img.filter(ImageFilter.MaxFilter(size))`` on an "L" image, pixel for pixel (edges
    repeated), as a row pass then a column pass: 0.1 ms instead of PIL's 4-5 ms at 256 px, which
    was a third of a patterned sketch's drawing time."""
    r = size // 2
    padded = np.pad(np.asarray(img), r, mode="edge")
    h, w = padded.shape[0] - 2 * r, padded.shape[1] - 2 * r
    rows = padded[:h].copy()
    for k in range(1, size):
        np.maximum(rows, padded[k:k + h], out=rows)
    out = rows[:, :w].copy()
    for k in range(1, size):
        np.maximum(out, rows[:, k:k + w], out=out)
    return Image.fromarray(out)


class SketchRenderer:
    """Renders one fashion flat for a set of VLT attributes.

    Parameters
    ----------
    width, height : int
        Canvas size in pixels (256 x 256 by default).
    defect_rate : float in [0, 1]
        Probability that an image gets a failure mode (recorded in the metadata).
    """

    def __init__(self, width: int = 256, height: int = 256, defect_rate: float = 0.15):
        if not 0.0 <= defect_rate <= 1.0:
            raise ValueError(f"`defect_rate` must be in [0, 1]; got {defect_rate}")
        self.width, self.height, self.defect_rate = int(width), int(height), float(defect_rate)

    # ------------------------------------------------------------------ public
    def render(self, attributes: Mapping[str, str], seed: int) -> tuple[Image.Image, dict]:
        """Draw the garment; returns the RGB image and metadata (defect, what was drawn)."""
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5E7C4]))
        attrs = dict(CATEGORY_DEFAULTS.get(attributes.get("category", "dress"), {}))
        attrs.update({k: v for k, v in attributes.items() if v is not None})
        attrs.setdefault("category", "dress")
        drawn = dict(attrs)

        # 1. Decide the failure mode (ground truth for quality filtering)
        defect = None
        if rng.random() < self.defect_rate:
            modes = list(DEFECT_MODES)
            if attrs.get("sleeve_length") in (None, "sleeveless") or attrs["category"] in ("trousers", "jeans", "skirt", "shorts"):
                modes.remove("missing_sleeves")
            defect = modes[int(rng.integers(len(modes)))]
        primary = attrs.get("primary_color", "navy")
        if defect == "wrong_color":
            others = [c for c in COLORS if c != primary and c != attrs.get("secondary_color")]
            primary = others[int(rng.integers(len(others)))]
            drawn["primary_color"] = primary
        if defect == "missing_sleeves":
            drawn["sleeve_length"] = "sleeveless"

        # 2. Jitter and canvas
        frame = _Frame(self.width, self.height, scale=float(rng.uniform(0.92, 1.02)),
                       dx=float(rng.uniform(-0.025, 0.025)), dy=float(rng.uniform(-0.02, 0.02)), stretch=STRETCH)
        if defect == "cropped":
            side = int(rng.integers(4))
            frame.scale *= float(rng.uniform(1.25, 1.6))
            shift = float(rng.uniform(0.28, 0.4))
            frame.dx, frame.dy = [(shift, 0), (-shift, 0), (0, shift), (0, -shift)][side]
        base = self._color(primary, rng)
        secondary = self._color(self._print_color(primary, attrs, drawn), rng)
        canvas = self._background(attrs.get("background", "plain white"), rng)

        # 3. Garment mask, then fill it with the pattern and fabric finish
        mask = Image.new("L", (self.width, self.height), 0)
        details = Image.new("L", (self.width, self.height), 0)
        self._draw_garment(ImageDraw.Draw(mask), ImageDraw.Draw(details), frame, drawn, rng)
        texture = self._pattern(attrs.get("pattern", "solid"), attrs, base, secondary, rng, mask)
        surface = attrs.get("surface") or SURFACE_FROM_MATERIAL.get(attrs.get("material", ""))
        if surface is None and primary in ("gold", "silver"):
            # gold and silver garments are lamé: the sheen is what tells gold from mustard and
            # silver from white or grey
            surface = drawn["surface"] = "metallic"
        texture = self._surface(texture, surface, rng)
        # sheer fabric lets the ground through, but not so much that its colour turns into another
        alpha = mask if surface != "sheer" else mask.point(lambda v: v * 190 // 255)
        canvas.paste(texture, (0, 0), alpha)

        # 4. Outline and construction lines
        # Construction lines inside the garment take the colour that shows on it (light on a
        # navy coat, dark on a white shirt) on a band of the ground colour, so that a print
        # cannot swallow them; the silhouette keeps the dark outline.
        edges = mask.filter(ImageFilter.FIND_EDGES).point(lambda v: 255 if v > 40 else 0)
        if attrs.get("pattern", "solid") != "solid":
            canvas.paste(base, (0, 0), ImageChops.multiply(_max_filter(details, 5), alpha))
        canvas.paste(_contrast(base), (0, 0), ImageChops.multiply(details, mask))
        canvas.paste(OUTLINE, (0, 0), ImageChops.lighter(edges, ImageChops.subtract(details, mask)))

        # 5. Failure modes that act on the finished image
        if defect == "smudged":
            canvas = self._smudge(canvas, rng)
        meta = {"renderer": RENDERER, "defect": defect, "rendered": drawn}
        return canvas, meta

    # ------------------------------------------------------------------ colour and background
    def _color(self, name: str, rng) -> tuple[int, int, int]:
        r, g, b = COLORS.get(name, COLORS["navy"])
        j = rng.integers(-8, 9, size=3)
        return tuple(int(np.clip(c + d, 0, 255)) for c, d in zip((r, g, b), j))

    @staticmethod
    def _print_color(primary: str, attrs: Mapping[str, str], drawn: dict) -> str:
        """The colour a print's marks are drawn in: the secondary colour if it shows on the ground.

        A print in a colour as light or dark as its ground does not show (navy stripes on black,
        red dots on blue: no print at all at the embedder's 112 px, or in greyscale), so such a
        secondary gives way to the default one (white on dark grounds, navy on light ones; for
        animal prints black on light grounds, camel on dark ones) and `drawn` records the colour used.
        """
        lum = _luminance(COLORS.get(primary, COLORS["navy"]))
        if attrs.get("pattern") == "animal print":
            default = "black" if lum > 100 else "camel"
        else:
            default = "white" if lum < 140 else "navy"
        wanted = attrs.get("secondary_color")
        if wanted is None:
            return default
        if attrs.get("pattern", "solid") != "solid" and \
                abs(_luminance(COLORS.get(wanted, COLORS["navy"])) - lum) < PRINT_CONTRAST:
            drawn["secondary_color"] = default
            return default
        return wanted

    def _background(self, name: str, rng) -> Image.Image:
        top, bottom = BACKGROUNDS.get(name, BACKGROUNDS["plain white"])
        arr = _gradient(top, bottom, self.width, self.height)
        img = Image.fromarray(arr, "RGB")
        if name in ("urban street", "runway", "seaside", "nature"):
            d = ImageDraw.Draw(img)
            y = int(self.height * float(rng.uniform(0.8, 0.86)))
            d.line([(0, y), (self.width, y)], fill=_mix(bottom, (0, 0, 0), 0.25), width=2)
        return img

    # ------------------------------------------------------------------ garments
    def _draw_garment(self, m: ImageDraw.ImageDraw, d: ImageDraw.ImageDraw, f: _Frame, a: dict, rng) -> None:
        cat = a["category"]
        fit = FIT_WIDTH.get(a.get("fit", "regular"), 1.0)
        # construction lines 3 px at 256: the embedder sees the flat at 112 px, where the 1-2 px
        # lines of sketch-v2 fell under a pixel and the marks that tell a t-shirt from a top were lost
        lw = max(1, int(round(f.len(0.011))))
        if cat in ("trousers", "jeans", "shorts"):
            self._trousers(m, d, f, a, fit, top=0.16, lw=lw, shorts=cat == "shorts")
            if cat == "jeans":
                self._jeans_details(m, d, f, fit, lw)
            return
        if cat == "skirt":
            self._skirt(m, d, f, a, fit, waist_y=0.2, waist_w=0.13 * fit, lw=lw)
            return
        # upper body: tops, dresses, jumpsuits, outerwear
        neck_y = 0.13
        waist_y = WAIST_Y.get(a.get("waistline", "natural waist"), 0.39)
        if cat == "dress":
            hem_y = waist_y + 0.04
        elif cat == "jumpsuit":
            hem_y = 0.42
            waist_y = 0.4
        elif cat == "coat":
            hem_y = DRESS_LENGTH.get(a.get("length", "knee-length"), 0.68)
        else:
            default = {"blazer": "longline", "jacket": "hip-length", "top": "hip-length"}.get(cat, "hip-length")
            hem_y = TOP_LENGTH.get(a.get("top_length", default), 0.53)
            if cat == "blazer" and "top_length" not in a:
                hem_y = 0.58
        if cat in ("coat", "jacket", "blazer"):
            fit *= 1.06
        self._bodice(m, d, f, a, fit, neck_y, waist_y, hem_y, lw)
        if cat == "dress":
            self._skirt(m, d, f, a, fit, waist_y=waist_y, waist_w=0.125 * fit, lw=lw, seam=True)
        elif cat == "jumpsuit":
            self._trousers(m, d, f, a, fit, top=0.4, lw=lw, shorts=False)
            d.line(f.pts([(0.5 - 0.125 * fit, 0.41), (0.5 + 0.125 * fit, 0.41)]), fill=255, width=lw)
        self._upper_details(m, d, f, a, fit, neck_y, waist_y, hem_y, lw)

    def _bodice(self, m, d, f, a, fit, neck_y, waist_y, hem_y, lw) -> None:
        neckline = a.get("neckline", "crew")
        waist_y = min(waist_y, hem_y - 0.02)  # a cropped top ends above the natural waist
        sw = 0.165 * fit
        ww, hw = self._body_half_widths(a, fit, waist_y, hem_y)
        top_y = neck_y
        if neckline in ("strapless", "off-the-shoulder", "sweetheart"):
            top_y = 0.2
        armpit_y = 0.27
        left = [(0.5 - sw, top_y + 0.02), (0.5 - sw + 0.012, armpit_y), (0.5 - ww, waist_y), (0.5 - hw, hem_y)]
        right = [(1 - x, y) for x, y in reversed(left)]
        if neckline in ("strapless", "off-the-shoulder", "sweetheart"):
            left[0] = (0.5 - ww - 0.02, top_y)
            right[-1] = (0.5 + ww + 0.02, top_y)
        if neckline == "one-shoulder":
            right[-1] = (0.5 + ww + 0.02, 0.22)
        if neckline == "halter":
            left[0], right[-1] = (0.5 - ww, 0.2), (0.5 + ww, 0.2)
        m.polygon(f.pts(left + right), fill=255)
        if neckline == "halter":
            m.polygon(f.pts([(0.47, 0.09), (0.53, 0.09), (0.5 + ww * 0.7, 0.21), (0.5 - ww * 0.7, 0.21)]), fill=255)
        sleeves = a.get("sleeve_length", "sleeveless")
        if sleeves != "sleeveless" and neckline not in ("strapless", "halter"):
            for side in (-1, 1):
                if neckline == "one-shoulder" and side == 1:
                    continue
                self._sleeve(m, d, f, a, side, sw, top_y, armpit_y, lw)
        elif neckline not in ("strapless", "halter", "one-shoulder", "off-the-shoulder", "sweetheart"):
            straps = a.get("strap_type")
            if straps == "spaghetti straps":
                for side in (-1, 1):  # thin straps: cut the shoulder away except a line
                    m.polygon(f.pts([(0.5 + side * 0.07, top_y - 0.01), (0.5 + side * (sw + 0.02), top_y - 0.01),
                                     (0.5 + side * (sw + 0.02), 0.21), (0.5 + side * 0.105, 0.21)]), fill=0)
                    m.line(f.pts([(0.5 + side * 0.085, top_y), (0.5 + side * 0.1, 0.21)]), fill=255, width=lw + 1)
        self._neckline(m, d, f, neckline, top_y, lw)

    @staticmethod
    def _body_half_widths(a, fit, waist_y, hem_y) -> tuple[float, float]:
        """Half-widths of an upper body at the waist and at the hem (eased over the hip when the
        hem falls below it)."""
        ww = (0.12 if a.get("silhouette") == "bodycon" else 0.13) * fit
        return ww, (max(ww, 0.145 * fit) if hem_y > waist_y + 0.06 else ww)

    def _sleeve(self, m, d, f, a, side, sw, top_y, armpit_y, lw) -> None:
        length = SLEEVE_LENGTH.get(a.get("sleeve_length", "long"), 0.38)
        w0, wm, w1 = SLEEVE_TYPE.get(a.get("sleeve_type", "set-in"), SLEEVE_TYPE["set-in"])
        if a.get("sleeve_type") == "cap":
            length = min(length, 0.06)
        shoulder = (0.5 + side * sw, top_y + 0.02)
        armpit = (0.5 + side * (sw - 0.012), armpit_y)
        if a.get("sleeve_type") == "batwing":
            armpit = (0.5 + side * (sw - 0.04), 0.38)
        # the sleeve hangs down and outwards (about 22 degrees from vertical once stretched)
        ang = math.radians(SLEEVE_ANGLE.get(a.get("sleeve_type"), SLEEVE_ANGLE["default"]))
        ux, uy = side * math.sin(ang), math.cos(ang)
        nx, ny = uy * side, -ux * side  # normal pointing up/out
        cx, cy = (shoulder[0] + armpit[0]) / 2, (shoulder[1] + armpit[1]) / 2
        cx += side * 0.01
        mid = (cx + ux * length * 0.5, cy + uy * length * 0.5)
        end = (cx + ux * length, cy + uy * length)

        def off(p, w, s):
            return (p[0] + s * nx * w / 2, p[1] + s * ny * w / 2)

        outer = [shoulder, off(mid, wm, 1), off(end, w1, 1)]
        inner = [off(end, w1, -1), off(mid, wm, -1), armpit]
        m.polygon(f.pts(outer + inner), fill=255)
        if a.get("sleeve_type") in ("puff", "leg-of-mutton"):
            m.ellipse(f.box(cx - 0.05 + side * 0.02, cy - 0.05, cx + 0.05 + side * 0.02, cy + 0.05), fill=255)
        if a.get("cuff_type") or a.get("category") in ("shirt", "sweater", "hoodie", "cardigan"):
            c0, c1 = off(end, w1 * 0.9, 1), off(end, w1 * 0.9, -1)
            back = (-ux * 0.03, -uy * 0.03)
            d.line(f.pts([(c0[0] + back[0], c0[1] + back[1]), (c1[0] + back[0], c1[1] + back[1])]), fill=255, width=lw)
        if a.get("sleeve_type") == "raglan":
            d.line(f.pts([(0.5 + side * 0.05, top_y + 0.005), armpit]), fill=255, width=lw)

    def _neckline(self, m, d, f, neckline, top_y, lw) -> None:
        y, depth = top_y, NECKLINE_DEPTH

        def oval(name):
            hw = NECKLINE_HALF_WIDTH[name]
            return f.box(0.5 - hw, y - 0.03, 0.5 + hw, y + depth[name])

        cut = {
            "crew": lambda: m.ellipse(oval("crew"), fill=0),
            "scoop": lambda: m.ellipse(oval("scoop"), fill=0),
            "boat": lambda: m.ellipse(oval("boat"), fill=0),
            "v-neck": lambda: m.polygon(f.pts([(0.43, y - 0.01), (0.57, y - 0.01), (0.5, y + depth["v-neck"])]), fill=0),
            "plunging": lambda: m.polygon(f.pts([(0.43, y - 0.01), (0.57, y - 0.01), (0.5, y + depth["plunging"])]),
                                           fill=0),
            "square": lambda: m.rectangle(f.box(0.41, y - 0.01, 0.59, y + depth["square"]), fill=0),
            # a small round neck and, apart from it, the keyhole itself (joined, they read as a V)
            "keyhole": lambda: (m.ellipse(f.box(0.45, y - 0.03, 0.55, y + 0.045), fill=0),
                                m.ellipse(f.box(0.46, y + 0.075, 0.54, y + depth["keyhole"]), fill=0)),
            "cowl": lambda: m.ellipse(f.box(0.42, y - 0.05, 0.58, y + depth["cowl"]), fill=0),
            "sweetheart": lambda: (m.ellipse(f.box(0.36, y - 0.04, 0.5, y + 0.025), fill=0),
                                   m.ellipse(f.box(0.5, y - 0.04, 0.64, y + 0.025), fill=0),
                                   m.polygon(f.pts([(0.47, y), (0.53, y), (0.5, y + 0.045)]), fill=0)),
            "halter": lambda: m.polygon(f.pts([(0.47, 0.1), (0.53, 0.1), (0.5, 0.25)]), fill=0),
        }
        if neckline in cut:
            cut[neckline]()
        if neckline == "cowl":
            for k in range(3):
                d.arc(f.box(0.43, y - 0.02 + k * 0.025, 0.57, y + 0.05 + k * 0.025), 20, 160, fill=255, width=lw)
        if neckline in ("turtleneck", "high neck"):
            h = 0.07 if neckline == "turtleneck" else 0.035
            m.rectangle(f.box(0.445, y - h, 0.555, y + 0.01), fill=255)
            if neckline == "turtleneck":
                for k in (1, 2):
                    d.line(f.pts([(0.445, y - h * k / 3), (0.555, y - h * k / 3)]), fill=255, width=lw)
        if neckline == "off-the-shoulder":
            d.line(f.pts([(0.3, 0.22), (0.7, 0.22)]), fill=255, width=lw)

    def _skirt(self, m, d, f, a, fit, waist_y, waist_w, lw, seam=False) -> None:
        sil = a.get("silhouette", "a-line")
        hem_y = DRESS_LENGTH.get(a.get("length", "knee-length"), 0.68)
        if a.get("category") == "skirt":
            hem_y -= 0.06  # a skirt alone starts higher on the canvas
        hw = SKIRT_FLARE.get(sil, 0.24) * max(fit, 0.95)
        wl, wr = 0.5 - waist_w, 0.5 + waist_w
        if sil in ("mermaid", "trumpet"):
            knee = waist_y + (hem_y - waist_y) * (0.62 if sil == "mermaid" else 0.5)
            pts = [(wl, waist_y), (0.5 - waist_w * 1.15, knee - 0.06), (0.5 - waist_w * 0.9, knee), (0.5 - hw, hem_y),
                   (0.5 + hw, hem_y), (0.5 + waist_w * 0.9, knee), (0.5 + waist_w * 1.15, knee - 0.06), (wr, waist_y)]
        elif sil == "balloon":
            mid = (waist_y + hem_y) / 2
            pts = [(wl, waist_y), (0.5 - hw * 1.5, mid), (0.5 - hw * 0.85, hem_y), (0.5 + hw * 0.85, hem_y),
                   (0.5 + hw * 1.5, mid), (wr, waist_y)]
        else:
            pts = [(wl, waist_y), (0.5 - hw, hem_y), (0.5 + hw, hem_y), (wr, waist_y)]
        m.polygon(f.pts(pts), fill=255)
        if sil == "peplum":
            m.polygon(f.pts([(wl, waist_y), (0.5 - waist_w - 0.07, waist_y + 0.08), (0.5 + waist_w + 0.07, waist_y + 0.08),
                             (wr, waist_y)]), fill=255)
            d.line(f.pts([(0.5 - waist_w - 0.05, waist_y + 0.07), (0.5 + waist_w + 0.05, waist_y + 0.07)]),
                   fill=255, width=lw)
        if seam or a.get("category") == "skirt":
            d.line(f.pts([(wl, waist_y), (wr, waist_y)]), fill=255, width=lw)
        if a.get("category") == "skirt":
            m.rectangle(f.box(wl, waist_y - 0.025, wr, waist_y), fill=255)
        if a.get("finishing") == "pleated" or sil in ("fit and flare", "ball gown"):
            n = 7
            for k in range(1, n):
                t = k / n
                x0 = wl + (wr - wl) * t
                x1 = (0.5 - hw) + 2 * hw * t
                d.line(f.pts([(x0, waist_y + 0.02), (x1, hem_y - 0.01)]), fill=255, width=max(1, lw - 1))
        if a.get("finishing") == "tiered":
            for t in (1 / 3, 2 / 3):
                y = waist_y + (hem_y - waist_y) * t
                half = waist_w + (hw - waist_w) * t
                d.line(f.pts([(0.5 - half, y), (0.5 + half, y)]), fill=255, width=lw)
        self._slit(m, a, f, hem_y, hw)

    def _slit(self, m, a, f, hem_y, hw) -> None:
        slit = a.get("slit")
        if not slit:
            return
        x = {"side slit": 0.5 - hw * 0.8, "thigh-high slit": 0.5 - hw * 0.5}.get(slit, 0.5)
        depth = 0.22 if slit == "thigh-high slit" else 0.1
        m.polygon(f.pts([(x - 0.02, hem_y + 0.01), (x + 0.02, hem_y + 0.01), (x, hem_y - depth)]), fill=0)

    def _trousers(self, m, d, f, a, fit, top, lw, shorts) -> None:
        hem_w, knee_w = LEG_SHAPE.get(a.get("leg_shape", "straight"), LEG_SHAPE["straight"])
        waist_w = 0.14 * fit
        crotch = top + 0.18
        end = 0.44 if shorts else LEG_END.get(a.get("leg_length", "full-length"), 0.95)
        if shorts:
            hem_w = max(hem_w, 0.085) * fit
        knee = crotch + (end - crotch) * 0.45
        for side in (-1, 1):
            c_hem = 0.5 + side * (waist_w * 0.55 + (0.02 if shorts else 0.0))
            c_knee = 0.5 + side * waist_w * 0.5
            outer_hip = (0.5 + side * waist_w * 1.05, crotch - 0.04)
            leg = [(0.5, top), (0.5 + side * waist_w, top), outer_hip]
            if not shorts:
                leg.append((c_knee + side * knee_w * fit, knee))
            leg += [(c_hem + side * hem_w * fit, end), (c_hem - side * hem_w * fit, end)]
            if not shorts:
                leg.append((c_knee - side * knee_w * fit, knee))
            leg += [(0.5 + side * 0.008, crotch), (0.5, crotch)]
            m.polygon(f.pts(leg), fill=255)
        m.rectangle(f.box(0.5 - waist_w, top, 0.5 + waist_w, top + 0.035), fill=255)
        d.line(f.pts([(0.5 - waist_w, top + 0.035), (0.5 + waist_w, top + 0.035)]), fill=255, width=lw)
        d.line(f.pts([(0.5, top + 0.035), (0.5, crotch - 0.03)]), fill=255, width=lw)
        if a.get("pocket_type") == "cargo pockets" and not shorts:
            for side in (-1, 1):
                x = 0.5 + side * (waist_w * 0.55 + knee_w * 0.5)
                d.rectangle(f.box(x - 0.035, knee - 0.06, x + 0.035, knee + 0.02), outline=255, width=lw)

    def _jeans_details(self, m, d, f, fit, lw) -> None:
        waist_w = 0.14 * fit
        for k in range(5):  # belt loops stand above the waistband
            x = 0.5 - waist_w * 0.9 + k * waist_w * 0.45
            m.rectangle(f.box(x - 0.008, 0.135, x + 0.008, 0.2), fill=255)
            d.rectangle(f.box(x - 0.008, 0.135, x + 0.008, 0.2), outline=255, width=max(1, lw - 1))
        for side in (-1, 1):  # scooped front pockets
            d.arc(f.box(0.5 + side * 0.16 - 0.07, 0.14, 0.5 + side * 0.16 + 0.07, 0.28),
                  90 if side < 0 else 0, 180 if side < 0 else 90, fill=255, width=lw)
        d.rectangle(f.box(0.5 + waist_w * 0.45, 0.21, 0.5 + waist_w * 0.75, 0.245), outline=255, width=max(1, lw - 1))

    def _upper_details(self, m, d, f, a, fit, neck_y, waist_y, hem_y, lw) -> None:
        cat = a["category"]
        opening = a.get("opening_type")
        if cat in ("coat", "blazer", "jacket", "cardigan", "shirt") or opening in (
                "button-front", "zip-front", "single-breasted", "double-breasted", "open-front", "wrap"):
            if opening == "wrap":
                d.line(f.pts([(0.44, neck_y + 0.02), (0.5 + 0.12 * fit, waist_y)]), fill=255, width=lw)
            else:
                d.line(f.pts([(0.5, neck_y + 0.04), (0.5, hem_y)]), fill=255, width=lw)
            if opening == "double-breasted":
                cols = (0.45, 0.55)
            elif opening in ("zip-front", "open-front", "pullover"):
                cols = ()
            else:
                cols = (0.5,) if cat != "blazer" else (0.5,)
            n = 2 if cat == "blazer" else max(3, int((hem_y - neck_y) / 0.09))
            r = f.len(0.009)
            for x in cols:
                for k in range(n):
                    y = neck_y + 0.12 + k * (hem_y - neck_y - 0.15) / max(n - 1, 1) if n > 1 else waist_y
                    cx, cy = f(x + 0.012, y)
                    d.ellipse([cx - r, cy - r, cx + r, cy + r], outline=255, width=max(1, lw - 1))
            if opening == "zip-front":
                for k in range(int((hem_y - neck_y) / 0.02)):
                    y = neck_y + 0.04 + k * 0.02
                    d.line(f.pts([(0.492, y), (0.508, y)]), fill=255, width=max(1, lw - 1))
        lapel = a.get("lapel_type")
        if cat in ("coat", "blazer", "jacket") and lapel and lapel != "collarless":
            depth = 0.12 if lapel != "wide lapel" else 0.15
            for side in (-1, 1):
                tip = (0.5 + side * (0.1 if lapel == "peak lapel" else 0.08), neck_y + 0.07)
                d.line(f.pts([(0.5 + side * 0.05, neck_y - 0.005), tip, (0.5, neck_y + depth)]), fill=255, width=lw)
                if lapel == "notched lapel":
                    d.line(f.pts([tip, (0.5 + side * 0.06, neck_y + 0.055)]), fill=255, width=lw)
        collar = a.get("collar_type")
        if collar in ("point collar", "button-down collar", "polo collar") or (cat == "shirt" and not collar):
            for side in (-1, 1):
                m.polygon(f.pts([(0.5, neck_y + 0.03), (0.5 + side * 0.065, neck_y - 0.02),
                                 (0.5 + side * 0.075, neck_y + 0.05)]), fill=255)
                d.polygon(f.pts([(0.5, neck_y + 0.03), (0.5 + side * 0.065, neck_y - 0.02),
                                 (0.5 + side * 0.075, neck_y + 0.05)]), outline=255, width=lw)
        elif collar in ("peter pan collar", "sailor collar", "ruffled collar", "oversized collar"):
            big = 0.09 if collar in ("sailor collar", "oversized collar") else 0.065
            for side in (-1, 1):
                box = f.box(0.5 + min(0, side) * big, neck_y - 0.01, 0.5 + max(0, side) * big, neck_y + big * 0.8)
                d.pieslice(box, 0, 360, outline=255, width=lw)
        elif collar in ("mandarin collar", "shawl collar", "pussy-bow collar"):
            d.rectangle(f.box(0.45, neck_y - 0.03, 0.55, neck_y + 0.005), outline=255, width=lw)
            m.rectangle(f.box(0.45, neck_y - 0.03, 0.55, neck_y + 0.005), fill=255)
            if collar == "pussy-bow collar":
                d.ellipse(f.box(0.47, neck_y + 0.01, 0.53, neck_y + 0.05), outline=255, width=lw)
        if a.get("hood") or cat == "hoodie":
            m.ellipse(f.box(0.4, neck_y - 0.1, 0.6, neck_y + 0.03), fill=255)
            d.arc(f.box(0.43, neck_y - 0.07, 0.57, neck_y + 0.04), 180, 360, fill=255, width=lw)
            neckline = a.get("neckline", "crew")
            if neckline not in ("strapless", "off-the-shoulder", "sweetheart", "halter"):
                self._neckline(m, d, f, neckline, neck_y, lw)  # the hood lies behind the neckline
        if a.get("pocket_type") == "kangaroo pocket":
            d.polygon(f.pts([(0.42, hem_y - 0.13), (0.58, hem_y - 0.13), (0.62, hem_y - 0.03), (0.38, hem_y - 0.03)]),
                      outline=255, width=lw)
        elif a.get("pocket_type") in ("patch pockets", "flap pockets", "welt pockets") and cat != "dress":
            for side in (-1, 1):
                x = 0.5 + side * 0.085 * fit
                y = min(hem_y - 0.1, waist_y + 0.08)
                if a["pocket_type"] == "welt pockets":
                    d.line(f.pts([(x - 0.035, y), (x + 0.035, y)]), fill=255, width=lw + 1)
                else:
                    d.rectangle(f.box(x - 0.035, y, x + 0.035, y + 0.06), outline=255, width=lw)
                    if a["pocket_type"] == "flap pockets":
                        d.line(f.pts([(x - 0.035, y + 0.02), (x + 0.035, y + 0.02)]), fill=255, width=lw)
        if cat in ("sweater", "hoodie", "cardigan") or a.get("knit_type"):
            self._rib_band(d, f, 0.5 - 0.14 * fit, 0.5 + 0.14 * fit, hem_y - 0.045, hem_y, lw)
        self._category_signature(m, d, f, a, fit, neck_y, waist_y, hem_y, lw)
        detail = a.get("waist_detail")
        if detail in ("belted", "tie", "cinched", "corset"):
            y = waist_y
            m.rectangle(f.box(0.5 - 0.14 * fit, y - 0.015, 0.5 + 0.14 * fit, y + 0.015), fill=255)
            d.rectangle(f.box(0.5 - 0.14 * fit, y - 0.015, 0.5 + 0.14 * fit, y + 0.015), outline=255, width=lw)
            if detail == "belted":
                d.rectangle(f.box(0.48, y - 0.02, 0.52, y + 0.02), outline=255, width=lw)
        if a.get("category") == "dress" and a.get("waistline") in ("empire waist", "drop waist", "high waist"):
            d.line(f.pts([(0.5 - 0.13 * fit, waist_y), (0.5 + 0.13 * fit, waist_y)]), fill=255, width=lw)

    @staticmethod
    def _rib_band(d, f, x0, x1, y0, y1, lw) -> None:
        """A knitted rib band: two edges with vertical ribs between them."""
        d.line(f.pts([(x0, y0), (x1, y0)]), fill=255, width=lw)
        for k in range(int((x1 - x0) / 0.025) + 1):
            x = x0 + k * 0.025
            d.line(f.pts([(x, y0), (x, y1)]), fill=255, width=max(1, lw - 1))

    def _category_signature(self, m, d, f, a, fit, neck_y, waist_y, hem_y, lw) -> None:
        """What makes the garment that garment, drawn whatever else was requested.

        Attributes alone (sleeves, neckline, length) draw a t-shirt, a blouse and a top the same;
        real flats tell them apart by construction: a t-shirt's stitched hem, a blouse's gathered
        yoke and bow, a top's princess seams, a shirt's breast pocket and shirt-tail hem, a
        hoodie's drawstrings, a cardigan's open V front, a jacket's slash pockets, a blazer's
        breast welt and flap pockets, a coat's belt. Without them no embedder could recover the
        category from the drawing.
        """
        cat = a["category"]
        w = 0.13 * fit  # half-width of the body between armpit and hem
        pockets = not a.get("pocket_type")
        if cat == "t-shirt":
            for dy in (0.02, 0.045):  # twin-needle cover stitch
                d.line(f.pts([(0.5 - w, hem_y - dy), (0.5 + w, hem_y - dy)]), fill=255, width=max(1, lw - 1))
            label = neck_y + NECKLINE_DEPTH.get(a.get("neckline", "crew"), 0.035) + 0.01  # below the neckline
            d.rectangle(f.box(0.485, label, 0.515, label + 0.02), fill=255)  # neck label
        elif cat == "blouse":
            yoke = neck_y + 0.085
            d.line(f.pts([(0.5 - w, yoke), (0.5 + w, yoke)]), fill=255, width=lw)
            for k in range(-3, 4):  # gathers under the yoke
                d.line(f.pts([(0.5 + k * w / 4, yoke), (0.5 + k * w / 3.4, yoke + 0.06)]), fill=255,
                       width=max(1, lw - 1))
            # a bow under the neckline, not over it: the neckline is tagged too
            bow = neck_y + NECKLINE_DEPTH.get(a.get("neckline", "v-neck"), 0.035) + 0.03
            for side in (-1, 1):
                d.polygon(f.pts([(0.5, bow), (0.5 + side * 0.045, bow - 0.025),
                                 (0.5 + side * 0.045, bow + 0.025)]), outline=255, width=lw)
                d.line(f.pts([(0.5, bow), (0.5 + side * 0.025, bow + 0.08)]), fill=255, width=lw)
        elif cat == "top":
            for side in (-1, 1):  # princess seams
                d.line(f.pts([(0.5 + side * 0.1 * fit, 0.24), (0.5 + side * 0.06 * fit, waist_y),
                              (0.5 + side * 0.075 * fit, hem_y)]), fill=255, width=lw)
        elif cat == "shirt":
            x = 0.5 + 0.06 * fit  # breast pocket on the wearer's left
            d.rectangle(f.box(x, neck_y + 0.09, x + 0.055, neck_y + 0.155), outline=255, width=lw)
            # a shirt-tail hem: rounded below the front, cut up at the side vents. It is in the
            # silhouette, which survives 112 px; a pocket and a collar alone read as a jacket's
            _, hw = self._body_half_widths(a, fit, waist_y, hem_y)
            m.chord(f.box(0.5 - w, hem_y - 0.035, 0.5 + w, hem_y + 0.035), 0, 180, fill=255)
            for side in (-1, 1):
                m.polygon(f.pts([(0.5 + side * (hw + 0.01), hem_y - 0.035), (0.5 + side * (hw + 0.01), hem_y + 0.01),
                                 (0.5 + side * (hw - 0.035), hem_y + 0.01)]), fill=0)
        elif cat == "hoodie":
            for side in (-1, 1):  # drawstrings with aglets
                d.line(f.pts([(0.5 + side * 0.03, neck_y + 0.02), (0.5 + side * 0.035, neck_y + 0.13)]),
                       fill=255, width=lw)
                cx, cy = f(0.5 + side * 0.035, neck_y + 0.135)
                r = f.len(0.008)
                d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
        elif cat == "cardigan":
            for side in (-1, 1):  # open V front bands
                d.line(f.pts([(0.5 + side * 0.06, neck_y - 0.005), (0.5 + side * 0.012, waist_y - 0.02)]),
                       fill=255, width=lw + 1)
        elif cat == "sweater":
            neckline = a.get("neckline", "crew")
            if neckline in NECKLINE_HALF_WIDTH:  # a rib neckband along a round neckline
                hw = NECKLINE_HALF_WIDTH[neckline]
                d.arc(f.box(0.5 - hw - 0.02, neck_y - 0.03, 0.5 + hw + 0.02, neck_y + NECKLINE_DEPTH[neckline] + 0.025),
                      0, 180, fill=255, width=lw + 1)
        elif cat == "jacket":
            d.rectangle(f.box(0.44, neck_y - 0.035, 0.56, neck_y + 0.01), outline=255, width=lw)  # stand collar
            m.rectangle(f.box(0.44, neck_y - 0.035, 0.56, neck_y + 0.01), fill=255)
            if pockets:
                for side in (-1, 1):  # slash pockets
                    x = 0.5 + side * 0.085 * fit
                    d.line(f.pts([(x - side * 0.02, hem_y - 0.14), (x + side * 0.02, hem_y - 0.06)]),
                           fill=255, width=lw + 1)
        elif cat == "blazer":
            x = 0.5 + 0.065 * fit  # breast welt pocket
            d.line(f.pts([(x, neck_y + 0.13), (x + 0.05, neck_y + 0.12)]), fill=255, width=lw + 1)
            if pockets:
                for side in (-1, 1):  # flap pockets
                    x = 0.5 + side * 0.09 * fit
                    d.rectangle(f.box(x - 0.04, hem_y - 0.1, x + 0.04, hem_y - 0.07), outline=255, width=lw)
        elif cat == "coat":
            y = min(waist_y, hem_y - 0.1)  # a tie belt
            m.rectangle(f.box(0.5 - 0.15 * fit, y - 0.02, 0.5 + 0.15 * fit, y + 0.02), fill=255)
            d.rectangle(f.box(0.5 - 0.15 * fit, y - 0.02, 0.5 + 0.15 * fit, y + 0.02), outline=255, width=lw)
            d.line(f.pts([(0.5 + 0.03, y), (0.5 + 0.06, y + 0.1)]), fill=255, width=lw + 1)

    # ------------------------------------------------------------------ patterns and finishes
    def _pattern(self, pattern: str, a: Mapping[str, str], base, second, rng, mask: Image.Image) -> Image.Image:
        w, h = self.width, self.height
        # a medium repeat of 1/15 of the canvas is 7.5 px at the embedder's 112 px (1/20 left small
        # prints at 3 px, under what its first convolutions resolve)
        # (1.5x for large left a small garment one or two repeats: 0.28 of large prints were
        # tagged right against 0.49 of medium ones)
        scale = {"small": 0.8, "medium": 1.0, "large": 1.25}.get(a.get("pattern_scale", "medium"), 1.0)
        unit = max(4.0, min(w, h) / 15.0 * scale * float(rng.uniform(0.85, 1.15)))
        X, Y = _grid(w, h)
        ox, oy = rng.uniform(0, unit * 4, size=2)
        Xs, Ys = X + ox, Y + oy
        base_arr = np.array(base, np.uint8)
        sec_arr = np.array(second, np.uint8)
        img = None
        # Every print keeps the primary colour the ground (at least half of the garment) and its
        # marks at least 2 px at 112: the embedder and a designer both read the colour from the
        # ground, and a 1-px line at 256 vanishes at the model's input size.
        if pattern == "stripes":
            direction = a.get("stripe_direction", "horizontal")
            coord = {"vertical": Xs, "diagonal": (Xs + Ys) / math.sqrt(2)}.get(direction, Ys)
            sel = (coord % (unit * 1.6)) < unit * 0.6
        elif pattern == "check":
            p = unit * 1.2
            a1, b1 = (Xs % (2 * p)) < 0.7 * p, (Ys % (2 * p)) < 0.7 * p
            arr = np.where((a1 & b1)[..., None], sec_arr, np.where((a1 ^ b1)[..., None],
                           np.array(_mix(base, second, 0.5), np.uint8), base_arr))
            img = Image.fromarray(arr.astype(np.uint8), "RGB")
        elif pattern == "houndstooth":
            tile = np.array([[1, 1, 1, 1, 0, 0, 0, 1], [1, 1, 1, 1, 0, 0, 1, 1], [1, 1, 1, 1, 0, 1, 1, 1],
                             [1, 1, 1, 1, 1, 1, 1, 1], [0, 0, 0, 1, 1, 1, 1, 0], [0, 0, 1, 0, 1, 1, 0, 0],
                             [0, 1, 0, 0, 1, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0, 0]], bool)
            cell = max(1.0, unit / 3.2)
            sel = ~tile[(Ys / cell).astype(int) % 8, (Xs / cell).astype(int) % 8]  # the 28 of 64 cells
        elif pattern == "geometric":
            p = unit * 2.2  # triangles, larger than polka dots so the two stay apart at 112 px
            u, v = Xs % p / p, Ys % p / p
            sel = (v > 0.15) & (v < 0.85) & (np.abs(u - 0.5) < (v - 0.15) * 0.6)
        elif pattern == "chevron":
            p = unit * 1.6
            sel = ((Ys + np.abs((Xs % p) - p / 2)) % p) < p * 0.38
        elif pattern == "argyle":
            # every other diamond filled, and the lattice's diagonal overcheck lines over all of
            # them (filled diamonds alone, scattered over a garment, were tagged floral)
            p = unit * 2.2
            dist = np.abs(Xs % p - p / 2) / (p / 2) + np.abs(Ys % (p * 1.4) - p * 0.7) / (p * 0.7)
            diamond = (dist < 1) & (((Xs // p + Ys // (p * 1.4)) % 2) == 0)
            line = np.abs(dist - 1) < max(2.5, unit * 0.16) / (p / 2)
            arr = np.where(line[..., None], np.array(_contrast(base), np.uint8),
                           np.where(diamond[..., None], sec_arr, base_arr))
            img = Image.fromarray(arr.astype(np.uint8), "RGB")
        elif pattern == "tie-dye":
            cx, cy = w * rng.uniform(0.35, 0.65), h * rng.uniform(0.35, 0.6)
            r = np.hypot(X - cx, Y - cy) + 6 * np.sin(np.arctan2(Y - cy, X - cx) * 6)
            t = ((0.5 + 0.5 * np.sin(r / unit * 1.3)) ** 2.5)[..., None]
            arr = base_arr * (1 - t) + sec_arr * t
            img = Image.fromarray(arr.astype(np.uint8), "RGB")
        elif pattern == "camouflage":
            img = self._camouflage(base, [second, _mix(base, (0, 0, 0), 0.4), _mix(second, base, 0.5)], rng, unit * 2.2)
        else:
            sel = None
        if img is None and sel is not None:
            img = Image.fromarray(np.where(sel[..., None], sec_arr, base_arr).astype(np.uint8), "RGB")
        if img is None:
            img = Image.new("RGB", (w, h), base)
            draw = ImageDraw.Draw(img)
            if pattern == "polka dot":
                self._dots(draw, unit, second, rng)
            elif pattern == "floral":
                self._flowers(draw, unit, second, rng)
            elif pattern == "animal print":
                self._animal(draw, img, a.get("animal_print", "leopard"), base, second, unit, rng)
            elif pattern == "paisley":
                self._paisley(draw, unit, second, base, rng)
            elif pattern == "abstract":
                # long swooping brush strokes at every angle, in two colours, dense enough that a
                # small garment carries several (short straight strokes, scattered like petals,
                # were tagged floral; these still are, or paisley: the weakest print, 0.06)
                for _ in range(int(w * h / (unit * unit * 5))):
                    x, y = rng.uniform(-unit, w + unit), rng.uniform(-unit, h + unit)
                    ang, ln = rng.uniform(0, math.pi), rng.uniform(unit * 4, unit * 8)
                    bend, phase = unit * rng.uniform(0.4, 0.9), rng.uniform(0, math.pi)
                    t = np.linspace(0, 1, 12)
                    off = bend * np.sin(phase + t * math.pi * 1.5)
                    xs = x + t * ln * math.cos(ang) - off * math.sin(ang)
                    ys = y + t * ln * math.sin(ang) + off * math.cos(ang)
                    col = second if rng.random() < 0.65 else _mix(base, _contrast(base), 0.6)
                    draw.line(list(zip(xs.tolist(), ys.tolist())), fill=col, width=max(4, int(unit * 0.4)),
                              joint="curve")
            elif pattern == "toile":
                # dense enough that a small garment carries several motifs (sparser read as solid)
                for _ in range(int(w * h / (unit * unit * 4.5))):
                    x, y = rng.uniform(0, w), rng.uniform(0, h)
                    stroke = max(3, round(unit / 4.5))
                    draw.arc([x, y, x + unit * 1.6, y + unit * 1.6], 0, 270, fill=second, width=stroke)
                    draw.line([(x + unit * 0.8, y + unit * 0.8), (x + unit * 0.8, y + unit * 2)], fill=second,
                              width=stroke)
            elif pattern == "graphic":
                # a logo over two lines of slogan, on the chest (or the garment's upper middle)
                cx, cy = _chest_point(mask)
                draw.rectangle([cx - unit * 2, cy - unit * 1.2, cx + unit * 2, cy + unit * 0.8], fill=second)
                draw.ellipse([cx - unit * 0.6, cy - unit * 0.8, cx + unit * 0.6, cy + unit * 0.4], fill=base)
                for k, half in enumerate((1.8, 1.2)):
                    y = cy + unit * (1.3 + 0.8 * k)
                    draw.rectangle([cx - unit * half, y, cx + unit * half, y + max(4.0, unit * 0.35)], fill=second)
        return img

    def _dots(self, draw, unit, color, rng) -> None:
        w, h = self.width, self.height
        p = unit * 1.5
        r = unit * 0.35
        ox, oy = rng.uniform(0, p, size=2)
        row = 0
        y = -p + oy
        while y < h + p:
            x = -p + ox + (p / 2 if row % 2 else 0)
            while x < w + p:
                draw.ellipse([x - r, y - r, x + r, y + r], fill=color)
                x += p
            y += p
            row += 1

    def _flowers(self, draw, unit, color, rng) -> None:
        w, h = self.width, self.height
        center = (250, 210, 60) if color != (250, 210, 60) else (120, 60, 20)
        n = int(w * h / (unit * unit * 5))
        for _ in range(n):
            x, y = rng.uniform(-unit, w + unit), rng.uniform(-unit, h + unit)
            r = unit * rng.uniform(0.45, 0.8)
            for k in range(5):
                ang = 2 * math.pi * k / 5 + rng.uniform(0, 1)
                px, py = x + r * math.cos(ang), y + r * math.sin(ang)
                draw.ellipse([px - r * 0.55, py - r * 0.55, px + r * 0.55, py + r * 0.55], fill=color)
            draw.ellipse([x - r * 0.35, y - r * 0.35, x + r * 0.35, y + r * 0.35], fill=center)
            leaf = (60, 120, 60)
            draw.ellipse([x + r, y + r * 0.6, x + r * 1.9, y + r * 1.0], fill=leaf)

    def _paisley(self, draw, unit, color, ground, rng) -> None:
        w, h = self.width, self.height
        for _ in range(int(w * h / (unit * unit * 6))):
            x, y = rng.uniform(-unit, w), rng.uniform(-unit, h)
            r = unit * rng.uniform(0.7, 1.1)
            # a filled teardrop with an eye in the ground colour (outlined ones read as toile)
            draw.ellipse([x - r, y - r, x + r, y + r], fill=color)
            draw.polygon([(x + r * 0.7, y - r * 0.7), (x + r * 2.0, y - r * 1.8), (x + r, y)], fill=color)
            draw.ellipse([x - r * 0.5, y - r * 0.5, x + r * 0.5, y + r * 0.5], fill=ground)
            draw.ellipse([x - r * 0.2, y - r * 0.2, x + r * 0.2, y + r * 0.2], fill=color)

    def _blotches(self, base, colors, rng, size) -> Image.Image:
        """Low-frequency noise thresholded into blobs (cow print)."""
        w, h = self.width, self.height
        out = np.broadcast_to(np.array(base, np.uint8), (h, w, 3)).copy()
        gw, gh = max(2, int(w / size) + 2), max(2, int(h / size) + 2)
        for i, col in enumerate(colors):
            noise = rng.random((gh, gw)).astype(np.float32)
            field = np.asarray(Image.fromarray((noise * 255).astype(np.uint8), "L").resize((w, h), Image.BICUBIC))
            out[field > 182 - i * 8] = col
        return Image.fromarray(out, "RGB")

    def _camouflage(self, base, colors, rng, size) -> Image.Image:
        """Interlocking blobs: each pixel takes the ground's or one of `colors` by the highest of
        their smooth noise fields, the ground's raised so that it keeps ~40% of the garment.

        (Thresholded blobs of 3 repeats left many garments one or two patches: 0.27 tagged right.)
        """
        w, h = self.width, self.height
        gw, gh = int(w / size) + 3, int(h / size) + 3
        fields = np.stack([np.asarray(Image.fromarray(rng.random((gh, gw)).astype(np.float32), "F")
                                      .resize((w, h), Image.BICUBIC)) for _ in range(len(colors) + 1)])
        fields[0] += 0.14
        palette = np.array([base, *colors], np.uint8)
        return Image.fromarray(palette[fields.argmax(0)], "RGB")

    def _animal(self, draw, img, kind, base, second, unit, rng) -> None:
        w, h = self.width, self.height
        # the marks contrast with the ground: near black on light grounds, cream on dark ones
        # (black zebra stripes on a navy coat do not show)
        light_ground = _luminance(base) > 100
        if kind in ("zebra", "tiger"):
            dark, light = ((20, 20, 20), (236, 232, 220)) if kind == "zebra" else ((30, 20, 10), (236, 196, 130))
            col = dark if light_ground else light
            for k in range(int(h / unit) + 2):
                y0 = k * unit * 1.3 + rng.uniform(0, unit)
                pts = [(x, y0 + unit * 0.5 * math.sin(x / (unit * 1.5) + k)) for x in np.linspace(-5, w + 5, 12)]
                draw.line(pts, fill=col, width=int(unit * 0.5))
        elif kind in ("snakeskin", "crocodile"):
            p = unit * (1.0 if kind == "snakeskin" else 1.6)
            for row in range(int(h / p) + 2):
                for col in range(int(w / p) + 2):
                    x = col * p + (p / 2 if row % 2 else 0)
                    y = row * p * 0.8
                    draw.ellipse([x - p / 2, y - p / 2.5, x + p / 2, y + p / 2.5], outline=second,
                                 width=max(5, round(unit / 3.5)))  # >= 2 px at 112
        elif kind == "cow":
            blot = self._blotches(base, [(20, 20, 20) if light_ground else (240, 236, 226)], rng, unit * 4)
            img.paste(blot)
        else:  # leopard, cheetah: rosettes and spots
            dark = (40, 26, 16) if light_ground else _mix(base, (240, 226, 200), 0.6)
            n = int(w * h / (unit * unit * 2.2))
            for _ in range(n):
                x, y = rng.uniform(0, w), rng.uniform(0, h)
                r = unit * rng.uniform(0.3, 0.6)
                if kind == "leopard":
                    draw.arc([x - r, y - r, x + r, y + r], rng.uniform(0, 90), rng.uniform(240, 330),
                             fill=dark, width=max(4, int(r * 0.6)))  # >= 2 px at 112
                else:
                    draw.ellipse([x - r * 0.75, y - r * 0.75, x + r * 0.75, y + r * 0.75], fill=dark)

    def _surface(self, img: Image.Image, surface: str | None, rng) -> Image.Image:
        if surface in (None, "matte", "sheer"):
            return img
        w, h = self.width, self.height
        X, Y = _grid(w, h)
        arr = np.asarray(img).astype(np.float32)
        if surface == "metallic":
            # lame: wavy folds of light and shade across the whole garment, bright crests and
            # glitter. sketch-v5's one soft band left gold read as mustard and silver as white
            # (zero-shot gold 0.58, silver 0.64)
            t = (X * 0.8 + Y * 0.5) / (w * 0.05) + float(rng.uniform(0, 2 * np.pi)) + 1.2 * np.sin(Y / (h * 0.06))
            folds = np.sin(t)
            arr = arr * (0.97 + 0.25 * folds)[..., None] + (np.clip(folds, 0.55, 1.0) - 0.55)[..., None] * 200
            arr += rng.normal(0, 16, size=(h, w, 1)).astype(np.float32)
        elif surface in ("satin sheen", "glossy"):
            phase = float(rng.uniform(0, w))
            band = np.exp(-(((X + Y * 0.6 - phase) % (w * 0.9)) - w * 0.3) ** 2 / (2 * (w * 0.08) ** 2))
            arr += band[..., None] * {"satin sheen": 110, "glossy": 150}[surface]
        elif surface == "knit rib":
            arr *= np.where((X % 4) < 1.5, 0.72, 1.0)[..., None]
        elif surface == "denim twill":
            arr *= np.where(((X + Y) % 4) < 1.5, 0.7, 1.05)[..., None]
        elif surface == "brushed":
            arr += rng.normal(0, 10, size=(h, w, 1)).astype(np.float32)
        elif surface == "crinkled":
            arr *= (1 + 0.12 * np.sin(X / 3.0 + np.sin(Y / 7.0) * 3))[..., None]
        return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")

    def _smudge(self, img: Image.Image, rng) -> Image.Image:
        w, h = self.width, self.height
        blurred = img.filter(ImageFilter.GaussianBlur(radius=max(2.0, w / 45)))
        mask = Image.new("L", (w, h), 0)
        d = ImageDraw.Draw(mask)
        for _ in range(3):
            x, y = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h
            r = rng.uniform(0.15, 0.3) * w
            d.ellipse([x - r, y - r * 0.6, x + r, y + r * 0.6], fill=255)
        mask = mask.filter(ImageFilter.GaussianBlur(radius=w / 30))
        out = Image.composite(blurred, img, mask)
        grey = Image.new("RGB", (w, h), (120, 116, 110))
        return Image.blend(out, Image.composite(grey, out, mask), 0.35)


# ---------------------------------------------------------------------- backend

class SketchGenerator:
    """The offline `sketch` backend: specs in, rendered flats and metadata out."""

    name = "sketch"

    def __init__(self, width: int = 256, height: int = 256, defect_rate: float = 0.15, **_ignored):
        self.width, self.height, self.defect_rate = width, height, defect_rate
        self.model = RENDERER

    def generate(self, specs: Sequence) -> Iterator:
        from . import ImageResult

        renderers: dict[tuple[int, int], SketchRenderer] = {}
        for spec in specs:
            size = (int(spec.params.get("width", self.width)), int(spec.params.get("height", self.height)))
            renderer = renderers.setdefault(size, SketchRenderer(*size, defect_rate=self.defect_rate))
            image, meta = renderer.render(spec.attributes, spec.seed)
            yield ImageResult(spec_index=spec.index, image=image, metadata=meta)

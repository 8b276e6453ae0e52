"""Garment geometry: silhouettes, sleeves, necklines and construction lines, drawn as masks.

Coordinates are fractions of the canvas (x right, y down); :class:`Frame` maps them to pixels
through the seeded jitter. Each function draws the garment's fill into `m` and its construction
lines into `d` (both "L" images), so the pattern and outline passes can tell them apart.

Over 500 lines on purpose: the parts of one garment (bodice, sleeves, neckline, skirt, trousers,
details) share its proportions and are read together when a silhouette is tuned.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import ImageDraw

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


@dataclass
class Frame:
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


def draw_garment(m: ImageDraw.ImageDraw, d: ImageDraw.ImageDraw, f: Frame, a: dict, rng) -> None:
    cat = a["category"]
    fit = FIT_WIDTH.get(a.get("fit", "regular"), 1.0)
    # construction lines 3 px at 256: the embedder sees the flat at 112 px, where the 1-2 px
    # lines of sketch-v2 fell under a pixel and the marks that tell a t-shirt from a top were lost
    lw = max(1, int(round(f.len(0.011))))
    if cat in ("trousers", "jeans", "shorts"):
        _trousers(m, d, f, a, fit, top=0.16, lw=lw, shorts=cat == "shorts")
        if cat == "jeans":
            _jeans_details(m, d, f, fit, lw)
        return
    if cat == "skirt":
        _skirt(m, d, f, a, fit, waist_y=0.2, waist_w=0.13 * fit, lw=lw)
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
    _bodice(m, d, f, a, fit, neck_y, waist_y, hem_y, lw)
    if cat == "dress":
        _skirt(m, d, f, a, fit, waist_y=waist_y, waist_w=0.125 * fit, lw=lw, seam=True)
    elif cat == "jumpsuit":
        _trousers(m, d, f, a, fit, top=0.4, lw=lw, shorts=False)
        d.line(f.pts([(0.5 - 0.125 * fit, 0.41), (0.5 + 0.125 * fit, 0.41)]), fill=255, width=lw)
    _upper_details(m, d, f, a, fit, neck_y, waist_y, hem_y, lw)


def _bodice(m, d, f, a, fit, neck_y, waist_y, hem_y, lw) -> None:
    neckline = a.get("neckline", "crew")
    waist_y = min(waist_y, hem_y - 0.02)  # a cropped top ends above the natural waist
    sw = 0.165 * fit
    ww, hw = _body_half_widths(a, fit, waist_y, hem_y)
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
            _sleeve(m, d, f, a, side, sw, top_y, armpit_y, lw)
    elif neckline not in ("strapless", "halter", "one-shoulder", "off-the-shoulder", "sweetheart"):
        straps = a.get("strap_type")
        if straps == "spaghetti straps":
            for side in (-1, 1):  # thin straps: cut the shoulder away except a line
                m.polygon(f.pts([(0.5 + side * 0.07, top_y - 0.01), (0.5 + side * (sw + 0.02), top_y - 0.01),
                                 (0.5 + side * (sw + 0.02), 0.21), (0.5 + side * 0.105, 0.21)]), fill=0)
                m.line(f.pts([(0.5 + side * 0.085, top_y), (0.5 + side * 0.1, 0.21)]), fill=255, width=lw + 1)
    _neckline(m, d, f, neckline, top_y, lw)


def _body_half_widths(a, fit, waist_y, hem_y) -> tuple[float, float]:
    """Half-widths of an upper body at the waist and at the hem (eased over the hip when the
    hem falls below it)."""
    ww = (0.12 if a.get("silhouette") == "bodycon" else 0.13) * fit
    return ww, (max(ww, 0.145 * fit) if hem_y > waist_y + 0.06 else ww)


def _sleeve(m, d, f, a, side, sw, top_y, armpit_y, lw) -> None:
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


def _neckline(m, d, f, neckline, top_y, lw) -> None:
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


def _skirt(m, d, f, a, fit, waist_y, waist_w, lw, seam=False) -> None:
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
    _slit(m, a, f, hem_y, hw)


def _slit(m, a, f, hem_y, hw) -> None:
    slit = a.get("slit")
    if not slit:
        return
    x = {"side slit": 0.5 - hw * 0.8, "thigh-high slit": 0.5 - hw * 0.5}.get(slit, 0.5)
    depth = 0.22 if slit == "thigh-high slit" else 0.1
    m.polygon(f.pts([(x - 0.02, hem_y + 0.01), (x + 0.02, hem_y + 0.01), (x, hem_y - depth)]), fill=0)


def _trousers(m, d, f, a, fit, top, lw, shorts) -> None:
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


def _jeans_details(m, d, f, fit, lw) -> None:
    waist_w = 0.14 * fit
    for k in range(5):  # belt loops stand above the waistband
        x = 0.5 - waist_w * 0.9 + k * waist_w * 0.45
        m.rectangle(f.box(x - 0.008, 0.135, x + 0.008, 0.2), fill=255)
        d.rectangle(f.box(x - 0.008, 0.135, x + 0.008, 0.2), outline=255, width=max(1, lw - 1))
    for side in (-1, 1):  # scooped front pockets
        d.arc(f.box(0.5 + side * 0.16 - 0.07, 0.14, 0.5 + side * 0.16 + 0.07, 0.28),
              90 if side < 0 else 0, 180 if side < 0 else 90, fill=255, width=lw)
    d.rectangle(f.box(0.5 + waist_w * 0.45, 0.21, 0.5 + waist_w * 0.75, 0.245), outline=255, width=max(1, lw - 1))


def _upper_details(m, d, f, a, fit, neck_y, waist_y, hem_y, lw) -> None:
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
            _neckline(m, d, f, neckline, neck_y, lw)  # the hood lies behind the neckline
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
        _rib_band(d, f, 0.5 - 0.14 * fit, 0.5 + 0.14 * fit, hem_y - 0.045, hem_y, lw)
    _category_signature(m, d, f, a, fit, neck_y, waist_y, hem_y, lw)
    detail = a.get("waist_detail")
    if detail in ("belted", "tie", "cinched", "corset"):
        y = waist_y
        m.rectangle(f.box(0.5 - 0.14 * fit, y - 0.015, 0.5 + 0.14 * fit, y + 0.015), fill=255)
        d.rectangle(f.box(0.5 - 0.14 * fit, y - 0.015, 0.5 + 0.14 * fit, y + 0.015), outline=255, width=lw)
        if detail == "belted":
            d.rectangle(f.box(0.48, y - 0.02, 0.52, y + 0.02), outline=255, width=lw)
    if a.get("category") == "dress" and a.get("waistline") in ("empire waist", "drop waist", "high waist"):
        d.line(f.pts([(0.5 - 0.13 * fit, waist_y), (0.5 + 0.13 * fit, waist_y)]), fill=255, width=lw)


def _rib_band(d, f, x0, x1, y0, y1, lw) -> None:
    """A knitted rib band: two edges with vertical ribs between them."""
    d.line(f.pts([(x0, y0), (x1, y0)]), fill=255, width=lw)
    for k in range(int((x1 - x0) / 0.025) + 1):
        x = x0 + k * 0.025
        d.line(f.pts([(x, y0), (x, y1)]), fill=255, width=max(1, lw - 1))


def _category_signature(m, d, f, a, fit, neck_y, waist_y, hem_y, lw) -> None:
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
        _, hw = _body_half_widths(a, fit, waist_y, hem_y)
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

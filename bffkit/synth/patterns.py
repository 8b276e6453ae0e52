"""Prints: the pattern a garment's fill is drawn in (stripes, checks, florals, animal prints, ...)."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from PIL import Image, ImageDraw

from .palette import COLORS, PRINT_CONTRAST, contrast, grid, luminance, mix


def print_color(primary: str, attrs: Mapping[str, str], drawn: dict) -> str:
    """The colour a print's marks are drawn in: the secondary colour if it shows on the ground.

    A print in a colour as light or dark as its ground does not show (navy stripes on black,
    red dots on blue: no print at all at the embedder's 112 px, or in greyscale), so such a
    secondary gives way to the default one (white on dark grounds, navy on light ones; for
    animal prints black on light grounds, camel on dark ones) and `drawn` records the colour used.
    """
    lum = luminance(COLORS.get(primary, COLORS["navy"]))
    if attrs.get("pattern") == "animal print":
        default = "black" if lum > 100 else "camel"
    else:
        default = "white" if lum < 140 else "navy"
    wanted = attrs.get("secondary_color")
    if wanted is None:
        return default
    if attrs.get("pattern", "solid") != "solid" and \
            abs(luminance(COLORS.get(wanted, COLORS["navy"])) - lum) < PRINT_CONTRAST:
        drawn["secondary_color"] = default
        return default
    return wanted


def chest_point(mask: Image.Image) -> tuple[float, float]:
    """Where a graphic goes: the garment pixel nearest to a point 30% down its bounding box, centred
    (read from the garment's own mask, so it lands on a top's chest and on a skirt or trousers alike)."""
    m = np.asarray(mask) > 127
    ys, xs = np.nonzero(m)
    if not len(xs):
        return m.shape[1] / 2, m.shape[0] * 0.38
    tx, ty = (xs.min() + xs.max()) / 2, ys.min() + 0.3 * (ys.max() - ys.min())
    k = int(np.argmin((xs - tx) ** 2 + (ys - ty) ** 2))
    return float(xs[k]), float(ys[k])



def max_filter(img: Image.Image, size: int) -> Image.Image:
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


def fill_pattern(pattern: str, a: Mapping[str, str], base, second, rng, mask: Image.Image) -> Image.Image:
    w, h = mask.size
    # a medium repeat of 1/15 of the canvas is 7.5 px at the embedder's 112 px (1/20 left small
    # prints at 3 px, under what its first convolutions resolve)
    # (1.5x for large left a small garment one or two repeats: 0.28 of large prints were
    # tagged right against 0.49 of medium ones)
    scale = {"small": 0.8, "medium": 1.0, "large": 1.25}.get(a.get("pattern_scale", "medium"), 1.0)
    unit = max(4.0, min(w, h) / 15.0 * scale * float(rng.uniform(0.85, 1.15)))
    X, Y = grid(w, h)
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
                       np.array(mix(base, second, 0.5), np.uint8), base_arr))
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
        arr = np.where(line[..., None], np.array(contrast(base), np.uint8),
                       np.where(diamond[..., None], sec_arr, base_arr))
        img = Image.fromarray(arr.astype(np.uint8), "RGB")
    elif pattern == "tie-dye":
        cx, cy = w * rng.uniform(0.35, 0.65), h * rng.uniform(0.35, 0.6)
        r = np.hypot(X - cx, Y - cy) + 6 * np.sin(np.arctan2(Y - cy, X - cx) * 6)
        t = ((0.5 + 0.5 * np.sin(r / unit * 1.3)) ** 2.5)[..., None]
        arr = base_arr * (1 - t) + sec_arr * t
        img = Image.fromarray(arr.astype(np.uint8), "RGB")
    elif pattern == "camouflage":
        img = _camouflage((w, h), base, [second, mix(base, (0, 0, 0), 0.4), mix(second, base, 0.5)], rng, unit * 2.2)
    else:
        sel = None
    if img is None and sel is not None:
        img = Image.fromarray(np.where(sel[..., None], sec_arr, base_arr).astype(np.uint8), "RGB")
    if img is None:
        img = Image.new("RGB", (w, h), base)
        draw = ImageDraw.Draw(img)
        if pattern == "polka dot":
            _dots((w, h), draw, unit, second, rng)
        elif pattern == "floral":
            _flowers((w, h), draw, unit, second, rng)
        elif pattern == "animal print":
            _animal((w, h), draw, img, a.get("animal_print", "leopard"), base, second, unit, rng)
        elif pattern == "paisley":
            _paisley((w, h), draw, unit, second, base, rng)
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
                col = second if rng.random() < 0.65 else mix(base, contrast(base), 0.6)
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
            cx, cy = chest_point(mask)
            draw.rectangle([cx - unit * 2, cy - unit * 1.2, cx + unit * 2, cy + unit * 0.8], fill=second)
            draw.ellipse([cx - unit * 0.6, cy - unit * 0.8, cx + unit * 0.6, cy + unit * 0.4], fill=base)
            for k, half in enumerate((1.8, 1.2)):
                y = cy + unit * (1.3 + 0.8 * k)
                draw.rectangle([cx - unit * half, y, cx + unit * half, y + max(4.0, unit * 0.35)], fill=second)
    return img


def _dots(size, draw, unit, color, rng) -> None:
    w, h = size
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


def _flowers(size, draw, unit, color, rng) -> None:
    w, h = size
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


def _paisley(size, draw, unit, color, ground, rng) -> None:
    w, h = size
    for _ in range(int(w * h / (unit * unit * 6))):
        x, y = rng.uniform(-unit, w), rng.uniform(-unit, h)
        r = unit * rng.uniform(0.7, 1.1)
        # a filled teardrop with an eye in the ground colour (outlined ones read as toile)
        draw.ellipse([x - r, y - r, x + r, y + r], fill=color)
        draw.polygon([(x + r * 0.7, y - r * 0.7), (x + r * 2.0, y - r * 1.8), (x + r, y)], fill=color)
        draw.ellipse([x - r * 0.5, y - r * 0.5, x + r * 0.5, y + r * 0.5], fill=ground)
        draw.ellipse([x - r * 0.2, y - r * 0.2, x + r * 0.2, y + r * 0.2], fill=color)


def _blotches(size, base, colors, rng, blob) -> Image.Image:
    """Low-frequency noise thresholded into blobs (cow print)."""
    w, h = size
    out = np.broadcast_to(np.array(base, np.uint8), (h, w, 3)).copy()
    gw, gh = max(2, int(w / blob) + 2), max(2, int(h / blob) + 2)
    for i, col in enumerate(colors):
        noise = rng.random((gh, gw)).astype(np.float32)
        field = np.asarray(Image.fromarray((noise * 255).astype(np.uint8), "L").resize((w, h), Image.BICUBIC))
        out[field > 182 - i * 8] = col
    return Image.fromarray(out, "RGB")


def _camouflage(size, base, colors, rng, blob) -> Image.Image:
    """Interlocking blobs: each pixel takes the ground's or one of `colors` by the highest of
    their smooth noise fields, the ground's raised so that it keeps ~40% of the garment.

    (Thresholded blobs of 3 repeats left many garments one or two patches: 0.27 tagged right.)
    """
    w, h = size
    gw, gh = int(w / blob) + 3, int(h / blob) + 3
    fields = np.stack([np.asarray(Image.fromarray(rng.random((gh, gw)).astype(np.float32), "F")
                                  .resize((w, h), Image.BICUBIC)) for _ in range(len(colors) + 1)])
    fields[0] += 0.14
    palette = np.array([base, *colors], np.uint8)
    return Image.fromarray(palette[fields.argmax(0)], "RGB")


def _animal(size, draw, img, kind, base, second, unit, rng) -> None:
    w, h = size
    # the marks contrast with the ground: near black on light grounds, cream on dark ones
    # (black zebra stripes on a navy coat do not show)
    light_ground = luminance(base) > 100
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
        blot = _blotches((w, h), base, [(20, 20, 20) if light_ground else (240, 236, 226)], rng, unit * 4)
        img.paste(blot)
    else:  # leopard, cheetah: rosettes and spots
        dark = (40, 26, 16) if light_ground else mix(base, (240, 226, 200), 0.6)
        n = int(w * h / (unit * unit * 2.2))
        for _ in range(n):
            x, y = rng.uniform(0, w), rng.uniform(0, h)
            r = unit * rng.uniform(0.3, 0.6)
            if kind == "leopard":
                draw.arc([x - r, y - r, x + r, y + r], rng.uniform(0, 90), rng.uniform(240, 330),
                         fill=dark, width=max(4, int(r * 0.6)))  # >= 2 px at 112
            else:
                draw.ellipse([x - r * 0.75, y - r * 0.75, x + r * 0.75, y + r * 0.75], fill=dark)

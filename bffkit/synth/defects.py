"""The failure modes a real generator shows, drawn on purpose as ground truth for quality filtering."""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFilter

DEFECT_MODES = ("wrong_color", "cropped", "smudged", "missing_sleeves")


def smudge(img: Image.Image, rng) -> Image.Image:
    w, h = img.size
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


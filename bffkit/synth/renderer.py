"""The sketch renderer: one fashion flat for a set of VLT attributes, deterministic for (attributes, seed)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from .defects import DEFECT_MODES, smudge
from .garments import CATEGORY_DEFAULTS, STRETCH, Frame, draw_garment
from .palette import COLORS, OUTLINE, contrast, jitter_color
from .patterns import fill_pattern, max_filter, print_color
from .surfaces import SURFACE_FROM_MATERIAL, apply_surface, background

# The drawing's version, recorded with every image (`meta["renderer"]`, the generator's model name)
RENDERER = "sketch-v6"


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
        frame = Frame(self.width, self.height, scale=float(rng.uniform(0.92, 1.02)),
                       dx=float(rng.uniform(-0.025, 0.025)), dy=float(rng.uniform(-0.02, 0.02)), stretch=STRETCH)
        if defect == "cropped":
            side = int(rng.integers(4))
            frame.scale *= float(rng.uniform(1.25, 1.6))
            shift = float(rng.uniform(0.28, 0.4))
            frame.dx, frame.dy = [(shift, 0), (-shift, 0), (0, shift), (0, -shift)][side]
        base = jitter_color(primary, rng)
        secondary = jitter_color(print_color(primary, attrs, drawn), rng)
        canvas = background((self.width, self.height), attrs.get("background", "plain white"), rng)

        # 3. Garment mask, then fill it with the pattern and fabric finish
        mask = Image.new("L", (self.width, self.height), 0)
        details = Image.new("L", (self.width, self.height), 0)
        draw_garment(ImageDraw.Draw(mask), ImageDraw.Draw(details), frame, drawn, rng)
        texture = fill_pattern(attrs.get("pattern", "solid"), attrs, base, secondary, rng, mask)
        surface = attrs.get("surface") or SURFACE_FROM_MATERIAL.get(attrs.get("material", ""))
        if surface is None and primary in ("gold", "silver"):
            # gold and silver garments are lamé: the sheen is what tells gold from mustard and
            # silver from white or grey
            surface = drawn["surface"] = "metallic"
        texture = apply_surface(texture, surface, rng)
        # sheer fabric lets the ground through, but not so much that its colour turns into another
        alpha = mask if surface != "sheer" else mask.point(lambda v: v * 190 // 255)
        canvas.paste(texture, (0, 0), alpha)

        # 4. Outline and construction lines
        # Construction lines inside the garment take the colour that shows on it (light on a
        # navy coat, dark on a white shirt) on a band of the ground colour, so that a print
        # cannot swallow them; the silhouette keeps the dark outline.
        edges = mask.filter(ImageFilter.FIND_EDGES).point(lambda v: 255 if v > 40 else 0)
        if attrs.get("pattern", "solid") != "solid":
            canvas.paste(base, (0, 0), ImageChops.multiply(max_filter(details, 5), alpha))
        canvas.paste(contrast(base), (0, 0), ImageChops.multiply(details, mask))
        canvas.paste(OUTLINE, (0, 0), ImageChops.lighter(edges, ImageChops.subtract(details, mask)))

        # 5. Failure modes that act on the finished image
        if defect == "smudged":
            canvas = smudge(canvas, rng)
        meta = {"renderer": RENDERER, "defect": defect, "rendered": drawn}
        return canvas, meta

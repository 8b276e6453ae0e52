"""The project's synthetic-data engine: a procedural renderer of fashion flats.

It draws what a prompt spec asks for — category silhouette, length, sleeves, neckline, fit,
waistline, colours, pattern, fabric finish, background — so every later stage has real,
checkable images on a machine with no network and no GPU. Rendering is deterministic for
(attributes, seed); with probability `defect_rate` an image gets one of a few realistic failure
modes (:data:`DEFECT_MODES`), recorded in its metadata as ground truth.

Split by concern: :mod:`.garments` (geometry), :mod:`.patterns` (prints), :mod:`.surfaces`
(backgrounds and fabric finishes), :mod:`.defects` (failure modes), :mod:`.palette` (colours);
:mod:`.renderer` composes them. The `sketch` generation backend and sketch-clip's training data
both draw through :class:`SketchRenderer`.
"""

from .defects import DEFECT_MODES
from .palette import COLORS, luminance
from .renderer import RENDERER, SketchRenderer

__all__ = ["COLORS", "DEFECT_MODES", "RENDERER", "SketchRenderer", "luminance"]

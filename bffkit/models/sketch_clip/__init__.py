"""sketch-clip: the offline default embedder, a small open_clip model trained on sketches.

The architecture is data (``bffkit/models/configs/sketch-clip.json``) registered with open_clip
like any model config; the trained weights ship in ``data/models/sketch-clip/`` and load through
open_clip's own ``local-dir:`` path. ``bffkit train-sketch-clip`` reproduces them: contrastive
training on sketch-renderer images and captions of the attributes each image really shows, with
zero-shot prompt losses beside it. Split by concern: :mod:`.architecture`, :mod:`.data`,
:mod:`.losses`, :mod:`.train`, :mod:`.evaluate`. The model card (accuracy, what was tried) is
``docs/sketch-clip.md``.
"""

from .architecture import MODEL_DIR, MODEL_NAME, SKETCH_CLIP_CONFIG, register
from .data import caption, render_dataset
from .evaluate import finish_model
from .train import TrainConfig, train

__all__ = ["MODEL_DIR", "MODEL_NAME", "SKETCH_CLIP_CONFIG", "TrainConfig", "caption", "finish_model", "register",
           "render_dataset", "train"]

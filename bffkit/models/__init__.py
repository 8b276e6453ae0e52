"""Embedding models: the open_clip factory (:mod:`.embedders`) and bffkit's own sketch-clip
(:mod:`.sketch_clip`), whose architecture is data in ``configs/``."""

from .embedders import Embedder, create_embedder, list_presets, load_image, resolve_model_spec

__all__ = ["Embedder", "create_embedder", "list_presets", "load_image", "resolve_model_spec"]

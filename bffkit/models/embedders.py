"""Embedding models: open_clip image and text encoders built from one spec string.

One factory, :func:`create_embedder`, builds an :class:`Embedder` from a model spec:

- a preset name (:func:`list_presets`): ``vit-b-32-laion2b``, ``marqo-fashionsiglip``, ...
- ``NAME@TAG`` for an open_clip architecture and pretrained tag: ``ViT-B-32@laion2b_s34b_b79k``
- ``NAME@/path/to/weights.safetensors`` for a local checkpoint file
- ``NAME@random`` for random weights (benchmarks and tests only: the embeddings mean nothing)
- ``hf-hub:org/repo`` or ``local-dir:/path`` (a folder with ``open_clip_config.json`` and weights)

Images and texts come out L2-normalised, float32, shape (n, embed_dim). Nothing is downloaded
unless the spec names Hub weights that are not cached.
"""
from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..devices import resolve_device
from ..digest import file_digest
from ..exceptions import ConfigError, RequestError
from ..paths import DATA_DIR
from ..textfile import check_regular_file

# Architectures bffkit defines, as open_clip model configs (one JSON per model, named by its stem)
MODEL_CONFIGS_DIR = Path(__file__).resolve().parent / "configs"


@dataclass(frozen=True)
class Preset:
    """A named open_clip model: architecture (or schema name) and pretrained tag or path."""

    model: str
    pretrained: str | None
    note: str


PRESETS: dict[str, Preset] = {
    "sketch-clip": Preset(f"local-dir:{DATA_DIR / 'models' / 'sketch-clip'}", None,
                          "bffkit's own small model trained on sketches; ships in data/ (offline default)"),
    "vit-b-32-laion2b": Preset("ViT-B-32", "laion2b_s34b_b79k", "OpenCLIP ViT-B/32 on LAION-2B (downloads once)"),
    "vit-b-16-laion2b": Preset("ViT-B-16", "laion2b_s34b_b88k", "OpenCLIP ViT-B/16 on LAION-2B (downloads once)"),
    "marqo-fashionsiglip": Preset("hf-hub:Marqo/marqo-fashionSigLIP", None,
                                  "SigLIP fine-tuned on fashion products (downloads once)"),
}


def list_presets() -> list[str]:
    return list(PRESETS)


def register_model_config(path: str | Path) -> None:
    """Make an architecture JSON (``embed_dim``, ``vision_cfg``, ``text_cfg``) known to open_clip."""
    import open_clip

    open_clip.add_model_config(Path(path))


def register_model_configs() -> None:
    """Make bffkit's own architectures (``models/configs/*.json``: sketch-clip) known to open_clip."""
    import open_clip

    known = set(open_clip.list_models())
    if any(p.stem not in known for p in MODEL_CONFIGS_DIR.glob("*.json")):
        open_clip.add_model_config(MODEL_CONFIGS_DIR)


WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


def resolve_model_spec(spec: str, where: str = "embed.model") -> tuple[str, str | None, str]:
    """(open_clip model name, pretrained tag/path or None, cache id) for a model spec.

    The cache id names what produced an embedding: a local weights file is identified by its
    content digest, so replacing the file never serves stale cached embeddings.
    """
    import open_clip

    register_model_configs()  # the sketch-clip architecture is a known name (e.g. `sketch-clip@random`)
    if spec in PRESETS:
        p = PRESETS[spec]
        if p.model.startswith("local-dir:"):  # shipped weights: the cache id follows their content
            folder = Path(p.model.removeprefix("local-dir:"))
            if not (folder / "open_clip_model.safetensors").is_file():
                raise ConfigError(f"{where}={spec!r}: no trained weights in {folder}; run "
                                  f"`bffkit train-sketch-clip` or set embed.model to another model")
            name, pretrained, local_id = resolve_model_spec(p.model, where)
            return name, pretrained, f"{spec}#{local_id.rsplit('#', 1)[1]}"
        return p.model, p.pretrained, spec
    if spec.startswith("local-dir:"):
        folder = Path(spec.removeprefix("local-dir:")).expanduser()
        if not (folder / "open_clip_config.json").is_file():
            raise ConfigError(f"{where}={spec!r}: no open_clip_config.json in {folder}")
        weights = next((folder / n for n in ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
                        if (folder / n).is_file()), None)
        if weights is None:
            raise ConfigError(f"{where}={spec!r}: no open_clip_model.safetensors in {folder}")
        return f"local-dir:{folder}", None, f"local-dir:{folder.name}#{file_digest(weights)}"
    if spec.startswith("hf-hub:"):
        return spec, None, spec
    name, _, pretrained = spec.partition("@")
    known = open_clip.list_models()
    if name not in known:
        close = difflib.get_close_matches(name, list(PRESETS) + known, n=4, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}?" if close else f"presets: {', '.join(PRESETS)}"
        raise ConfigError(f"{where}={spec!r}: unknown model; {hint}")
    if not pretrained:
        raise ConfigError(f"{where}={spec!r}: name the weights as {name}@TAG, {name}@/path/to/weights "
                          f"or {name}@random; tags: {', '.join(open_clip.list_pretrained_tags_by_model(name)) or 'none'}")
    if pretrained == "random":
        return name, None, f"{name}@random"
    path = Path(pretrained).expanduser()
    if path.suffix in WEIGHT_SUFFIXES or "/" in pretrained or "\\" in pretrained:
        if path.suffix not in WEIGHT_SUFFIXES:  # never hand an arbitrary file to a checkpoint loader
            raise ConfigError(f"{where}={spec!r}: a weights file ends in {', '.join(WEIGHT_SUFFIXES)}")
        if not path.is_file():
            raise ConfigError(f"{where}={spec!r}: weights file not found: {path}")
        return name, str(path), f"{name}@{path.name}#{file_digest(path)}"
    tags = open_clip.list_pretrained_tags_by_model(name)
    if pretrained not in tags:
        raise ConfigError(f"{where}={spec!r}: unknown pretrained tag {pretrained!r}; "
                          f"tags for {name}: {', '.join(tags) or 'none'}")
    return name, pretrained, spec


MAX_IMAGE_PIXELS = 50_000_000  # a generated sketch is ~0.1 MP, a photo ~12-50 MP


def load_image(item: str | Path | Image.Image) -> Image.Image:
    """An RGB image from a path or PIL image; RequestError naming the file otherwise."""
    if isinstance(item, Image.Image):
        return item.convert("RGB")
    path = Path(item)
    check_regular_file(path, RequestError, "image")
    try:
        with Image.open(path) as img:
            if img.width * img.height > MAX_IMAGE_PIXELS:  # checked before decoding a single pixel
                raise RequestError(f"{path}: {img.width}x{img.height} pixels; bffkit reads images of at most "
                                   f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels")
            return img.convert("RGB")
    except Image.DecompressionBombError:
        raise RequestError(f"{path}: too many pixels to decode safely; bffkit reads images of at most "
                           f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise RequestError(f"{path}: not an image file bffkit can read") from None


def _load_failure(err: Exception) -> str:
    text = " ".join(str(err).split())
    if "download" in text.lower() or "hf hub" in text.lower() or "huggingface" in text.lower():
        return ("the weights are not on this machine and could not be downloaded (offline?); fetch them once "
                "with network access, or point at local weights (NAME@/path/weights.safetensors, local-dir:/path)")
    if not text:
        return "not a checkpoint open_clip can read"
    return f"not a checkpoint open_clip can read ({text[:120]})"


class Embedder:
    """open_clip image/text encoder: L2-normalised float32 embeddings, batched.

    Use :func:`create_embedder`; ``model_id`` is the cache key, ``forward_calls`` counts
    encoder batches (a cache hit makes none), ``folder`` is a ``local-dir:`` model's folder.
    """

    def __init__(self, model, preprocess, tokenizer, model_id: str, device: str, batch_size: int = 64,
                 folder: Path | None = None):
        self.model, self.preprocess, self.tokenizer = model, preprocess, tokenizer
        self.model_id, self.device, self.batch_size = model_id, device, batch_size
        self.folder = folder
        self.forward_calls = 0

    def embed_images(self, images: Sequence[str | Path | Image.Image], progress: bool = False) -> np.ndarray:
        """Embeddings of shape (n_images, dim), rows L2-normalised."""
        import torch
        from tqdm.auto import tqdm

        out = []
        dtype = next(self.model.parameters()).dtype
        starts = range(0, len(images), self.batch_size)
        for start in tqdm(starts, disable=None if progress else True, desc=f"embed {self.model_id}", unit="batch"):
            batch = torch.stack([self.preprocess(load_image(i)) for i in images[start:start + self.batch_size]])
            with torch.inference_mode():
                feats = self.model.encode_image(batch.to(self.device, dtype))
            self.forward_calls += 1
            out.append(torch.nn.functional.normalize(feats.float(), dim=-1).cpu().numpy())
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 0), np.float32)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Text embeddings of shape (n_texts, dim), rows L2-normalised."""
        import torch

        out = []
        for start in range(0, len(texts), self.batch_size):
            tokens = self.tokenizer(list(texts[start:start + self.batch_size])).to(self.device)
            with torch.inference_mode():
                feats = self.model.encode_text(tokens)
            self.forward_calls += 1
            out.append(torch.nn.functional.normalize(feats.float(), dim=-1).cpu().numpy())
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 0), np.float32)


def create_embedder(spec: str, *, device: str = "auto", batch_size: int = 64, where: str = "embed.model") -> Embedder:
    """Build an :class:`Embedder` from a model spec (see the module docstring); fp16 on cuda.

    Errors are one line naming `where` (the config field or CLI option that gave the spec)."""
    import open_clip

    name, pretrained, model_id = resolve_model_spec(spec, where)
    dev = resolve_device(device)
    precision = "fp16" if dev == "cuda" else "fp32"
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=pretrained, device=dev,
                                                                     precision=precision)
    except Exception as err:  # noqa: BLE001 - a checkpoint loader fails in many ways (safetensors, pickle, hub)
        raise ConfigError(f"{where}={spec!r}: cannot load: {_load_failure(err)}") from None
    model.eval()
    folder = Path(name.removeprefix("local-dir:")) if name.startswith("local-dir:") else None
    return Embedder(model, preprocess, open_clip.get_tokenizer(name), model_id, dev, batch_size, folder)

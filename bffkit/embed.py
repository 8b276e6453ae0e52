"""Stage 3, embeddings: open_clip image and text embeddings, cached by (image sha256, model).

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
import hashlib
import json
from collections.abc import Sequence
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from .exceptions import ConfigError, RequestError
from .paths import DATA_DIR


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


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:12]


def resolve_model_spec(spec: str) -> tuple[str, str | None, str]:
    """(open_clip model name, pretrained tag/path or None, cache id) for a model spec.

    The cache id names what produced an embedding: a local weights file is identified by its
    content digest, so replacing the file never serves stale cached embeddings.
    """
    import open_clip

    from .sketch_clip import register

    register()  # the sketch-clip architecture is a known name (e.g. `sketch-clip@random`)
    if spec in PRESETS:
        p = PRESETS[spec]
        if p.model.startswith("local-dir:"):  # shipped weights: the cache id follows their content
            folder = Path(p.model.removeprefix("local-dir:"))
            if not (folder / "open_clip_model.safetensors").is_file():
                raise ConfigError(f"embed.model={spec!r}: no trained weights in {folder}; run "
                                  f"`bffkit train-sketch-clip` or set embed.model to another model")
            name, pretrained, local_id = resolve_model_spec(p.model)
            return name, pretrained, f"{spec}#{local_id.rsplit('#', 1)[1]}"
        return p.model, p.pretrained, spec
    if spec.startswith("local-dir:"):
        folder = Path(spec.removeprefix("local-dir:")).expanduser()
        if not (folder / "open_clip_config.json").is_file():
            raise ConfigError(f"embed.model={spec!r}: no open_clip_config.json in {folder}")
        weights = next((folder / n for n in ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
                        if (folder / n).is_file()), None)
        if weights is None:
            raise ConfigError(f"embed.model={spec!r}: no open_clip_model.safetensors in {folder}")
        return f"local-dir:{folder}", None, f"local-dir:{folder.name}#{_file_digest(weights)}"
    if spec.startswith("hf-hub:"):
        return spec, None, spec
    name, _, pretrained = spec.partition("@")
    known = open_clip.list_models()
    if name not in known:
        close = difflib.get_close_matches(name, list(PRESETS) + known, n=4, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}?" if close else f"presets: {', '.join(PRESETS)}"
        raise ConfigError(f"embed.model={spec!r}: unknown model; {hint}")
    if not pretrained:
        raise ConfigError(f"embed.model={spec!r}: name the weights as {name}@TAG, {name}@/path/to/weights "
                          f"or {name}@random; tags: {', '.join(open_clip.list_pretrained_tags_by_model(name)) or 'none'}")
    if pretrained == "random":
        return name, None, f"{name}@random"
    path = Path(pretrained).expanduser()
    if path.suffix in (".safetensors", ".bin", ".pt", ".pth") or "/" in pretrained:
        if not path.is_file():
            raise ConfigError(f"embed.model={spec!r}: weights file not found: {path}")
        return name, str(path), f"{name}@{path.name}#{_file_digest(path)}"
    tags = open_clip.list_pretrained_tags_by_model(name)
    if pretrained not in tags:
        raise ConfigError(f"embed.model={spec!r}: unknown pretrained tag {pretrained!r}; "
                          f"tags for {name}: {', '.join(tags) or 'none'}")
    return name, pretrained, spec


def load_image(item: str | Path | Image.Image) -> Image.Image:
    """An RGB image from a path or PIL image; RequestError naming the file otherwise."""
    if isinstance(item, Image.Image):
        return item.convert("RGB")
    path = Path(item)
    if not path.is_file():
        raise RequestError(f"image not found: {path}")
    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except (UnidentifiedImageError, OSError):
        raise RequestError(f"{path}: not an image file bffkit can read") from None


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


def create_embedder(spec: str, *, device: str = "auto", batch_size: int = 64) -> Embedder:
    """Build an :class:`Embedder` from a model spec (see the module docstring); fp16 on cuda."""
    import open_clip

    from .generate.diffusers_backend import resolve_device

    name, pretrained, model_id = resolve_model_spec(spec)
    dev = resolve_device(device)
    precision = "fp16" if dev == "cuda" else "fp32"
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=pretrained, device=dev,
                                                                     precision=precision)
    except (RuntimeError, OSError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(f"embed.model={spec!r}: cannot load: {first}") from None
    model.eval()
    folder = Path(name.removeprefix("local-dir:")) if name.startswith("local-dir:") else None
    return Embedder(model, preprocess, open_clip.get_tokenizer(name), model_id, dev, batch_size, folder)


def embed_images_cached(store, embedder: Embedder, images: Sequence[dict[str, Any]],
                        progress: bool = False) -> np.ndarray:
    """Embeddings for stored images (rows with ``sha256`` and ``path``), in the given order.

    What the store already holds for (sha256, model id) is read back; only the rest is
    embedded, then stored. A rerun embeds nothing twice.
    """
    return _embed_with_cache(store, embedder, images, progress)[0]


def _embed_with_cache(store, embedder: Embedder, images: Sequence[dict[str, Any]],
                      progress: bool = False) -> tuple[np.ndarray, int]:
    """(embeddings in the given order, how many images had to be embedded)."""
    shas = [r["sha256"] for r in images]
    cached = store.get_embeddings(embedder.model_id, shas)
    missing = list(dict.fromkeys(s for s in shas if s not in cached))
    if missing:
        path_of = {r["sha256"]: store.workspace / r["path"] for r in images}
        fresh = embedder.embed_images([path_of[s] for s in missing], progress=progress)
        store.put_embeddings(embedder.model_id, missing, fresh)
        cached.update(zip(missing, fresh))
    return (np.stack([cached[s] for s in shas]) if shas else np.zeros((0, 0), np.float32)), len(missing)


@dataclass(frozen=True)
class EmbedResult:
    """Stage 3 on one generation job."""

    job_id: str
    model_id: str
    n_images: int
    n_new_embeddings: int
    mean_alignment: float | None
    mean_adherence: float | None
    n_aligned: int  # images at or above the outlier threshold's alignment
    n_artefacts: int | None  # images more likely smudged or cropped than not (None: the model cannot tell)
    seconds: float


def calibration_for(embedder: Embedder, store=None):
    """The model's calibration: from the store, else from the model's folder, else fitted.

    A ``local-dir:`` model may carry its calibration beside its weights (``calibration.json``, as
    ``bffkit train-sketch-clip`` writes it and sketch-clip ships it); it is used when it was fitted
    on these very weights. A stored calibration from before artefact or near-miss calibration
    existed is replaced (from the folder, else fitted again: same seed, same alignment map) so
    that it gains them.
    """
    from .scoring import AlignmentCalibration, calibrate_alignment

    if store is not None and (row := store.get_calibration(embedder.model_id)) is not None:
        stored = AlignmentCalibration(*row)
        if stored.complete:
            return stored
    cal = calibration_beside_weights(embedder) or calibrate_alignment(embedder)
    if store is not None:
        store.put_calibration(*astuple(cal))
    return cal


def calibration_beside_weights(embedder: Embedder):
    """The ``calibration.json`` in a ``local-dir:`` model's folder, if it was fitted on the same
    weights (its model id ends in their digest) and has every map; else None."""
    from .scoring import AlignmentCalibration

    path = embedder.folder / "calibration.json" if embedder.folder is not None else None
    if path is None or not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        digest = str(data["model_id"]).rsplit("#", 1)[-1]
        cal = AlignmentCalibration(**{**data, "model_id": embedder.model_id})
    except (ValueError, KeyError, TypeError):
        return None  # unreadable or from another version: fitted afresh instead
    if digest != embedder.model_id.rsplit("#", 1)[-1] or not cal.complete:
        return None
    return cal


def prompt_scores(embedder: Embedder, X: np.ndarray, prompts: Sequence[str], store=None) -> dict[str, np.ndarray | None]:
    """Scores of images (unit embeddings `X`) against their prompts, one array each.

    clip_score (raw CLIPScore), alignment (the model's calibrated score) and artefact (probability
    of a smudged or cropped image; None where the model cannot tell artefacts) -- see
    :mod:`bffkit.scoring`.
    """
    from .scoring import artefact_evidence, artefact_prompts, clip_score

    unique, of_image = np.unique(np.asarray(list(prompts), dtype=str), return_inverse=True)
    unique = unique.tolist()  # each distinct prompt (and its artefact variants) embedded once
    T = embedder.embed_texts(unique)[of_image]
    cal = calibration_for(embedder, store)
    alignment = cal(np.sum(X * T, axis=1))
    artefact = None
    if cal.detects_artefacts:
        variants = embedder.embed_texts(artefact_prompts(unique)).reshape(-1, len(unique), T.shape[1])
        artefact = cal.artefact_probability(artefact_evidence(X, T, variants[:, of_image]))
    return {"clip_score": clip_score(X, T), "alignment": alignment, "artefact": artefact}


def run_embedding(store, job_id: str, embedder: Embedder, *, threshold: float = 0.75, tagger=None,
                  progress: bool = True) -> EmbedResult:
    """Embed, tag and score a job's generated images; store detected attributes and scores."""
    import time as _time

    from .scoring import ARTEFACT_GATE
    from .tagging import VLTTagger, adherence, detected_values

    t0 = _time.perf_counter()
    # 1. The job's images, embedded once per (sha256, model)
    rows = [r for r in store.job_images(job_id).to_dict("records") if r["status"] == "ok"]
    X, n_new = _embed_with_cache(store, embedder, rows, progress=progress)
    if not rows:
        return EmbedResult(job_id, embedder.model_id, 0, 0, None, None, 0, None, _time.perf_counter() - t0)
    # 2. Zero-shot tags and adherence to what was requested
    tags = (tagger or VLTTagger(embedder)).tag(X)
    # 3. Scores against each image's prompt
    scores = prompt_scores(embedder, X, [r["prompt"] for r in rows], store)
    aligned = scores["alignment"]
    out = []
    for i, (r, t) in enumerate(zip(rows, tags)):
        adh = adherence(json.loads(r["vlt_attributes"]), detected_values(t))
        out.append({"image_id": r["id"], "detected": t, "adherence": adh, "quality": float(aligned[i]),
                    **{k: None if v is None else float(v[i]) for k, v in scores.items()}})
    store.save_image_tags(embedder.model_id, out)
    adh = [o["adherence"] for o in out if o["adherence"] is not None]
    return EmbedResult(job_id=job_id, model_id=embedder.model_id, n_images=len(rows), n_new_embeddings=n_new,
                       mean_alignment=round(float(np.mean(aligned)), 4),
                       mean_adherence=round(float(np.mean(adh)), 4) if adh else None,
                       n_aligned=int((aligned >= threshold).sum()),
                       n_artefacts=None if scores["artefact"] is None else int((scores["artefact"] >= ARTEFACT_GATE).sum()),
                       seconds=_time.perf_counter() - t0)

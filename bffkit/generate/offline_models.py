"""Diffusion pipelines of a given architecture with random weights, built with no download.

Used by the GPU benchmarks (real architectures, random weights cost the same compute) and by
the tests (tiny ones). The tokenizer is CLIP's byte-level BPE with no merges: character-level,
written by hand, so it needs no vocabulary from the Hub.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _byte_alphabet() -> list[str]:
    """The printable stand-ins CLIP's byte-level BPE uses for the 256 byte values."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars, extra = [], 0
    for b in range(256):
        if b in keep:
            chars.append(chr(b))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    return chars


def write_char_clip_tokenizer(folder: str | Path, model_max_length: int = 77):
    """Write vocab.json + merges.txt for a character-level CLIP tokenizer and load it."""
    from transformers import CLIPTokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for suffix in ("", "</w>"):
        for ch in _byte_alphabet():
            vocab[ch + suffix] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=model_max_length)


def build_sd_pipeline(unet: dict[str, Any], vae: dict[str, Any], text: dict[str, Any], tokenizer_dir: str | Path,
                      *, turbo: bool = False, seed: int = 0):
    """A StableDiffusionPipeline from UNet / VAE / CLIP text-encoder configs, random weights."""
    import torch
    from diffusers import (AutoencoderKL, DDIMScheduler, EulerDiscreteScheduler, StableDiffusionPipeline,
                           UNet2DConditionModel)
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    if turbo:
        scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                           steps_offset=1)
    else:
        scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1,
                                  clip_sample=False, set_alpha_to_one=False)
    pipe = StableDiffusionPipeline(
        vae=AutoencoderKL(**vae), text_encoder=CLIPTextModel(CLIPTextConfig(**text)),
        tokenizer=write_char_clip_tokenizer(tokenizer_dir), unet=UNet2DConditionModel(**unet), scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe

"""Tiny, randomly initialised models built from configs: real code paths, no downloads."""

from __future__ import annotations

import json
from pathlib import Path


def _bytes_to_unicode() -> list[str]:
    # the byte-level alphabet CLIP's BPE uses (same construction as GPT-2's)
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def write_clip_tokenizer(folder: Path) -> Path:
    """A character-level CLIP tokenizer (vocab.json + merges.txt) written by hand, offline."""
    folder.mkdir(parents=True, exist_ok=True)
    chars = _bytes_to_unicode()
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for ch in chars:
        vocab[ch] = len(vocab)
    for ch in chars:
        vocab[ch + "</w>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return folder


def build_tiny_sd_pipeline(folder: Path, *, turbo: bool = False) -> Path:
    """Save a tiny StableDiffusionPipeline (random weights) with save_pretrained; returns the folder."""
    import torch
    from diffusers import (AutoencoderKL, DDIMScheduler, EulerDiscreteScheduler, StableDiffusionPipeline,
                           UNet2DConditionModel)
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=2, sample_size=32, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32)
    vae = AutoencoderKL(block_out_channels=[32, 64], in_channels=3, out_channels=3,
                        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
                        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"], latent_channels=4)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        bos_token_id=0, eos_token_id=2, hidden_size=32, intermediate_size=37, layer_norm_eps=1e-05,
        num_attention_heads=4, num_hidden_layers=5, pad_token_id=1, vocab_size=1000))
    tok_dir = write_clip_tokenizer(folder.parent / f"{folder.name}-tokenizer")
    tokenizer = CLIPTokenizer(str(tok_dir / "vocab.json"), str(tok_dir / "merges.txt"), model_max_length=77)
    scheduler_cls = EulerDiscreteScheduler if turbo else DDIMScheduler
    extra = {} if turbo else {"clip_sample": False, "set_alpha_to_one": False}
    scheduler = scheduler_cls(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1,
                              **extra)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.save_pretrained(folder)
    return folder

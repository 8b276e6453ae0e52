"""Tiny, randomly initialised models built from configs: real code paths, no downloads."""

from __future__ import annotations

from pathlib import Path

from bffkit.generate.offline_models import build_sd_pipeline

# the sizes diffusers' own pipeline tests use
TINY_UNET = dict(block_out_channels=(32, 64), layers_per_block=2, sample_size=32, in_channels=4, out_channels=4,
                 down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                 up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32)
TINY_VAE = dict(block_out_channels=[32, 64], in_channels=3, out_channels=3, latent_channels=4,
                down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2)
TINY_TEXT = dict(bos_token_id=0, eos_token_id=2, hidden_size=32, intermediate_size=37, layer_norm_eps=1e-05,
                 num_attention_heads=4, num_hidden_layers=5, pad_token_id=1, vocab_size=1000)


def build_tiny_sd_pipeline(folder: Path, *, turbo: bool = False) -> Path:
    """Save a tiny StableDiffusionPipeline (random weights) with save_pretrained; returns the folder."""
    pipe = build_sd_pipeline(TINY_UNET, TINY_VAE, TINY_TEXT, folder.parent / f"{folder.name}-tokenizer", turbo=turbo)
    pipe.save_pretrained(folder)
    return folder

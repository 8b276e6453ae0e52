"""sketch-clip's architecture: a small open_clip ModifiedResNet + text transformer, kept as data
(``bffkit/models/configs/sketch-clip.json``, registered with open_clip like any model config),
plus two training-time fast paths that leave the outputs unchanged (each checked by a test).
Why this shape: ``docs/sketch-clip.md``."""

from __future__ import annotations

import json

from ...paths import DATA_DIR
from ..embedders import MODEL_CONFIGS_DIR, register_model_configs

MODEL_NAME = "sketch-clip"
MODEL_DIR = DATA_DIR / "models" / MODEL_NAME
MODEL_WEIGHTS = MODEL_DIR / "open_clip_model.safetensors"  # the shipped weights
SKETCH_CLIP_CONFIG = json.loads((MODEL_CONFIGS_DIR / f"{MODEL_NAME}.json").read_text())
MEAN, STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)


def register() -> None:
    """Make the sketch-clip architecture known to open_clip (idempotent)."""
    register_model_configs()


def encode_text_trimmed(model, tokens, attention: str = "math"):
    """``model.encode_text`` on tokens cut after the longest text's end token.

    The text tower is causal and pools at the end token, so the padding after it cannot change
    the result (a test checks equality); prompts of ~12 tokens then cost 12 positions, not 32.
    `attention` picks torch's attention kernel: "math" (the plain one) or "flash" (the fused
    one). On these short sequences the CPU flash kernel is the slower: a text step's prompts,
    forward and backward, cost 2.3x as much (``bffkit bench train-text``; the same losses).
    """
    from open_clip.transformer import text_global_pool
    from torch.nn.attention import SDPBackend, sdpa_kernel

    kernel = {"math": SDPBackend.MATH, "flash": SDPBackend.FLASH_ATTENTION}[attention]
    eot = getattr(model, "text_eos_id", None)
    last = int((tokens != 0).nonzero()[:, 1].max()) + 1  # 0 pads after the end token
    tokens = tokens[:, :last]
    x = model.token_embedding(tokens) + model.positional_embedding[:last]
    with sdpa_kernel(kernel):  # the backward follows the kernel the forward chose
        x = model.ln_final(model.transformer(x, attn_mask=model.attn_mask[:last, :last]))
    x = text_global_pool(x, tokens, model.text_pool_type, eos_token_id=eot)
    return x @ model.text_projection if model.text_projection is not None else x


def _pool_first_token(self, x):
    """open_clip's ``AttentionPool2d.forward`` with only the pooled token as the query.

    The original attends from all HW+1 tokens and keeps token 0; asking only token 0 gives the
    same output (a test checks it) and makes the image tower's forward and backward 20% faster
    (0.70 -> 0.56 s at batch 128 on 2 cores).
    """
    import torch
    import torch.nn.functional as F

    x = x.reshape(x.shape[0], x.shape[1], x.shape[2] * x.shape[3]).permute(2, 0, 1)  # NCHW -> (HW)NC
    x = torch.cat([x.mean(dim=0, keepdim=True), x], dim=0)
    x = x + self.positional_embedding[:, None, :].to(x.dtype)
    out, _ = F.multi_head_attention_forward(
        query=x[:1], key=x, value=x, embed_dim_to_check=x.shape[-1], num_heads=self.num_heads,
        q_proj_weight=self.q_proj.weight, k_proj_weight=self.k_proj.weight, v_proj_weight=self.v_proj.weight,
        in_proj_weight=None, in_proj_bias=torch.cat([self.q_proj.bias, self.k_proj.bias, self.v_proj.bias]),
        bias_k=None, bias_v=None, add_zero_attn=False, dropout_p=0.0, out_proj_weight=self.c_proj.weight,
        out_proj_bias=self.c_proj.bias, use_separate_proj_weight=True, training=self.training, need_weights=False)
    return out[0]


def pool_first_token(model):
    """Switch `model`'s attention pool to :func:`_pool_first_token` (training only; weights unchanged)."""
    import types

    pool = model.visual.attnpool
    pool.forward = types.MethodType(_pool_first_token, pool)
    return model

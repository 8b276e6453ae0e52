"""Stage 3 benchmarks: embedding throughput against the matmul ceiling, sketch-clip's text tower."""

from __future__ import annotations


from .timing import best_of, pinned


def matmul_flops_per_s(n: int = 1024, repeats: int = 5) -> float:
    """This machine's measured float32 matmul rate (the ceiling an encoder can approach)."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    t = best_of(lambda: torch.mm(a, b), repeats)
    return 2 * n ** 3 / t


def bench_embed(n: int = 64, repeats: int = 3, batch: int = 32,
                models: tuple[str, ...] = ("sketch-clip@random", "ViT-B-32@random"), **_ignored) -> dict:
    """Image-embedding throughput on one CPU thread, preprocessing included, per model, and the
    share of the measured matmul ceiling each reaches (achieved FLOP/s / matmul FLOP/s).

    Random weights cost the same compute as trained ones, so the architectures are measured
    without any checkpoint."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from ..models import create_embedder
    from ..synth import SketchRenderer
    from ..prompts import build_specs

    renderer = SketchRenderer(256, 256, defect_rate=0.0)
    images = [renderer.render(s.attributes, s.seed)[0] for s in build_specs("dress", n, seed=1)]
    out: dict = {"bench": "embed", "images": n, "batch": batch, "threads": 1, "cores": 1, "repeats": repeats,
                 "models": {}}
    with pinned(1):
        ceiling = matmul_flops_per_s()
        out["matmul_gflops_per_s"] = round(ceiling / 1e9, 2)
        for spec in models:
            emb = create_embedder(spec, device="cpu", batch_size=batch)
            size = emb.preprocess.transforms[0].size if hasattr(emb.preprocess, "transforms") else None
            x = torch.stack([emb.preprocess(images[0])])
            with FlopCounterMode(display=False) as counter, torch.inference_mode():
                emb.model.encode_image(x)
            flops = counter.get_total_flops()
            emb.embed_images(images[:batch])  # warm-up
            t = best_of(lambda e=emb: e.embed_images(images), repeats)
            rate = n / t
            out["models"][spec] = {
                "model_id": emb.model_id, "input_size": size, "gflops_per_image": round(flops / 1e9, 3),
                "images_per_s": round(rate, 1), "achieved_gflops_per_s": round(flops * rate / 1e9, 2),
                "share_of_matmul_ceiling": round(flops * rate / ceiling, 3),
            }
    return out


def bench_train_text(n: int = 128, repeats: int = 5, **_ignored) -> dict:
    """sketch-clip's text tower in training, forward and backward in bf16 as `train` runs it,
    with the attention kernel training uses ("math") against torch's fused CPU flash kernel
    (the baseline): a text step's zero-shot prompts (the category and 5 other attributes, for
    the categories of `n` sampled garments) and a batch of `n` captions. Random weights cost
    the same compute as trained ones. Also the two kernels' losses in float32 (the same maths)."""
    import numpy as np
    import open_clip
    import torch
    import torch.nn.functional as F

    from ..prompts import ParsedRequest, sample_attributes
    from ..models.sketch_clip.architecture import MODEL_NAME, encode_text_trimmed, register
    from ..models.sketch_clip.data import caption
    from ..models.sketch_clip.losses import PROMPT_ATTRIBUTES, prompt_loss
    from ..taxonomy import load_taxonomy

    tax = load_taxonomy()
    register()
    torch.manual_seed(0)
    model = open_clip.create_model(MODEL_NAME).train()
    tokenizer = open_clip.get_tokenizer(MODEL_NAME)
    rng = np.random.default_rng(0)
    attrs = [sample_attributes(ParsedRequest(text="", attributes={}), rng, tax) for _ in range(n)]
    captions = tokenizer([caption(a, rng) for a in attrs])
    feats = F.normalize(torch.randn(n, model.text_projection.shape[1]), dim=-1)
    grey, chosen = np.zeros(n, bool), list(PROMPT_ATTRIBUTES[:6])

    def prompt_step(attention: str, bf16: bool = True) -> float:
        f = feats.clone().requires_grad_()
        loss = prompt_loss(model, tokenizer, f, attrs, grey, chosen, "a sketch of a {}", tax, bf16=bf16,
                           attention=attention)
        loss.backward()
        model.zero_grad(set_to_none=True)
        return float(loss.detach())

    def caption_step(attention: str, bf16: bool = True) -> float:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            emb = encode_text_trimmed(model, captions, attention)
        loss = open_clip.ClipLoss()(feats, F.normalize(emb.float(), dim=-1), model.logit_scale.exp())
        loss.backward()
        model.zero_grad(set_to_none=True)
        return float(loss.detach())

    out: dict = {"bench": "train-text", "texts": n, "threads": 1, "cores": 1, "repeats": repeats}
    with pinned(1):
        for name, step in (("prompt_step", prompt_step), ("captions", caption_step)):
            step("math"), step("flash")  # warm-up
            t_math = best_of(lambda s=step: s("math"), repeats)
            t_flash = best_of(lambda s=step: s("flash"), repeats)
            out[name] = {"math_seconds": round(t_math, 4), "flash_seconds": round(t_flash, 4),
                         "speedup_vs_flash": round(t_flash / t_math, 2),
                         "float32_loss": {k: step(k, bf16=False) for k in ("math", "flash")}}
    return out


# --------------------------------------------------------------------------- dpp

"""Stage 2 benchmarks: the sketch backend, and diffusion architectures on a GPU."""

from __future__ import annotations

import tempfile

from ..exceptions import BffkitError
from .timing import best_of, pinned


def bench_generate(n: int = 200, size: int = 256, repeats: int = 3) -> dict:
    """Sketch renderer throughput on one core.

    Baseline: the floor every backend pays per image here — a flat image of the same size
    drawn and PNG-encoded. Reported: images/s for render only, render + PNG, and a whole
    generation job into a fresh workspace (files, journal, store rows), each with its ratio.
    """
    from PIL import Image, ImageDraw

    from ..generate import encode_png, get_generator
    from ..stages.generate import run_generation
    from ..synth import SketchRenderer
    from ..prompts import build_specs
    from ..store import open_store

    cats = ["dress", "trousers", "coat", "skirt", "shirt", "jumpsuit", "jeans", "t-shirt", "jacket", "shorts"]
    specs = [s for i, c in enumerate(cats) for s in build_specs(c, n // len(cats), seed=i,
                                                               backend_options={"width": size, "height": size})]
    for i, s in enumerate(specs):
        specs[i] = type(s)(**{**s.__dict__, "index": i})
    renderer = SketchRenderer(size, size, defect_rate=0.15)

    def baseline():
        for _ in specs:
            img = Image.new("RGB", (size, size), (250, 250, 250))
            ImageDraw.Draw(img).rectangle([size // 4, size // 4, 3 * size // 4, 3 * size // 4], fill=(30, 40, 90))
            encode_png(img)

    def render():
        for s in specs:
            renderer.render(s.attributes, s.seed)

    def render_png():
        for s in specs:
            encode_png(renderer.render(s.attributes, s.seed)[0])

    def job():
        with tempfile.TemporaryDirectory() as tmp:
            store = open_store(tmp)
            store.save_prompt_job(job_id="bench", run_id="bench", round=1, user_id="bench", backend="sketch",
                                  model=None, request="bench", specs=specs)
            result = run_generation(store, "bench", get_generator("sketch"), progress=False)
            assert result.n_done == len(specs)

    with pinned(1):
        render()  # warm caches (gradients, grids)
        t_base = best_of(baseline, repeats)
        t_render = best_of(render, repeats)
        t_png = best_of(render_png, repeats)
        t_job = best_of(job, max(1, repeats - 1))
    per_s = lambda t: len(specs) / t  # noqa: E731
    return {
        "bench": "generate", "backend": "sketch", "images": len(specs), "size": size, "threads": 1,
        "cores": 1, "repeats": repeats,
        "baseline_images_per_s": round(per_s(t_base), 1),
        "render_images_per_s": round(per_s(t_render), 1),
        "render_png_images_per_s": round(per_s(t_png), 1),
        "job_images_per_s": round(per_s(t_job), 1),
        "render_png_vs_baseline": round(t_base / t_png, 3),
        "job_vs_baseline": round(t_base / t_job, 3),
        "target_images_per_s": 50,
        "meets_target": per_s(t_png) >= 50,
    }


# UNet / VAE / text-encoder configurations of real checkpoints, as data: random weights built
# from them cost the same compute as the trained ones, with nothing to download.
ARCHITECTURES = {
    "sd15": {
        "unet": dict(sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
                     block_out_channels=(320, 640, 1280, 1280), cross_attention_dim=768, attention_head_dim=8,
                     down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                     up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3),
        "text": dict(hidden_size=768, intermediate_size=3072, num_attention_heads=12, num_hidden_layers=12,
                     vocab_size=49408, max_position_embeddings=77, hidden_act="quick_gelu"),
        "steps": 25, "guidance": 7.5,
    },
    "sd-turbo": {  # the SD 2.1 architecture sd-turbo distils
        "unet": dict(sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
                     block_out_channels=(320, 640, 1280, 1280), cross_attention_dim=1024,
                     attention_head_dim=(5, 10, 20, 20), use_linear_projection=True,
                     down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                     up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3),
        "text": dict(hidden_size=1024, intermediate_size=4096, num_attention_heads=16, num_hidden_layers=23,
                     vocab_size=49408, max_position_embeddings=77, hidden_act="gelu"),
        "steps": 1, "guidance": 0.0,
    },
}
VAE_CONFIG = dict(block_out_channels=(128, 256, 512, 512), in_channels=3, out_channels=3, latent_channels=4,
                  layers_per_block=2, down_block_types=("DownEncoderBlock2D",) * 4,
                  up_block_types=("UpDecoderBlock2D",) * 4)


def build_architecture_pipeline(arch: str, device: str, dtype, scale: float = 1.0):
    """A StableDiffusionPipeline of a real architecture with random weights, built offline.

    `scale` < 1 shrinks channel widths and depth (for exercising the code path on a CPU).
    """
    import tempfile as _tempfile

    from ..generate.offline_models import build_sd_pipeline

    spec = ARCHITECTURES[arch]
    unet_cfg, text_cfg, vae_cfg = dict(spec["unet"]), dict(spec["text"]), dict(VAE_CONFIG)
    if scale < 1.0:
        shrink = lambda chans: tuple(max(32, int(c * scale) // 32 * 32) for c in chans)  # noqa: E731
        unet_cfg.update(block_out_channels=shrink(unet_cfg["block_out_channels"]), attention_head_dim=8,
                        cross_attention_dim=32, layers_per_block=1)
        vae_cfg.update(block_out_channels=shrink(vae_cfg["block_out_channels"]), layers_per_block=1)
        text_cfg.update(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2)
    with _tempfile.TemporaryDirectory() as tmp:
        pipe = build_sd_pipeline(unet_cfg, vae_cfg, text_cfg, tmp, turbo=spec["steps"] <= 4)
    return pipe.to(device=device, dtype=dtype)


def bench_architecture(arch: str = "sd15", size: int = 512, steps: int | None = None, batch: int = 8,
                       repeats: int = 2, device: str = "auto", dtype: str = "auto", scale: float = 1.0,
                       **_ignored) -> dict:
    """Seconds per image of a real diffusion architecture (random weights) on this machine's device.

    Baseline, in the same process: the UNet alone for the same number of steps, so the ratio
    says what the text encoder, VAE decode and scheduler add on top of denoising.
    """
    import torch

    from ..devices import resolve_device, resolve_dtype

    if arch not in ARCHITECTURES:
        raise BffkitError(f"arch={arch!r}: unknown; available: {', '.join(ARCHITECTURES)}")
    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    steps = steps or ARCHITECTURES[arch]["steps"]
    guidance = ARCHITECTURES[arch]["guidance"]
    pipe = build_architecture_pipeline(arch, dev, dt, scale)
    prompts = ["a red midi wrap dress, studio photograph"] * batch
    gens = lambda: [torch.Generator(device=dev).manual_seed(i) for i in range(batch)]  # noqa: E731
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)

    def full():
        with torch.inference_mode():
            pipe(prompt=prompts, negative_prompt=None if guidance <= 1 else [""] * batch, height=size, width=size,
                 num_inference_steps=steps, guidance_scale=guidance, generator=gens())
        sync()

    latent = torch.randn(batch * (2 if guidance > 1 else 1), 4, size // 8, size // 8, device=dev, dtype=dt)
    context = torch.randn(latent.shape[0], 77, pipe.unet.config.cross_attention_dim, device=dev, dtype=dt)

    def unet_only():
        with torch.inference_mode():
            for t in range(steps):
                pipe.unet(latent, 999 - t, encoder_hidden_states=context)
        sync()

    full()  # warm-up (kernels, allocator)
    t_full = best_of(full, repeats)
    t_unet = best_of(unet_only, repeats)
    name = torch.cuda.get_device_name(0) if dev == "cuda" else dev
    return {
        "bench": f"generate-{arch}", "device": name, "dtype": str(dt).removeprefix("torch."), "size": size,
        "steps": steps, "guidance": guidance, "batch": batch, "repeats": repeats, "scale": scale,
        "unet_params_m": round(sum(p.numel() for p in pipe.unet.parameters()) / 1e6, 1),
        "seconds_per_image": round(t_full / batch, 4),
        "unet_only_seconds_per_image": round(t_unet / batch, 4),
        "pipeline_vs_unet_only": round(t_full / t_unet, 3),
    }

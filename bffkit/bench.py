"""Benchmarks (`bffkit bench NAME`): each reports its figures as ratios against a baseline
measured in the same process, pinned to one core and one BLAS/torch thread (the shared box
gives noisy timings otherwise; see FIELD-NOTES), taking the best of several repeats."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager

from .exceptions import BffkitError


@contextmanager
def pinned(threads: int = 1):
    """One core, one BLAS thread, one torch thread for the duration of a benchmark."""
    from threadpoolctl import threadpool_limits

    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if affinity:
        os.sched_setaffinity(0, {min(affinity)})
    torch_threads = None
    try:
        import torch

        torch_threads = torch.get_num_threads()
        torch.set_num_threads(threads)
    except ImportError:
        pass
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        if affinity:
            os.sched_setaffinity(0, affinity)
        if torch_threads:
            import torch

            torch.set_num_threads(torch_threads)


def best_of(fn: Callable[[], object], repeats: int) -> float:
    """Minimum wall time of `repeats` runs (seconds)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench_generate(n: int = 200, size: int = 256, repeats: int = 3) -> dict:
    """Sketch renderer throughput on one core.

    Baseline: the floor every backend pays per image here — a flat image of the same size
    drawn and PNG-encoded. Reported: images/s for render only, render + PNG, and a whole
    generation job into a fresh workspace (files, journal, store rows), each with its ratio.
    """
    from PIL import Image, ImageDraw

    from .generate import encode_png, get_generator, run_generation
    from .generate.sketch import SketchRenderer
    from .prompts import build_specs
    from .store import open_store

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

    from .generate.offline_models import build_sd_pipeline

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

    from .generate.diffusers_backend import resolve_device, resolve_dtype

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

    from .embed import create_embedder
    from .generate.sketch import SketchRenderer
    from .prompts import build_specs

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

    from .prompts import ParsedRequest, sample_attributes
    from .sketch_clip import MODEL_NAME, PROMPT_ATTRIBUTES, caption, encode_text_trimmed, prompt_loss, register
    from .taxonomy import load_taxonomy

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

def reference_greedy_map(X, quality, k: int, theta: float = 0.7, eps: float = 1e-4):
    """The plain numpy fast greedy MAP (Chen et al. 2018, Algorithm 1) that the anchors were
    measured with: the same algorithm as :func:`bffkit.dpp.greedy_map`, written directly."""
    import numpy as np

    r = (quality - quality.min()) / max(float(quality.max() - quality.min()), 1e-12)
    q = np.exp(theta / (2 * (1 - theta)) * (r - 1)).astype(X.dtype)
    n = len(X)
    cis = np.zeros((k, n), dtype=X.dtype)
    di2 = q * q
    j = int(np.argmax(di2))
    selected = [j]
    while len(selected) < k:
        t = len(selected) - 1
        ci_opt, di_opt = cis[:t, j], np.sqrt(di2[j])
        elements = q[j] * q * (X @ X[j])
        eis = (elements - ci_opt @ cis[:t]) / di_opt
        cis[t] = eis
        di2 -= eis * eis
        di2[selected] = -np.inf
        j = int(np.argmax(di2))
        if di2[j] < eps * float(q.max()) ** 2:
            break
        selected.append(j)
    return np.asarray(selected)


def gemv_bandwidth(X, repeats: int = 5) -> float:
    """Bytes/s a matrix-vector product streams `X` at: the memory floor of one kernel row."""
    import numpy as np

    v = np.ones(X.shape[1], dtype=X.dtype)
    out = np.empty(X.shape[0], dtype=X.dtype)
    t = best_of(lambda: np.dot(X, v, out=out), repeats)
    return X.nbytes / t


def _unit_rows(n: int, d: int, seed: int):
    import numpy as np

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d), dtype=np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X, rng.random(n)


def bench_dpp(n: int | None = None, repeats: int = 3, k: int = 200, d: int = 512,
              sizes: tuple[int, ...] = (10_000, 50_000, 1_000_000)) -> dict:
    """Greedy MAP selection (k=200, d=512, float32) against the plain numpy reference, and
    against the memory floor: the bytes the algorithm must stream (k reads of X plus the
    growing Cholesky rows) at the GEMV bandwidth measured on the same X. `n` replaces the
    largest size. Targets: 10k <= 0.15 s, 50k <= 1.0 s, 1M <= 20 s and <= 1.25x the floor."""
    import numpy as np

    from .dpp import greedy_map

    if n is not None:
        sizes = tuple(s for s in sizes if s < n) + (n,)
    targets = {10_000: 0.15, 50_000: 1.0, 1_000_000: 20.0}
    out = {"k": k, "d": d, "dtype": "float32", "threads": 1, "sizes": {}}
    with pinned(1):
        for size in sizes:
            X, quality = _unit_rows(size, d, seed=size)
            reps = repeats if size <= 100_000 else 1
            greedy_map(X[:2000], quality[:2000], 10)  # warm-up
            t_ours = best_of(lambda: greedy_map(X, quality, k, theta=0.7), reps)
            t_ref = best_of(lambda: reference_greedy_map(X, quality, k, theta=0.7), reps)
            same = greedy_map(X, quality, k).tolist() == reference_greedy_map(X, quality, k).tolist() \
                if size <= 100_000 else None
            bw = gemv_bandwidth(X)
            floor_bytes = k * X.nbytes + 4 * size * k * (k - 1) / 2
            floor = floor_bytes / bw
            row = {"seconds": round(t_ours, 4), "reference_seconds": round(t_ref, 4),
                   "ratio_to_reference": round(t_ours / t_ref, 3), "floor_seconds": round(floor, 4),
                   "ratio_to_floor": round(t_ours / floor, 3), "gemv_gb_per_s": round(bw / 1e9, 1),
                   "same_selection_as_reference": same}
            if size in targets:
                row["target_seconds"] = targets[size]
                row["meets_target"] = t_ours <= targets[size] and (size < 1_000_000 or t_ours / floor <= 1.25)
            out["sizes"][str(size)] = row
            del X
    return out


# --------------------------------------------------------------------------- cluster

def bench_cluster(n: int | None = None, repeats: int = 1, d: int = 512, true_k: int = 6,
                  k_range: tuple[int, int] = (3, 8), sample_size: int = 5000) -> dict:
    """Auto-K (3..8) at 100k x 512 against exhaustive sklearn KMeans on all points + sklearn's
    silhouette on the same sample. Target: <= 3 s, the same K."""
    import numpy as np
    from sklearn.cluster import KMeans
    from sklearn.datasets import make_blobs
    from sklearn.metrics import silhouette_score

    from .cluster import auto_kmeans

    n = n or 100_000
    X, _ = make_blobs(n, d, centers=true_k, cluster_std=4.0, random_state=0)
    X = X.astype(np.float32)
    out = {"n": n, "d": d, "true_k": true_k, "k_range": list(k_range), "sample_size": sample_size, "threads": 1}
    with pinned(1):
        result = {}
        t_ours = best_of(lambda: result.setdefault("r", auto_kmeans(X, k_range, seed=0, sample_size=sample_size)),
                         repeats)
        ours = auto_kmeans(X, k_range, seed=0, sample_size=sample_size)
        sample = np.sort(np.random.default_rng(0).choice(n, size=min(n, sample_size), replace=False))
        t0 = time.perf_counter()
        ref_scores = {}
        for k in range(k_range[0], k_range[1] + 1):
            labels = KMeans(n_clusters=k, random_state=0).fit_predict(X)
            ref_scores[k] = float(silhouette_score(X[sample], labels[sample]))
        t_ref = time.perf_counter() - t0
    ref_k = max(ref_scores, key=ref_scores.get)
    out.update(seconds=round(t_ours, 3), reference_seconds=round(t_ref, 3), ratio_to_reference=round(t_ours / t_ref, 3),
               k=ours.k, reference_k=ref_k, same_k=ours.k == ref_k, method=ours.method,
               silhouette={str(k): v for k, v in ours.scores.items()},
               reference_silhouette={str(k): round(v, 6) for k, v in ref_scores.items()},
               target_seconds=3.0, meets_target=t_ours <= 3.0 and ours.k == ref_k)
    return out


# --------------------------------------------------------------------------- notebook sliders

def bench_sliders(n: int | None = None, repeats: int = 3, d: int = 512, k: int = 48, **_ignored) -> dict:
    """What the notebooks' K and theta sliders recompute per move, at N = 500 x 512 (target < 1 s),
    against a baseline of one plain K-means fit at the same K."""
    import numpy as np
    from sklearn.cluster import KMeans
    from sklearn.datasets import make_blobs

    from .stages import RoundData
    from .workbench import kmeans_for_k, selection_for_theta

    n = n or 500
    X, _ = make_blobs(n, d, centers=5, cluster_std=4.0, random_state=0)
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    quality = np.random.default_rng(0).random(n)
    data = RoundData("bench", 1, "bench", "bench", [str(i) for i in range(n)], X, [{}] * n, [{}] * n, quality,
                     quality, [None] * n)
    with pinned(1):
        t_base = best_of(lambda: KMeans(n_clusters=5, n_init=1, random_state=0).fit(X), repeats)
        t_k = max(best_of(lambda kk=kk: kmeans_for_k(X, kk), repeats) for kk in range(2, 13))
        labels = kmeans_for_k(X, 5)[0]
        t_theta = max(best_of(lambda th=th: selection_for_theta(data, th, k, labels), repeats)
                      for th in (0.0, 0.5, 0.7, 0.95))
    return {"n": n, "d": d, "k_selected": k, "slowest_k_slider_seconds": round(t_k, 4),
            "slowest_theta_slider_seconds": round(t_theta, 4), "baseline_kmeans_seconds": round(t_base, 4),
            "k_slider_ratio_to_baseline": round(t_k / t_base, 2), "target_seconds": 1.0,
            "meets_target": max(t_k, t_theta) < 1.0}


# --------------------------------------------------------------------------- loop

def bench_loop(persona: str | None = None, rounds: int = 3, config: str | None = None, n: int | None = None,
               **_ignored) -> dict:
    """The learning loop end to end: sketch backend, a simulated designer, `rounds` rounds of the
    demo request in a scratch workspace. Baseline: round 1 (nothing learned yet). Targets: the
    last round's thumbs-up rate >= round 1's + 25 points, its coverage >= round 1's - 0.02."""
    import logging

    from .config import load_config
    from .paths import DATA_DIR
    from .pipeline import run

    overrides = {"rounds": rounds, "name": "bench-loop"}
    with tempfile.TemporaryDirectory(prefix="bffkit-loop-") as ws:
        cfg = load_config(config or DATA_DIR / "configs" / "demo.yaml", workspace=ws, **overrides)
        update = {"feedback": cfg.feedback.model_copy(update={"source": "persona", "persona": persona})}
        if cfg.embed.model is None:
            update["embed"] = cfg.embed.model_copy(update={"model": "sketch-clip"})
        if n:
            update["generate"] = cfg.generate.model_copy(update={"target_count": n})
        cfg = cfg.model_copy(update=update)
        logging.getLogger("bffkit").debug("bench loop config %s", cfg.name)
        t0 = time.perf_counter()
        result = run(cfg, progress=False, log=lambda _: None)
        seconds = time.perf_counter() - t0
    per_round = [{"round": r.round, "thumbs_up_rate": r.feedback["thumbs_up_rate"], "coverage": r.coverage["score"],
                  "coverage_selected": r.coverage["score_selected"], "outliers": r.feedback["n_outliers"],
                  "head_auc": r.feedback["head_auc"], "head_share": r.selection.get("head_share")}
                 for r in result.rounds]
    first, last = per_round[0], per_round[-1]
    gain = round(last["thumbs_up_rate"] - first["thumbs_up_rate"], 4)
    cov = round(last["coverage"] - first["coverage"], 4)
    from .feedback import load_persona

    return {"persona": load_persona(persona).name, "rounds": per_round, "thumbs_up_gain": gain,
            "coverage_change": cov, "head_auc": last["head_auc"], "seconds": round(seconds, 1),
            "target": {"thumbs_up_gain": 0.25, "coverage_change": -0.02},
            "meets_target": gain >= 0.25 and cov >= -0.02}


BENCHES: dict[str, Callable[..., dict]] = {
    "generate": bench_generate,
    "generate-sd15": lambda **kw: bench_architecture("sd15", **kw),
    "generate-sd-turbo": lambda **kw: bench_architecture("sd-turbo", **kw),
    "embed": bench_embed,
    "train-text": bench_train_text,
    "dpp": bench_dpp,
    "cluster": bench_cluster,
    "loop": bench_loop,
    "sliders": bench_sliders,
}


def run_bench(name: str, **kwargs) -> dict:
    if name not in BENCHES:
        raise BffkitError(f"unknown benchmark {name!r}; available: {', '.join(BENCHES)}")
    return BENCHES[name](**{k: v for k, v in kwargs.items() if v is not None})

"""Training sketch-clip from scratch: seeded, inside a time budget on 2 CPU cores (``bffkit train-sketch-clip``).

The measurements behind each default are in ``docs/sketch-clip.md``."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ...tagging import TEMPLATES as TAGGER_TEMPLATES
from .architecture import MEAN, MODEL_DIR, MODEL_NAME, SKETCH_CLIP_CONFIG, STD, encode_text_trimmed, pool_first_token, register
from .data import PROMPT_TEMPLATES, caption, render_dataset
from .losses import PROMPT_ATTRIBUTES, PromptBank, attribute_loss, prompt_loss


@dataclass
class TrainConfig:
    """How sketch-clip is trained; the defaults reproduce the shipped weights.

    Each default's measurements (what else was tried, and what it reached) are in
    ``docs/sketch-clip.md``; here a line says what the field does.
    """

    n_images: int = 24000  # renders, each seen up to `epochs` times (rendering shares the time budget)
    epochs: int = 11  # the most passes over the images
    # optimiser steps (the cosine schedule's length); None: fitted to the time budget from the pace
    # after `fit_after` steps, refitted every 100, and recorded in training.json to repeat a run
    steps: int | None = None
    fit_after: int = 48
    grey_fraction: float = 0.3  # greyscale copies, captioned without colour, so shape is learned too
    prompt_weight: float = 2.9  # the zero-shot prompt losses beside the caption loss
    # every this many steps the text tower learns the prompts and the PromptBank is re-encoded;
    # between them the image tower trains against the bank (a text step costs ~3 bank steps)
    prompt_text_every: int = 16
    prompt_attributes_per_step: int = 6
    bf16: bool = True  # bf16 autocast with channels-last convolutions (2.4x on an AVX512-BF16 CPU)
    compile: bool = True  # torch.compile the image tower (1.38x a step); eager where compiling fails
    batch_size: int = 128
    lr: float = 1e-3
    # the zero-shot term's weight per attribute (default 1): the attributes with accuracy targets
    attribute_weights: dict = field(default_factory=lambda: {
        "category": 4.0, "primary_color": 3.3, "pattern": 6.0, "neckline": 3.5, "sleeve_length": 2.0})
    weight_decay: float = 0.1
    warmup_steps: int = 100
    seed: int = 0
    threads: int = 2
    max_minutes: float = 28.5
    log_every: int = 25


# The training pace is timed from this step on: the first steps pay one-off costs.
PACE_FROM_STEP = 8


def _to_tensor(batch: np.ndarray):
    import torch

    x = torch.from_numpy(batch).permute(0, 3, 1, 2).float().div_(255)
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (x - mean) / std


def compile_image_tower(model, images: np.ndarray, bf16: bool, log: Callable[[str], None]) -> bool:
    """Replace ``model.visual`` by its ``torch.compile``d self, compiled now on one batch of `images`.

    The warm-up's forward and backward compile both graphs; the batch norms' running statistics
    are put back afterwards, so training starts from the same weights as an eager run. Where
    compiling fails (no C++ compiler, say) the model stays eager and False is returned.
    """
    import torch

    visual = model.visual
    buffers = {k: v.clone() for k, v in visual.named_buffers()}
    try:
        compiled = torch.compile(visual)
        x = _to_tensor(images).contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = compiled(x)
        out.float().sum().backward()
    except Exception as exc:  # noqa: BLE001 - any compiler failure means: train eagerly
        first_line = (str(exc).splitlines() or [""])[0][:200]
        log(f"torch.compile failed ({type(exc).__name__}: {first_line}); training eagerly")
        compiled = None
    with torch.no_grad():
        for k, v in visual.named_buffers():
            v.copy_(buffers[k])
    visual.zero_grad(set_to_none=True)
    if compiled is None:
        return False
    model.visual = compiled
    return True


def fit_steps(done: int, pace: float, seconds_left: float, most: int) -> int:
    """The schedule's length: the steps done plus those the remaining time holds at `pace` seconds
    a step (3% kept for a machine that slows down), at most `most`."""
    return max(done, min(most, done + int(0.97 * seconds_left / pace)))


def train(cfg: TrainConfig, out_dir: Path = MODEL_DIR, log: Callable[[str], None] = print) -> dict:
    """Train sketch-clip from scratch and write config + fp16 safetensors weights to `out_dir`."""
    import open_clip
    import torch
    import torch.nn.functional as F
    from safetensors.torch import save_file

    from ...taxonomy import load_taxonomy

    tax = load_taxonomy()
    t_start = time.perf_counter()
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    register()
    # 1. Data: renders with the attributes they really show
    images, attrs, defects = render_dataset(cfg.n_images, seed=cfg.seed, size=SKETCH_CLIP_CONFIG["vision_cfg"]["image_size"])
    log(f"rendered {len(images)} sketches in {time.perf_counter() - t_start:.0f}s")
    # 2. Model and optimiser
    model = pool_first_token(open_clip.create_model(MODEL_NAME).to(memory_format=torch.channels_last)).train()
    tokenizer = open_clip.get_tokenizer(MODEL_NAME)
    loss_fn = open_clip.ClipLoss()
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embedding" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embedding" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.98), eps=1e-6,
                            fused=True)  # one kernel for all parameters: ~5% more steps in the budget
    visual = model.visual  # the module whose weights are saved, compiled or not
    compiled = cfg.compile and compile_image_tower(model, images[:cfg.batch_size], cfg.bf16, log)
    steps_per_epoch = len(images) // cfg.batch_size
    most = steps_per_epoch * cfg.epochs
    schedule = {"total": cfg.steps or most}
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / cfg.warmup_steps) *
                                              0.5 * (1 + math.cos(math.pi * min(s, schedule["total"]) /
                                                                  schedule["total"])))
    rng = np.random.default_rng(cfg.seed)
    bank = PromptBank(tokenizer, tax, PROMPT_ATTRIBUTES, TAGGER_TEMPLATES)
    # 3. Contrastive training; captions are drawn afresh every epoch
    step, losses = 0, []
    deadline = t_start + cfg.max_minutes * 60
    epoch = 0
    while step < schedule["total"] and time.perf_counter() <= deadline:
        epoch += 1
        order = rng.permutation(len(images))
        for b in range(steps_per_epoch):
            idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            # Colour alone separates most pairs in a batch; greyscale copies captioned without
            # colour words make the model learn shape, length, sleeves and pattern as well.
            grey = rng.random(len(idx)) < cfg.grey_fraction
            batch = images[idx].copy()
            lum = (batch[grey].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)).astype(np.uint8)
            batch[grey] = lum[..., None]
            x = _to_tensor(batch).contiguous(memory_format=torch.channels_last)
            texts = tokenizer([caption(attrs[i], rng, defects[i], grey=g) for i, g in zip(idx, grey)])
            # towers in bf16, similarities and losses in float32 (bf16 logits at scale 100 are noise)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16):
                f_img, f_txt = model.encode_image(x), encode_text_trimmed(model, texts)
            f_img, f_txt = F.normalize(f_img.float(), dim=-1), F.normalize(f_txt.float(), dim=-1)
            loss = loss_fn(f_img, f_txt, model.logit_scale.exp())
            text_step = cfg.prompt_weight > 0 and step % cfg.prompt_text_every == 0
            if text_step:
                # the category and a random draw of the other tagged attributes, with one
                # randomly chosen prompt template, through the text tower now
                template = PROMPT_TEMPLATES[int(rng.integers(len(PROMPT_TEMPLATES)))]
                others = rng.permutation(len(PROMPT_ATTRIBUTES) - 1)[:cfg.prompt_attributes_per_step - 1] + 1
                chosen = [PROMPT_ATTRIBUTES[0]] + [PROMPT_ATTRIBUTES[int(k)] for k in sorted(others)]
                loss = loss + cfg.prompt_weight * prompt_loss(model, tokenizer, f_img, [attrs[i] for i in idx], grey,
                                                              chosen, template, tax, bf16=cfg.bf16,
                                                              weights=cfg.attribute_weights)
            elif cfg.prompt_weight > 0:
                loss = loss + cfg.prompt_weight * attribute_loss(f_img, [attrs[i] for i in idx], grey,
                                                                 bank.class_embeddings, model.logit_scale.exp(), tax,
                                                                 cfg.attribute_weights)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if text_step:
                bank.refresh(model, bf16=cfg.bf16)
            with torch.no_grad():
                model.logit_scale.clamp_(0, math.log(100))
            losses.append(float(loss.detach()))
            step += 1
            if step == PACE_FROM_STEP:
                t_pace = time.perf_counter()
            timed = step - PACE_FROM_STEP
            if cfg.steps is None and timed >= cfg.fit_after and (timed - cfg.fit_after) % 100 == 0:
                # fitted after `fit_after` steps, then again every 100 (a shared machine's pace drifts)
                pace = (time.perf_counter() - t_pace) / timed
                schedule["total"] = fit_steps(step, pace, deadline - time.perf_counter(), most)
                log(f"{pace:.2f} s a step: {schedule['total']} steps fit the budget")
            if step % cfg.log_every == 0:
                log(f"epoch {epoch} step {step}/{schedule['total']} loss {np.mean(losses[-cfg.log_every:]):.3f} "
                    f"({(time.perf_counter() - t_start) / 60:.1f} min)")
            if step >= schedule["total"]:
                break
            if time.perf_counter() > deadline:
                log("time budget reached; stopping early")
                break
    # 4. Save: fp16 weights (half the size; loading casts back), open_clip's local-dir layout
    model.visual = visual
    out_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out_dir / "open_clip_model.safetensors"))
    (out_dir / "open_clip_config.json").write_text(json.dumps({
        "model_cfg": SKETCH_CLIP_CONFIG,
        "preprocess_cfg": {"mean": list(MEAN), "std": list(STD), "interpolation": "bicubic", "resize_mode": "shortest"},
    }, indent=2))
    report = {"train_config": asdict(cfg), "compiled": compiled, "steps": step, "scheduled_steps": schedule["total"],
              "final_loss": float(np.mean(losses[-25:])),
              "minutes": round((time.perf_counter() - t_start) / 60, 2), "torch": torch.__version__}
    (out_dir / "training.json").write_text(json.dumps(report, indent=2))
    return report

"""Where torch work runs: one rule for every backend and embedder."""

from __future__ import annotations


def resolve_device(device: str = "auto") -> str:
    """`device` as given, or for "auto" the best available: cuda, then mps, then cpu."""
    import torch

    if device != "auto":
        return device
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def resolve_dtype(dtype: str, device: str):
    """A torch dtype from its name; "auto" is float16 on cuda, float32 elsewhere."""
    import torch

    if dtype == "auto":
        return torch.float16 if device == "cuda" else torch.float32
    return {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}[dtype]

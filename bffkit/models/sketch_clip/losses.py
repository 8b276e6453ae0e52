"""sketch-clip's losses beside CLIP's contrastive one: zero-shot prompt terms per attribute."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from ...tagging import class_texts
from .architecture import encode_text_trimmed
from .data import COLOUR_WORDS

# Attributes whose zero-shot prompts (the tagger's own) are also trained against directly.
PROMPT_ATTRIBUTES = ("category", "primary_color", "pattern", "length", "sleeve_length", "neckline", "top_length",
                     "leg_shape", "leg_length", "sleeve_type", "silhouette", "fit")


def attribute_loss(img_features, attrs: list[dict], grey: np.ndarray, class_embeddings: Mapping, scale, tax,
                   weights: Mapping[str, float] | None = None):
    """Mean over attributes (weighted by `weights`, default 1) of the cross-entropy of images
    against every value's text embedding.

    ``class_embeddings[attribute]`` is ``(categories, tensor)`` with the tensor shaped
    (len(categories), n_values, dim): the candidates of an image are its own category's block
    (the category attribute has a single block, keyed ""). This is CLIP's zero-shot objective used
    as a training signal: captions alone let the model lean on colour and pattern and under-learn
    shape. Greyscale copies are not asked their colour.
    """
    import torch
    import torch.nn.functional as F

    weights = weights or {}
    losses, total = [], 0.0
    for attribute, (cats, emb) in class_embeddings.items():
        block = {c: k for k, c in enumerate(cats)}
        rows = [i for i, a in enumerate(attrs) if attribute in a and (attribute == "category" or a["category"] in block)
                and not (grey[i] and attribute in COLOUR_WORDS)]
        if not rows:
            continue
        values = tax[attribute].value_names
        idx = torch.tensor([0 if attribute == "category" else block[attrs[i]["category"]] for i in rows])
        target = torch.tensor([values.index(attrs[i][attribute]) for i in rows])
        logits = scale * torch.einsum("nd,nvd->nv", img_features[rows], emb[idx])
        weight = weights.get(attribute, 1.0)
        losses.append(weight * F.cross_entropy(logits, target))
        total += weight
    return torch.stack(losses).sum() / total


def _class_blocks(attributes: Sequence[str], tax, templates: Sequence[str],
                  categories: Callable[[str], list[str]]) -> tuple[list[tuple[str, list[str], int]], list[str]]:
    """The prompts of every class of `attributes` and where each attribute's block starts.

    The category attribute has one block keyed ""; the others one per category `categories` names.
    """
    blocks, texts = [], []
    for attribute in attributes:
        cats = [""] if attribute == "category" else categories(attribute)
        if cats:
            blocks.append((attribute, cats, len(texts)))
            texts += [t for c in cats for t in class_texts(attribute, c, tax, templates)]
    return blocks, texts


def _class_embeddings(emb, blocks, tax, n_templates: int) -> dict:
    """Normalised prompt embeddings -> attribute: (categories, (categories, values, dim)), template-ensembled."""
    import torch.nn.functional as F

    out = {}
    for attribute, cats, start in blocks:
        n_values = len(tax[attribute].value_names)
        ens = emb[start:start + len(cats) * n_values * n_templates].view(len(cats), n_values, n_templates, -1)
        out[attribute] = (cats, F.normalize(ens.mean(2), dim=-1))
    return out


def prompt_loss(model, tokenizer, img_features, attrs: list[dict], grey: np.ndarray, attributes: Sequence[str],
                template: str, tax, bf16: bool = False, weights: Mapping[str, float] | None = None,
                attention: str = "math"):
    """:func:`attribute_loss` against prompts in one `template` encoded now (gradients reach both towers).

    Only the categories present in the batch are encoded, all prompts in one text-tower call.
    """
    import torch
    import torch.nn.functional as F

    blocks, texts = _class_blocks(attributes, tax, [template], lambda attribute: sorted(
        {a["category"] for a in attrs if attribute in a and tax[attribute].applies(a["category"])}))
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        emb = encode_text_trimmed(model, tokenizer(texts), attention)
    class_embeddings = _class_embeddings(F.normalize(emb.float(), dim=-1), blocks, tax, 1)
    return attribute_loss(img_features, attrs, grey, class_embeddings, model.logit_scale.exp(), tax, weights)


class PromptBank:
    """Every zero-shot class the tagger can ask for, ensembled over its templates as the tagger does.

    Encoding the prompts of six attributes with gradients cost as much as the image tower's
    step; the bank is encoded without gradients every few steps and the image tower trains
    against it (detached, like a memory bank) on all attributes in the steps between.
    """

    def __init__(self, tokenizer, tax, attributes: Sequence[str], templates: Sequence[str]):
        self.tax, self.n_templates = tax, len(templates)
        self.blocks, texts = _class_blocks(attributes, tax, templates, lambda attribute: [
            c for c in tax["category"].value_names if tax[attribute].applies(c)])
        self.tokens = tokenizer(texts)
        self.class_embeddings: dict = {}

    def refresh(self, model, bf16: bool = False, chunk: int = 2048) -> None:
        import torch
        import torch.nn.functional as F

        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            emb = torch.cat([encode_text_trimmed(model, self.tokens[i:i + chunk])
                             for i in range(0, len(self.tokens), chunk)])
        self.class_embeddings = _class_embeddings(F.normalize(emb.float(), dim=-1), self.blocks, self.tax,
                                                  self.n_templates)

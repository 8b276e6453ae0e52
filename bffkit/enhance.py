"""Optional stage-1 add-on: an OpenAI chat model rewrites the rule-built prompt.

The rewrite must keep the spec's attributes. The request parser is the judge: parsed back,
the rewrite must still name the requested attributes and the category with the same values
and contradict none of the others; otherwise the rule-built prompt is kept. Off by default
(`prompts.enhancer: openai` turns it on); the key comes from ``OPENAI_API_KEY`` only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from .exceptions import ConfigError
from .prompts import PromptSpec, parse_request
from .taxonomy import Taxonomy

SYSTEM_PROMPT = (
    "You are a fashion art director writing prompts for a text-to-image model. Rewrite the prompt "
    "you are given as one fluent, vivid description of at most 70 words. Keep every garment attribute "
    "it states (category, colours, pattern, material, length, sleeves, neckline and the rest) in the same "
    "words, add no other garment attributes, and reply with the prompt only.")


@dataclass(frozen=True)
class EnhanceReport:
    rewritten: int
    kept_original: int
    errors: int


# Words of mood and setting ("refined", "runway") are a rewrite's licence; only what describes
# the garment itself may not contradict the spec.
FREE_GROUPS = frozenset({"style", "occasion", "era", "season", "rendering"})


def keeps_attributes(text: str, spec: PromptSpec, taxonomy: Taxonomy) -> bool:
    """Whether a rewrite still names the requested attributes and contradicts no garment attribute."""
    found = parse_request(text, taxonomy).attributes
    for name in {"category", *spec.requested}:
        if found.get(name) != spec.attributes.get(name):
            return False
    return all(spec.attributes.get(name, value) == value for name, value in found.items()
               if taxonomy[name].group not in FREE_GROUPS)


def enhance_specs(specs: Sequence[PromptSpec], taxonomy: Taxonomy, *, model: str, client=None,
                  base_url: str | None = None, timeout_s: float = 60.0) -> tuple[list[PromptSpec], EnhanceReport]:
    """Rewrite each spec's prompt with a chat model; specs whose rewrite fails the check keep theirs."""
    import openai

    from .generate.openai_backend import error_message, make_client

    client = client or make_client(timeout_s, 2, base_url)
    out: list[PromptSpec] = []
    rewritten = kept = errors = 0
    for spec in specs:
        try:
            resp = client.chat.completions.create(
                model=model, temperature=0.7, seed=int(spec.seed) % 2**31,
                messages=[{"role": "system", "content": SYSTEM_PROMPT},
                          {"role": "user", "content": f"PROMPT: {spec.prompt}"}])
            text = (resp.choices[0].message.content or "").strip()
        except (openai.AuthenticationError, openai.PermissionDeniedError) as err:
            raise ConfigError(f"OPENAI_API_KEY was rejected ({err.status_code}): {error_message(err)}") from None
        except openai.OpenAIError:
            errors += 1
            out.append(spec)
            continue
        if text and keeps_attributes(text, spec, taxonomy):
            out.append(dataclasses.replace(spec, prompt=text))
            rewritten += 1
        else:
            out.append(spec)
            kept += 1
    return out, EnhanceReport(rewritten=rewritten, kept_original=kept, errors=errors)

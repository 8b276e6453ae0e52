"""Stage 1, prompt engineering: request → VLT attributes → N prompt specs.

A request is free text ("flowy midi wrap dress in sage green silk, 70s boho, for a summer
wedding") or a mapping of attribute → value. :func:`parse_request` extracts the attributes it
names; :func:`build_specs` fills the rest by seeded weighted sampling (weights = priors x gap
boosts x learned preferences) and composes each spec's prompt, negative prompt and the
backend's quality parameters.

>>> specs = build_specs("sleeveless red midi dress", n=2, seed=1)
>>> specs[0].attributes["sleeve_length"], "long sleeves" in specs[0].negative_prompt
('sleeveless', True)
"""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .backend_options import default_options
from .exceptions import RequestError
from .taxonomy import Taxonomy, load_taxonomy, phrase_key, tokenize

FactorMap = Mapping[str, Mapping[str, float]]
"""attribute → value → multiplicative factor (gap boosts, learned preferences)."""

# Words that carry no attribute and are not worth keeping as free text.
STOPWORDS = frozenset("""
a an the and or with without in on at for of to from by as into onto over under about
i me my we our you your it its this that these those some any very really quite slightly super
bit little please want need needs looking look looks like love would should could can make
create show give design designs designed piece pieces outfit outfits garment garments item
style styled styling inspired vibe vibes feel feeling aesthetic kind sort type something
wear wearing worn featuring features feature detail details plus also but is are be have has
made using use colour color colours colors coloured colored tone toned shade print printed
pattern patterned fabric material materials sleeve sleeves neckline length fit waist cut version
one two three some all ideas idea new collection range line option options
""".split())

ALIASES = {
    "color": "primary_color", "colour": "primary_color", "primary_colour": "primary_color",
    "secondary_colour": "secondary_color", "garment": "category", "type": "category",
    "colour_tone": "color_tone", "colour_scheme": "color_scheme",
}


@dataclass(frozen=True)
class ParsedRequest:
    """What a request asked for: attribute → value, plus the words no attribute explained."""

    text: str
    attributes: dict[str, str]
    free_text: tuple[str, ...] = ()


@dataclass(frozen=True)
class PromptSpec:
    """One planned image: its prompt, negative prompt, attributes, backend params and seed."""

    index: int
    prompt: str
    negative_prompt: str
    attributes: dict[str, str]
    params: dict[str, Any]
    seed: int
    backend: str
    requested: tuple[str, ...] = ()  # attributes taken from the request; the rest were sampled
    free_text: tuple[str, ...] = field(default=())

    @classmethod
    def from_row(cls, row: Mapping[str, Any], backend: str) -> PromptSpec:
        """Rebuild a spec from its stored `prompt_specs` row."""
        return cls(index=int(row["spec_index"]), prompt=row["prompt"], negative_prompt=row["negative_prompt"],
                   attributes=dict(row["attributes"]), params=dict(row["params"] or {}), seed=int(row["seed"]),
                   backend=backend, requested=tuple(row.get("requested") or ()),
                   free_text=tuple(row.get("free_text") or ()))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["requested"] = list(self.requested)
        d["free_text"] = list(self.free_text)
        return d


# --------------------------------------------------------------------------- parsing

def parse_request(request: str | Mapping[str, Any], taxonomy: Taxonomy | None = None) -> ParsedRequest:
    """Extract VLT attributes from a free-text request or validate a structured one.

    Free text: longest-phrase matching over value names and synonyms (plurals derived);
    a phrase that could name several attributes resolves to one that applies to the
    requested category; a second colour becomes the secondary colour; words no attribute
    explains are kept as free text.

    Structured: ``{"category": "dress", "length": "midi", "text": "..."}``; unknown
    attributes or values raise :class:`RequestError` listing what is allowed.
    """
    tax = taxonomy or load_taxonomy()
    if isinstance(request, Mapping):
        return _parse_mapping(request, tax)
    if not isinstance(request, str) or not request.strip():
        raise RequestError("request: is empty; describe the design, e.g. 'red midi wrap dress'")
    check_request_text(request)
    return _parse_text(request, tax)


MAX_REQUEST_CHARS = 2000  # a design brief is a sentence or a paragraph; beyond this it is a paste accident


def check_request_text(text: str, where: str = "request") -> None:
    """Refuse text no designer would type: over the length cap, control characters, or no words.

    A request made only of emoji, digits or punctuation would run a whole job on the priors
    alone, so it is refused; text with words that name no attribute runs, with a warning
    (:func:`request_warning`).
    """
    if len(text) > MAX_REQUEST_CHARS:
        raise RequestError(f"{where}: {len(text):,} characters; at most {MAX_REQUEST_CHARS:,} "
                           "(describe the design in a sentence or two)")
    bad = next((ch for ch in text if unicodedata.category(ch) == "Cc" and ch not in "\t\n\r"), None)
    if bad is not None:
        raise RequestError(f"{where}: contains the control character U+{ord(bad):04X}; use plain text")
    if not any(ch.isalpha() for ch in text):
        raise RequestError(f"{where}={_shown(text)}: no words to read (only symbols, digits or emoji); "
                           "describe the design, e.g. 'red midi wrap dress'")


def request_warning(parsed: ParsedRequest) -> str | None:
    """A warning when a request named no VLT attribute: every attribute then comes from the priors."""
    if parsed.attributes:
        return None
    return (f"warning: request={_shown(parsed.text)}: no VLT attribute recognised; every attribute is sampled "
            "from the taxonomy priors (`bffkit taxonomy` lists the words it knows)")


def _shown(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _parse_text(text: str, tax: Taxonomy) -> ParsedRequest:
    tokens = tokenize(text)
    index, max_len = tax.phrase_index, tax.max_phrase_len
    matches: list[tuple[str, list]] = []  # (matched text, candidates)
    free: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            free.append(" ".join(run))
            run.clear()

    i = 0
    while i < len(tokens):
        if not tokens[i][0].isalnum():
            flush()
            i += 1
            continue
        for n in range(min(max_len, len(tokens) - i), 0, -1):
            key = tuple(tokens[i:i + n])
            if key in index and all(t[0].isalnum() or t[0] in "/&" for t in key):
                flush()
                matches.append((" ".join(key), index[key]))
                i += n
                break
        else:
            if tokens[i] in STOPWORDS:
                flush()
            else:
                run.append(tokens[i])
            i += 1
    flush()

    # The category decides which reading of an ambiguous phrase applies ("short" dress vs sleeve).
    category = next((c.value for _, cands in matches for c in cands if c.attribute == "category"), None)
    attrs: dict[str, str] = {}
    for phrase, cands in matches:
        cand = next((c for c in cands if tax[c.attribute].applies(category)), None)
        if cand is None or not _assign(attrs, cand.attribute, cand.value, tax):
            free.append(phrase)
    _apply_implications(attrs, tax)
    return ParsedRequest(text=text, attributes=_ordered(attrs, tax), free_text=tuple(free))


def _assign(attrs: dict[str, str], attribute: str, value: str, tax: Taxonomy) -> bool:
    """Set attribute=value unless already set otherwise; shared value sets fill in order."""
    group = tax.share_group(attribute)
    if len(group) > 1:
        if value in (attrs.get(a) for a in group):
            return True
        slot = next((a for a in group if a not in attrs), None)
        if slot is None:
            return False
        attrs[slot] = value
        return True
    if attribute in attrs:
        return attrs[attribute] == value
    attrs[attribute] = value
    return True


def _apply_implications(attrs: dict[str, str], tax: Taxonomy) -> None:
    for name, value in list(attrs.items()):
        for other, implied in tax[name].value(value).implies.items():
            attrs.setdefault(other, implied)


def _ordered(attrs: Mapping[str, str], tax: Taxonomy) -> dict[str, str]:
    return {name: attrs[name] for name in tax if name in attrs}


def resolve_attribute(name: str, tax: Taxonomy, where: str = "request") -> str:
    """The attribute a (possibly aliased) name refers to, or a RequestError naming options."""
    key = ALIASES.get(name.strip().lower().replace(" ", "_").replace("-", "_"), name.strip().lower().replace(" ", "_"))
    if key in tax:
        return key
    close = difflib.get_close_matches(key, list(tax) + list(ALIASES), n=3)
    hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(tax)}"
    raise RequestError(f"{where}.{name}: unknown attribute; {hint}")


def resolve_value(attribute: str, value: Any, tax: Taxonomy, where: str = "request") -> str:
    """The canonical value of `attribute` that `value` names (name or synonym)."""
    attr = tax[attribute]
    root = attr.shares_values_with or attribute
    key = phrase_key(str(value))
    for cand in tax.phrase_index.get(key, ()):
        if cand.attribute == root:
            return cand.value
    raise RequestError(
        f"{where}.{attribute}={value!r}: not a value of {attribute!r}; allowed: {', '.join(attr.value_names)}")


def _parse_mapping(request: Mapping[str, Any], tax: Taxonomy) -> ParsedRequest:
    attrs: dict[str, str] = {}
    for key, value in request.items():
        if key == "text":
            continue
        name = resolve_attribute(str(key), tax)
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise RequestError(f"request.{key}: must be one value name (text), got a {type(value).__name__}; "
                               f"allowed: {', '.join(tax[name].value_names)}")
        attrs[name] = resolve_value(name, value, tax)
    free: tuple[str, ...] = ()
    text = request.get("text")
    if text:
        if not isinstance(text, str):
            raise RequestError(f"request.text: must be text, got a {type(text).__name__}")
        check_request_text(text, "request.text")
        parsed = _parse_text(str(text), tax)
        free = parsed.free_text
        for name, value in parsed.attributes.items():
            attrs.setdefault(name, value)
    category = attrs.get("category")
    for name in attrs:
        if not tax[name].applies(category):
            applies = ", ".join(c for c in tax.categories if tax[name].applies(c))
            raise RequestError(f"request.{name}: does not apply to category {category!r}; it applies to: {applies}")
    _apply_implications(attrs, tax)
    return ParsedRequest(text=str(text or ""), attributes=_ordered(attrs, tax), free_text=free)


# --------------------------------------------------------------------------- sampling

def check_factors(factors: FactorMap | None, tax: Taxonomy, what: str) -> None:
    """Reject factor maps naming unknown attributes/values or negative factors."""
    for attr, values in (factors or {}).items():
        if attr not in tax:
            raise RequestError(f"{what}.{attr}: unknown attribute")
        for value, f in values.items():
            if value not in tax[attr]:
                raise RequestError(f"{what}.{attr}.{value}: not a value of {attr!r}")
            if not np.isfinite(f) or f < 0:
                raise RequestError(f"{what}.{attr}.{value}={f!r}: must be a finite number >= 0")


def sampling_weights(attribute: str, tax: Taxonomy, *, priors: FactorMap | None = None,
                     boosts: FactorMap | None = None, preferences: FactorMap | None = None) -> np.ndarray:
    """Unnormalised sampling weights of an attribute's values: prior x boost x preference.

    `priors` replaces the taxonomy's prior weight of the values it names; `boosts` (coverage
    gaps) and `preferences` (learned from feedback) multiply.
    """
    attr = tax[attribute]
    w = np.array([v.weight for v in attr.values], dtype=float)
    for i, v in enumerate(attr.values):
        if priors and v.name in priors.get(attribute, {}):
            w[i] = priors[attribute][v.name]
        for factors in (boosts, preferences):
            if factors:
                w[i] *= factors.get(attribute, {}).get(v.name, 1.0)
    return w


def _fill_rate(attribute: str, tax: Taxonomy, boosts: FactorMap | None) -> float:
    # A boosted value of an optional attribute also makes the attribute itself appear more
    # often, or a coverage gap in e.g. "pleated" could never close.
    rate = tax[attribute].sample_rate
    factors = (boosts or {}).get(attribute)
    if rate > 0 and factors:
        rate = min(1.0, rate * max(1.0, max(factors.values())))
    return rate


def sample_attributes(parsed: ParsedRequest, rng: np.random.Generator, tax: Taxonomy, *,
                      priors: FactorMap | None = None, boosts: FactorMap | None = None,
                      preferences: FactorMap | None = None) -> dict[str, str]:
    """Requested attributes plus seeded samples for the unrequested ones that apply."""
    attrs = dict(parsed.attributes)
    kw = dict(priors=priors, boosts=boosts, preferences=preferences)
    if "category" not in attrs:
        allowed = set(tax.categories_for(attrs))
        if not allowed:
            raise RequestError("request: the requested attributes fit no single garment category")
        w = sampling_weights("category", tax, **kw)
        w *= [v.name in allowed for v in tax["category"].values]
        attrs["category"] = _draw(tax["category"].value_names, w, rng, fallback=sorted(allowed)[0])
    category = attrs["category"]
    for name in tax.sampling_order:
        attr = tax[name]
        if name in attrs or not attr.applies(category) or not attr.allowed(attrs):
            continue
        if rng.random() >= _fill_rate(name, tax, boosts):
            continue
        w = sampling_weights(name, tax, **kw)
        used = {attrs.get(a) for a in tax.share_group(name) if a != name}
        w *= [v.name not in used for v in attr.values]
        value = _draw(attr.value_names, w, rng)
        if value is not None:
            attrs[name] = value
    _apply_implications(attrs, tax)
    return _ordered(attrs, tax)


def _draw(names: Sequence[str], weights: np.ndarray, rng: np.random.Generator, fallback: str | None = None) -> str | None:
    total = weights.sum()
    if total <= 0:
        return fallback
    return names[int(rng.choice(len(names), p=weights / total))]


# --------------------------------------------------------------------------- composing

def compose_prompt(attributes: Mapping[str, str], tax: Taxonomy, free_text: Sequence[str] = ()) -> str:
    """Positive prompt in a fixed attribute order: head noun phrase, details, free text, rendering."""
    ordered = _ordered(attributes, tax)  # taxonomy order, whatever order the caller used
    head = " ".join(tax[a].render(ordered[a]) for a in tax.head if a in ordered)
    details = [tax[a].render(v) for a, v in ordered.items()
               if a not in tax.head and tax[a].group != "rendering"]
    rendering = [tax[a].render(v) for a, v in ordered.items()
                 if a not in tax.head and tax[a].group == "rendering"]
    parts = [head, *details, *free_text, *rendering]
    if tax.quality_suffix:
        parts.append(tax.quality_suffix)
    return ", ".join(p for p in parts if p)


def compose_negative(attributes: Mapping[str, str], tax: Taxonomy,
                     quality_negatives: Sequence[str] | None = None) -> str:
    """Negative prompt: quality negatives, then what each chosen value conflicts with."""
    parts = list(tax.quality_negatives if quality_negatives is None else quality_negatives)
    for a, v in attributes.items():
        value = tax[a].value(v)
        parts += [tax[a].render(c) for c in value.conflicts if c != v]
        parts += list(value.negative)
    return ", ".join(dict.fromkeys(parts))


def _full_length(attributes: Mapping[str, str], tax: Taxonomy) -> bool:
    kind = tax.categories.get(attributes.get("category", ""))
    return kind in ("full", "outer") or attributes.get("length") in ("maxi", "floor-length", "midi")


def quality_params(backend: str, attributes: Mapping[str, str], options: Mapping[str, Any],
                   tax: Taxonomy | None = None) -> dict[str, Any]:
    """Per-backend generation parameters for a spec (size, steps, guidance).

    `options` are the backend's options from the run config. Full-length garments get a
    portrait frame where the backend supports one; turbo models get guidance 0 and 1-4 steps.
    """
    tax = tax or load_taxonomy()
    portrait = _full_length(attributes, tax)
    if backend == "sketch":
        return {"width": int(options["width"]), "height": int(options["height"])}
    if backend == "diffusers":
        model = str(options["model"]).lower()
        base = 1024 if "xl" in model and "turbo" not in model else 512
        width = int(options.get("width") or base)
        if "turbo" in model:
            steps, guidance = min(max(int(options["steps"] or 1), 1), 4), 0.0
            height = int(options.get("height") or base)
        else:
            steps, guidance = int(options["steps"] or 30), float(options["guidance"])
            height = int(options.get("height") or (width * 3 // 2 // 64 * 64 if portrait else width))
        return {"width": width, "height": height, "num_inference_steps": steps, "guidance_scale": guidance}
    if backend == "openai":
        model = str(options["model"])
        if model.startswith("dall-e-3"):
            size = "1024x1792" if portrait else "1024x1024"
            quality = "hd" if options["quality"] in ("high", "hd") else "standard"
        else:
            size = "1024x1536" if portrait else "1024x1024"
            quality = options["quality"]
        return {"size": options.get("size") or size, "quality": quality}
    return {k: options[k] for k in ("width", "height") if k in options}


def build_specs(request: str | Mapping[str, Any] | ParsedRequest, n: int, seed: int = 0, *,
                taxonomy: Taxonomy | None = None, backend: str = "sketch",
                backend_options: Mapping[str, Any] | None = None,
                priors: FactorMap | None = None, boosts: FactorMap | None = None,
                preferences: FactorMap | None = None,
                quality_negatives: Sequence[str] | None = None) -> list[PromptSpec]:
    """N prompt specs for one request; the same request and seed give identical specs.

    Parameters
    ----------
    request : str, mapping or ParsedRequest
        The design request.
    n : int
        Number of specs (>= 1). Spec i depends only on (request, seed, i) and specs before it,
        so a larger `n` extends a smaller one.
    seed : int
        Base seed; spec i samples from ``SeedSequence([seed, i])`` and gets its own image seed.
    boosts, preferences, priors : mapping attribute → value → factor
        Inputs from coverage gaps, feedback learning and prior overrides.

    Returns
    -------
    list of PromptSpec, distinct in their attributes whenever the request leaves room.
    """
    # 1. Check inputs
    tax = taxonomy or load_taxonomy()
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise RequestError(f"n={n!r}: must be an integer >= 1")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise RequestError(f"seed={seed!r}: must be an integer >= 0")
    for what, factors in (("priors", priors), ("boosts", boosts), ("preferences", preferences)):
        check_factors(factors, tax, what)
    if backend_options is None:
        backend_options = default_options(backend)

    # 2. Parse the request once
    parsed = request if isinstance(request, ParsedRequest) else parse_request(request, tax)

    # 3. Sample, de-duplicate and compose each spec
    specs: list[PromptSpec] = []
    seen: set[frozenset] = set()
    for i in range(int(n)):
        for attempt in range(50):
            rng = np.random.default_rng(np.random.SeedSequence([int(seed), i, attempt]))
            attrs = sample_attributes(parsed, rng, tax, priors=priors, boosts=boosts, preferences=preferences)
            if frozenset(attrs.items()) not in seen:
                break
        seen.add(frozenset(attrs.items()))
        image_seed = int(np.random.SeedSequence([int(seed), i]).generate_state(1)[0])
        specs.append(PromptSpec(
            index=i,
            prompt=compose_prompt(attrs, tax, parsed.free_text),
            negative_prompt=compose_negative(attrs, tax, quality_negatives),
            attributes=attrs,
            params=quality_params(backend, attrs, backend_options, tax),
            seed=image_seed,
            backend=backend,
            requested=tuple(a for a in attrs if a in parsed.attributes),
            free_text=parsed.free_text,
        ))
    return specs

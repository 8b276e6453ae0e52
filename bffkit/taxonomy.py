"""The VLT (visual language taxonomy): attributes, their values, and how they read in text.

The taxonomy is data (``data/vlt_taxonomy.yaml``); this module loads and validates it and
builds the phrase index the request parser uses.

>>> tax = load_taxonomy()
>>> tax["neckline"].render("v-neck")
'v-neck neckline'
>>> tax["sleeve_length"].applies("trousers")
False
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from .exceptions import TaxonomyError
from .paths import TAXONOMY_PATH
from .yamlfile import read_yaml

ATTRIBUTE_KEYS = {
    "name", "group", "label", "phrase", "applies_to", "sample_rate", "requires", "excludes",
    "shares_values_with", "values",
}
VALUE_KEYS = {"name", "synonyms", "phrase", "weight", "conflicts", "negative", "implies"}
TOP_KEYS = {"version", "categories", "groups", "head", "prompt", "attributes"}
KINDS = ("upper", "lower", "full", "outer")

_TOKEN_RE = re.compile(r"[a-z0-9/&]+|[,.;:!?()]")


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens; hyphens split words, apostrophes vanish, punctuation is kept.

    >>> tokenize("Flowy A-line dress, 70's")
    ['flowy', 'a', 'line', 'dress', ',', '70s']
    """
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = re.sub(r"['’`]", "", text)
    text = re.sub(r"[-_–—]", " ", text)
    return _TOKEN_RE.findall(text)


def phrase_key(text: str) -> tuple[str, ...]:
    """The token tuple a phrase is indexed under (punctuation dropped)."""
    return tuple(t for t in tokenize(text) if t[0].isalnum() or t[0] in "/&")


def plural_variants(key: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Plural forms of a phrase's last word ("dress" → "dresses", "hoody" → "hoodies")."""
    *head, last = key
    forms = {last + "es"} if last.endswith(("s", "x", "z", "ch", "sh")) else {last + "s"}
    if last.endswith("y") and len(last) > 2 and last[-2] not in "aeiou":
        forms.add(last[:-1] + "ies")
    return [tuple(head) + (f,) for f in sorted(forms) if f != last]


@dataclass(frozen=True)
class Value:
    """One value of an attribute, with the phrases that name it."""

    name: str
    synonyms: tuple[str, ...] = ()
    phrase: str | None = None
    weight: float = 1.0
    conflicts: tuple[str, ...] = ()
    negative: tuple[str, ...] = ()
    implies: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Attribute:
    """A VLT attribute: a named, grouped set of values that may apply to some categories."""

    name: str
    group: str
    label: str
    phrase: str
    values: tuple[Value, ...]
    applies_to: frozenset[str]
    sample_rate: float
    requires: Mapping[str, frozenset[str]]
    excludes: Mapping[str, frozenset[str]]
    shares_values_with: str | None = None

    @cached_property
    def _by_name(self) -> dict[str, Value]:
        return {v.name: v for v in self.values}

    @property
    def value_names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.values)

    def value(self, name: str) -> Value:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(name) from None

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def check_values(self, names: Iterable[str], where: str) -> None:
        """Raise ValueError ``<where>.<name>: not a value of <attribute>; allowed: ...`` for the first
        name that is not one of this attribute's values (config keys naming values)."""
        for name in names:
            if name not in self._by_name:
                raise ValueError(f"{where}.{name}: not a value of {self.name}; allowed: {', '.join(self.value_names)}")

    def applies(self, category: str | None) -> bool:
        """Whether the attribute applies to a garment category (None: category unknown)."""
        return category is None or category in self.applies_to

    def render(self, value: str) -> str:
        """The prompt phrase for a value: the value's own phrase, else the attribute template."""
        v = self.value(value)
        return v.phrase if v.phrase else self.phrase.format(value=v.name)

    def allowed(self, attrs: Mapping[str, str]) -> bool:
        """Whether `requires`/`excludes` allow this attribute next to already chosen `attrs`."""
        for other, values in self.requires.items():
            if attrs.get(other) not in values:
                return False
        for other, values in self.excludes.items():
            if attrs.get(other) in values:
                return False
        return True


@dataclass(frozen=True)
class Candidate:
    """One reading of a phrase: which attribute value it names, and whether it was derived."""

    attribute: str
    value: str
    derived: bool = False  # True for generated plural forms


class Taxonomy(Mapping[str, Attribute]):
    """Validated VLT taxonomy: ``taxonomy[name]`` is an :class:`Attribute`, in prompt order."""

    def __init__(self, *, version: int, categories: Mapping[str, str], groups: tuple[str, ...],
                 head: tuple[str, ...], attributes: Mapping[str, Attribute],
                 quality_negatives: tuple[str, ...], quality_suffix: str, source: str = "<memory>"):
        self.version = version
        self.categories = dict(categories)
        self.groups = groups
        self.head = head
        self._attributes = dict(attributes)
        self.quality_negatives = quality_negatives
        self.quality_suffix = quality_suffix
        self.source = source

    def __getitem__(self, name: str) -> Attribute:
        try:
            return self._attributes[name]
        except KeyError:
            close = difflib.get_close_matches(name, self._attributes, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise KeyError(f"unknown attribute {name!r}{hint}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._attributes)

    def __len__(self) -> int:
        return len(self._attributes)

    def applicable(self, category: str | None) -> list[Attribute]:
        return [a for a in self._attributes.values() if a.applies(category)]

    def categories_for(self, attrs: Mapping[str, str]) -> list[str]:
        """Categories every attribute in `attrs` applies to (keeps taxonomy order)."""
        return [c for c in self.categories
                if all(self[a].applies(c) for a in attrs if a != "category")]

    @cached_property
    def sampling_order(self) -> tuple[str, ...]:
        """Attributes ordered so that each comes after the ones its requires/excludes read."""
        order: list[str] = []
        state: dict[str, int] = {}

        def visit(name: str, path: tuple[str, ...]) -> None:
            if state.get(name) == 2:
                return
            if state.get(name) == 1:
                raise TaxonomyError(f"{self.source}: requires/excludes cycle: {' -> '.join(path + (name,))}")
            state[name] = 1
            attr = self._attributes[name]
            deps = set(attr.requires) | set(attr.excludes)
            if attr.shares_values_with:
                deps.add(attr.shares_values_with)
            for dep in sorted(deps, key=list(self._attributes).index):
                visit(dep, path + (name,))
            state[name] = 2
            order.append(name)

        for name in self._attributes:
            visit(name, ())
        return tuple(order)

    @cached_property
    def phrase_index(self) -> dict[tuple[str, ...], list[Candidate]]:
        """Phrase (token tuple) → candidate readings, explicit ones first, in taxonomy order."""
        explicit: dict[tuple[str, ...], list[Candidate]] = {}
        for attr in self._attributes.values():
            if attr.shares_values_with:
                continue  # its values are found through the attribute it shares them with
            for v in attr.values:
                for text in (v.name, *v.synonyms):
                    key = phrase_key(text)
                    cands = explicit.setdefault(key, [])
                    if all(c.attribute != attr.name for c in cands):
                        cands.append(Candidate(attr.name, v.name))
        index = {k: list(c) for k, c in explicit.items()}
        for key, cands in explicit.items():
            for plural in plural_variants(key):
                if plural in explicit:
                    continue  # an explicit phrase ("shorts") beats a derived plural ("short"+s)
                slot = index.setdefault(plural, [])
                for c in cands:
                    if all(s.attribute != c.attribute for s in slot):
                        slot.append(Candidate(c.attribute, c.value, derived=True))
        return index

    @cached_property
    def max_phrase_len(self) -> int:
        return max(len(k) for k in self.phrase_index)

    def share_group(self, name: str) -> list[str]:
        """Attributes that share one value set, in order (primary_color, secondary_color)."""
        root = self._attributes[name].shares_values_with or name
        return [root] + [a.name for a in self._attributes.values() if a.shares_values_with == root]

    def records(self) -> list[dict[str, Any]]:
        """One row per attribute for the store's `vlt_attributes` table."""
        rows = []
        for i, a in enumerate(self._attributes.values()):
            rows.append({
                "id": i + 1,
                "name": a.name,
                "group_name": a.group,
                "label": a.label,
                "phrase": a.phrase,
                "values": [v.name for v in a.values],
                "synonyms": {v.name: list(v.synonyms) for v in a.values if v.synonyms},
                "applies_to": sorted(a.applies_to, key=list(self.categories).index),
                "sample_rate": a.sample_rate,
            })
        return rows


# --------------------------------------------------------------------------- loading

def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """Load and validate a taxonomy YAML file (the shipped one by default; cached).

    Raises :class:`TaxonomyError` with the file, the attribute and what is wrong.
    """
    return _load_cached(Path(path or TAXONOMY_PATH).resolve())


@cache
def _load_cached(path: Path) -> Taxonomy:
    raw = read_yaml(path, TaxonomyError, "taxonomy file")
    return taxonomy_from_dict(raw, source=path.name)


def taxonomy_from_dict(raw: Any, source: str = "<memory>") -> Taxonomy:
    """Build a :class:`Taxonomy` from parsed YAML, validating everything up front."""

    def fail(msg: str) -> TaxonomyError:
        return TaxonomyError(f"{source}: {msg}")

    if not isinstance(raw, dict):
        raise fail("top level must be a mapping")
    unknown = set(raw) - TOP_KEYS
    if unknown:
        raise fail(f"unknown top-level key {sorted(unknown)[0]!r}; allowed: {', '.join(sorted(TOP_KEYS))}")
    for key in ("categories", "groups", "attributes"):
        if not raw.get(key):
            raise fail(f"{key!r} is missing or empty")

    categories = raw["categories"]
    if not isinstance(categories, dict):
        raise fail("'categories' must map category name -> kind")
    for cat, kind in categories.items():
        if cat in KINDS:
            raise fail(f"category {cat!r} has the name of a category kind; kinds: {', '.join(KINDS)}")
        if kind not in KINDS:
            raise fail(f"category {cat!r}: kind {kind!r} is not one of {', '.join(KINDS)}")
    groups = tuple(raw["groups"])
    if len(set(groups)) != len(groups):
        dup = next(g for g in groups if groups.count(g) > 1)
        raise fail(f"duplicate group {dup!r}")

    def scope(entries: Any, where: str) -> frozenset[str]:
        if entries in (None, "all"):
            return frozenset(categories)
        out: set[str] = set()
        for e in entries:
            if e in categories:
                out.add(e)
            elif e in KINDS:
                out |= {c for c, k in categories.items() if k == e}
            else:
                close = difflib.get_close_matches(str(e), list(categories) + list(KINDS), n=3)
                hint = f" (did you mean {', '.join(close)}?)" if close else ""
                raise fail(f"{where}: applies_to names unknown category {e!r}{hint}")
        return frozenset(out)

    raw_attrs = raw["attributes"]
    seen: dict[str, dict] = {}
    for i, ra in enumerate(raw_attrs):
        if not isinstance(ra, dict) or "name" not in ra:
            raise fail(f"attributes[{i}]: must be a mapping with a 'name'")
        if ra["name"] in seen:
            raise fail(f"duplicate attribute {ra['name']!r}")
        seen[ra["name"]] = ra

    def parse_values(ra: dict, where: str) -> tuple[Value, ...]:
        if ra.get("shares_values_with"):
            other = seen.get(ra["shares_values_with"])
            if other is None:
                raise fail(f"{where}: shares_values_with names unknown attribute {ra['shares_values_with']!r}")
            if ra.get("values"):
                raise fail(f"{where}: has both 'values' and 'shares_values_with'")
            ra = other
        raw_values = ra.get("values")
        if not raw_values:
            raise fail(f"{where}: empty value list")
        values = []
        for rv in raw_values:
            rv = {"name": rv} if isinstance(rv, str) else rv
            if not isinstance(rv, dict) or not rv.get("name"):
                raise fail(f"{where}: every value needs a name")
            bad = set(rv) - VALUE_KEYS
            if bad:
                raise fail(f"{where}.{rv['name']}: unknown key {sorted(bad)[0]!r}; allowed: {', '.join(sorted(VALUE_KEYS))}")
            weight = rv.get("weight", 1.0)
            if not isinstance(weight, (int, float)) or weight < 0:
                raise fail(f"{where}.{rv['name']}: weight={weight!r}: must be a number >= 0")
            values.append(Value(
                name=str(rv["name"]),
                synonyms=tuple(str(s) for s in rv.get("synonyms") or ()),
                phrase=rv.get("phrase"),
                weight=float(weight),
                conflicts=tuple(rv.get("conflicts") or ()),
                negative=tuple(rv.get("negative") or ()),
                implies=dict(rv.get("implies") or {}),
            ))
        names = [v.name for v in values]
        for n in names:
            if names.count(n) > 1:
                raise fail(f"{where}: duplicate value {n!r}")
        phrases: dict[tuple[str, ...], str] = {}
        for v in values:
            for text in (v.name, *v.synonyms):
                key = phrase_key(text)
                if not key:
                    raise fail(f"{where}.{v.name}: empty synonym")
                if key in phrases and phrases[key] != v.name:
                    raise fail(f"{where}: synonym {text!r} names both {phrases[key]!r} and {v.name!r}")
                phrases[key] = v.name
            for c in v.conflicts:
                if c not in names:
                    raise fail(f"{where}.{v.name}: conflicts names unknown value {c!r}")
        return tuple(values)

    attributes: dict[str, Attribute] = {}
    for name, ra in seen.items():
        where = f"attribute {name!r}"
        bad = set(ra) - ATTRIBUTE_KEYS
        if bad:
            raise fail(f"{where}: unknown key {sorted(bad)[0]!r}; allowed: {', '.join(sorted(ATTRIBUTE_KEYS))}")
        if ra.get("group") not in groups:
            raise fail(f"{where}: group {ra.get('group')!r} is not one of the declared groups")
        phrase = ra.get("phrase", "{value}")
        if "{value}" not in phrase:
            raise fail(f"{where}: phrase {phrase!r} must contain '{{value}}'")
        rate = ra.get("sample_rate", 0.0)
        if not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
            raise fail(f"{where}: sample_rate={rate!r}: must be in [0, 1]")
        attributes[name] = Attribute(
            name=name,
            group=ra["group"],
            label=ra.get("label", name.replace("_", " ")),
            phrase=phrase,
            values=parse_values(ra, where),
            applies_to=scope(ra.get("applies_to"), where),
            sample_rate=float(rate),
            requires={k: frozenset(v) for k, v in (ra.get("requires") or {}).items()},
            excludes={k: frozenset(v) for k, v in (ra.get("excludes") or {}).items()},
            shares_values_with=ra.get("shares_values_with"),
        )

    if "category" not in attributes or set(attributes["category"].value_names) != set(categories):
        raise fail("attribute 'category' must exist and list exactly the declared categories")

    # Cross references, checked once every attribute is known.
    for attr in attributes.values():
        where = f"attribute {attr.name!r}"
        for kind in ("requires", "excludes"):
            for other, vals in getattr(attr, kind).items():
                if other not in attributes:
                    raise fail(f"{where}: {kind} names unknown attribute {other!r}")
                unknown_vals = sorted(set(vals) - set(attributes[other].value_names))
                if unknown_vals:
                    raise fail(f"{where}: {kind} names unknown value {unknown_vals[0]!r} of {other!r}")
        for v in attr.values:
            for other, val in v.implies.items():
                if other not in attributes or val not in attributes[other]:
                    raise fail(f"{where}.{v.name}: implies unknown {other}={val!r}")

    head = tuple(raw.get("head") or ())
    for h in head:
        if h not in attributes:
            raise fail(f"head names unknown attribute {h!r}")
    prompt = raw.get("prompt") or {}
    tax = Taxonomy(
        version=int(raw.get("version", 1)),
        categories=categories,
        groups=groups,
        head=head,
        attributes=attributes,
        quality_negatives=tuple(prompt.get("quality_negatives") or ()),
        quality_suffix=str(prompt.get("quality_suffix", "")),
        source=source,
    )
    tax.sampling_order  # noqa: B018 - raises on a requires/excludes cycle
    return tax

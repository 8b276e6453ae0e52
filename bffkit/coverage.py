"""Stage 6: attribute coverage, gaps with severity, and the prompt boosts that close them.

Coverage is measured on *detected* attributes (what the tagger sees in the images), never
on what the prompts asked for. For every attribute value the request leaves open, its share
among the images the attribute applies to is compared with a target:

* ``coverage.targets[attribute][value]``, else ``coverage.targets[attribute]``, else
  ``coverage.targets[group]`` (defaults per taxonomy group), else
  ``min(default_target, 0.5 / n_values)`` — half a uniform share, so attributes with many
  values (26 colours) get targets they can meet.

The coverage score is the mean over values of ``min(1, share / target)``. A value below its
target is a gap; its severity comes from the deficit ``1 - share / target`` and sets its
boost between ``boost_min`` and ``boost_max`` (the seed's 15-25%). Stage 1 multiplies the
value's sampling weight by ``(1 + boost) * target / share`` (the ratio capped at
``MAX_RATIO`` = 4; a value never seen gets the cap): enough to bring the value to its target
with a 15-25% margin. A bare ``1 + boost`` factor moves a starved value by a few images in
a hundred and would leave most gaps open round after round.
"""

from __future__ import annotations

import difflib

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

from .tagging import DESIGN_ATTRIBUTES
from .taxonomy import Taxonomy

# (severity, smallest deficit): a value never seen has deficit 1.
SEVERITIES = (("critical", 0.9), ("high", 0.6), ("medium", 0.3), ("low", 0.0))
MAX_RATIO = 4.0  # the most a gap can multiply a value's sampling weight by (before the boost)
COVERAGE_ATTRIBUTES = DESIGN_ATTRIBUTES


@dataclass(frozen=True)
class ValueCoverage:
    attribute: str
    value: str
    target: float
    generated: float  # share among the generated images the attribute applies to
    selected: float | None  # the same among the selected images (None: none applicable)
    n_generated: int
    n_selected: int


@dataclass(frozen=True)
class Gap:
    attribute: str
    value: str
    target: float
    observed: float
    deficit: float
    severity: str
    boost: float

    @property
    def factor(self) -> float:
        """The sampling-weight factor stage 1 applies to this value next round."""
        ratio = MAX_RATIO if self.observed <= 0 else min(MAX_RATIO, self.target / self.observed)
        return round((1 + self.boost) * ratio, 4)


@dataclass(frozen=True)
class CoverageReport:
    values: list[ValueCoverage]
    score: float  # over the generated pool: what the next round's boosts act on
    score_selected: float | None
    gaps: list[Gap]

    def boosts(self) -> dict[str, dict[str, float]]:
        """Sampling factors for stage 1: attribute -> value -> factor (see :attr:`Gap.factor`)."""
        out: dict[str, dict[str, float]] = {}
        for g in self.gaps:
            out.setdefault(g.attribute, {})[g.value] = g.factor
        return out

    def to_dict(self) -> dict:
        return {"score": self.score, "score_selected": self.score_selected,
                "values": [asdict(v) for v in self.values], "gaps": [{**asdict(g), "factor": g.factor} for g in self.gaps]}


def severity_of(deficit: float) -> str:
    return next(name for name, cut in SEVERITIES if deficit >= cut)


def boost_for(severity: str, boost_min: float = 0.15, boost_max: float = 0.25) -> float:
    """critical -> boost_max ... low -> boost_min, evenly spaced."""
    rank = [name for name, _ in SEVERITIES][::-1].index(severity)  # low 0 .. critical 3
    return round(boost_min + (boost_max - boost_min) * rank / (len(SEVERITIES) - 1), 4)


def coverage_targets(taxonomy: Taxonomy, *, default_target: float = 0.05,
                     targets: Mapping[str, Mapping[str, float] | float] | None = None,
                     fixed: Iterable[str] = (), attributes: Sequence[str] = COVERAGE_ATTRIBUTES,
                     category: str | None = None) -> dict[tuple[str, str], float]:
    """Target share per (attribute, value) the request leaves open (`fixed`: attributes it sets).

    With the request's `category`, attributes that cannot apply to it (leg shape on a dress)
    get no targets: a tagger's occasional misreading must not open gaps no prompt can close.
    """
    targets = targets or {}
    fixed = set(fixed)
    out = {}
    for name in attributes:
        if name in fixed or name not in taxonomy or (category and not taxonomy[name].applies(category)):
            continue
        attr = taxonomy[name]
        own = targets.get(name, targets.get(attr.group))
        for v in attr.value_names:
            if isinstance(own, Mapping):
                t = own.get(v, min(default_target, 0.5 / len(attr.value_names)))
            elif own is not None:
                t = float(own)
            else:
                t = min(default_target, 0.5 / len(attr.value_names))
            if t > 0:
                out[(name, v)] = float(t)
    return out


def check_targets(targets: Mapping[str, Mapping[str, float] | float], taxonomy: Taxonomy,
                  attributes: Sequence[str] = COVERAGE_ATTRIBUTES) -> None:
    """Refuse coverage targets that name no measured attribute (or group) or no value of it:
    such a target would be silently ignored. Raises ValueError naming ``targets.<key>``."""
    groups = {taxonomy[a].group for a in attributes if a in taxonomy}
    measured = [a for a in attributes if a in taxonomy]
    for key, target in targets.items():
        if key not in measured and key not in groups:
            close = difflib.get_close_matches(str(key), measured + sorted(groups), n=3)
            hint = f"did you mean {', '.join(close)}?" if close else f"measured: {', '.join(measured)}"
            raise ValueError(f"targets.{key}: not an attribute or group that coverage measures; {hint}")
        if isinstance(target, Mapping):
            if key not in measured:
                raise ValueError(f"targets.{key}: a group takes one share for all its values, not a mapping")
            taxonomy[key].check_values(target, f"targets.{key}")


def _shares(detected: Sequence[Mapping[str, str]], attribute: str) -> tuple[Counter, int]:
    seen = Counter(d[attribute] for d in detected if attribute in d)
    return seen, sum(seen.values())


def measure_coverage(generated: Sequence[Mapping[str, str]], selected: Sequence[Mapping[str, str]],
                     targets: Mapping[tuple[str, str], float], *, boost_min: float = 0.15,
                     boost_max: float = 0.25) -> CoverageReport:
    """Coverage of every targeted value among generated and selected images; gaps and boosts.

    `generated` / `selected`: detected attribute -> value per image. An attribute no image
    shows (it applies to none of the detected categories) is left out rather than counted as a gap.
    """
    values, gaps = [], []
    by_attr: dict[str, list[tuple[str, float]]] = {}
    for (a, v), t in targets.items():
        by_attr.setdefault(a, []).append((v, t))
    for a, items in by_attr.items():
        gen, n_gen = _shares(generated, a)
        sel, n_sel = _shares(selected, a)
        if n_gen == 0:
            continue
        for v, t in items:
            share = gen[v] / n_gen
            values.append(ValueCoverage(a, v, t, round(share, 4), round(sel[v] / n_sel, 4) if n_sel else None,
                                        gen[v], sel[v]))
            if share < t:
                deficit = 1 - share / t
                sev = severity_of(deficit)
                gaps.append(Gap(a, v, t, round(share, 4), round(deficit, 4), sev, boost_for(sev, boost_min, boost_max)))
    score = sum(min(1.0, v.generated / v.target) for v in values) / len(values) if values else 1.0
    with_sel = [v for v in values if v.selected is not None]
    score_sel = (sum(min(1.0, v.selected / v.target) for v in with_sel) / len(with_sel)) if with_sel else None
    order = {name: i for i, (name, _) in enumerate(SEVERITIES)}
    gaps.sort(key=lambda g: (order[g.severity], -g.deficit, g.attribute, g.value))
    return CoverageReport(values=values, score=round(score, 4),
                          score_selected=round(score_sel, 4) if score_sel is not None else None, gaps=gaps)


def gap_changes(open_before: Mapping[tuple[str, str], str], report: Mapping) -> tuple[set[tuple[str, str]], list[str]]:
    """How a round's report moves a run's gaps: (the (attribute, value) gaps it opens, the ids of
    the open gaps it closes). A gap closes when its value was measured again and met its target."""
    measured = {(v["attribute"], v["value"]) for v in report["values"]}
    now = {(g["attribute"], g["value"]) for g in report["gaps"]}
    closed = [gid for key, gid in open_before.items() if key in measured and key not in now]
    return now - set(open_before), closed


def boosts_from_gaps(gaps: Sequence[Mapping]) -> dict[str, dict[str, float]] | None:
    """attribute -> value -> sampling factor that a round's gaps ask of the next round (None: no gaps)."""
    out: dict[str, dict[str, float]] = {}
    for g in gaps:
        out.setdefault(g["attribute"], {})[g["value"]] = g["factor"]
    return out or None

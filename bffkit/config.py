"""One validated run config holding every knob of every stage, loaded from YAML.

>>> cfg = RunConfig(request="red midi dress")
>>> cfg.select.theta, cfg.cluster.k_range, cfg.generate.overgeneration
(0.7, (3, 8), 3.0)

Bad values fail before any work, with one line naming the field, the value and what is
allowed: ``select.theta=1.5: must be in [0, 1)``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from .backend_options import OPTIONS, DiffusersOptions, OpenAIOptions, SketchOptions, is_http_url
from .exceptions import ConfigError
from .paths import DEFAULT_WORKSPACE
from .sections import Fraction, Section, format_validation_error, interval
from .yamlfile import read_yaml

# --------------------------------------------------------------------------- stage sections

class PromptsConfig(Section):
    enhancer: Literal["rules", "openai"] = "rules"
    enhancer_model: str = "gpt-4o-mini"
    quality_negatives: list[str] | None = None  # None: the taxonomy's list
    taxonomy: Path | None = None  # None: data/vlt_taxonomy.yaml


class GenerateConfig(Section):
    backend: str = "sketch"
    target_count: Annotated[int, interval(1, 100_000)] = 48
    overgeneration: Annotated[float, interval(2, 3)] = 3.0
    sketch: SketchOptions = SketchOptions()
    diffusers: DiffusersOptions = DiffusersOptions()
    openai: OpenAIOptions = OpenAIOptions()
    options: dict[str, dict[str, Any]] = Field(default_factory=dict)  # third-party backends

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, v: str) -> str:
        from .registry import available_generators

        names = available_generators()
        if v not in names:
            raise ValueError(f"unknown backend; available: {', '.join(names)}")
        return v

    @property
    def planned_count(self) -> int:
        """Images to generate per round: target count x over-generation factor."""
        return math.ceil(self.target_count * self.overgeneration)

    def options_for(self, backend: str | None = None) -> dict[str, Any]:
        backend = backend or self.backend
        if backend in OPTIONS:
            return getattr(self, backend).model_dump()
        return dict(self.options.get(backend, {}))  # a plug-in's options, as the config gives them


class EmbedConfig(Section):
    model: str | None = "sketch-clip"  # None: stage 3 (embed, tag, score) is off
    batch_size: Annotated[int, interval(1, 1024)] = 64
    device: Literal["auto", "cuda", "mps", "cpu"] = "auto"


class ClusterConfig(Section):
    k_min: Annotated[int, interval(2, 50)] = 3
    k_max: Annotated[int, interval(2, 50)] = 8
    silhouette_sample: Annotated[int, interval(100, 1_000_000)] = 5000
    # cosine at or above which two images of one cluster are the same design (the worse one is not
    # offered to selection); 1: identical embeddings only
    near_duplicate: Annotated[float, interval(0, 1, closed="right")] = 0.95

    @model_validator(mode="after")
    def _ordered(self) -> ClusterConfig:
        if self.k_min > self.k_max:
            raise ValueError(f"k_min={self.k_min} must be <= k_max={self.k_max}")
        return self

    @property
    def k_range(self) -> tuple[int, int]:
        return (self.k_min, self.k_max)


class SelectConfig(Section):
    # 0.5: on the demo's pools the least quality weight at which the DPP is as varied as k-center
    # greedy with half the pool's defects (docs/selection.md); greedy_map's own default stays 0.7
    theta: Annotated[float, interval(0, 1, closed="left")] = 0.5
    cluster_aware: bool = True
    k: Annotated[int, interval(1, 100_000)] | None = None  # None: the generate target count
    # the DPP's similarity: rbf on cosine distance (the default, measured in docs/selection.md) or cosine
    kernel: Literal["cosine", "rbf"] = "rbf"
    bandwidth: Annotated[float, interval(0, 2, closed="right")] | None = None  # rbf h; None: median heuristic
    # stop before an image closer than this cosine distance (1 - cos) to one already selected; None: no stop
    min_distance: Annotated[float, interval(0, 2, closed="right")] | None = None


class CoverageConfig(Section):
    default_target: Fraction = 0.05
    targets: dict[str, dict[str, Fraction] | Fraction] = Field(default_factory=dict)
    boost_min: Annotated[float, interval(0, 1)] = 0.15
    boost_max: Annotated[float, interval(0, 1)] = 0.25

    @model_validator(mode="after")
    def _boost_order(self) -> CoverageConfig:
        if self.boost_min > self.boost_max:
            raise ValueError(f"boost_min={self.boost_min} must be <= boost_max={self.boost_max}")
        return self


class FeedbackConfig(Section):
    source: Literal["persona", "file", "none"] = "persona"
    persona: Path | None = None
    file: Path | None = None
    outlier_threshold: Fraction = 0.75


class AnalyticsConfig(Section):
    window_days: Annotated[int, interval(1, 3650)] = 90
    # attribute values judged fewer times than this stay out of the lift tables (too few to rank)
    min_support: Annotated[int, interval(1, 1000)] = 5


class ReportConfig(Section):
    # where `bffkit serve` runs, e.g. http://127.0.0.1:8000: the HTML report links to its review page
    review_url: str | None = None
    # where reports go (<dir>/<run_id>/); default <workspace>/reports
    dir: Path | None = None

    @field_validator("review_url")
    @classmethod
    def _http(cls, v: str | None) -> str | None:
        if v is not None and not is_http_url(v):
            raise ValueError("must be an http(s) URL of a `bffkit serve`, e.g. http://127.0.0.1:8000")
        return v.rstrip("/") if v else v


class RunConfig(Section):
    """Everything a run needs; ``bffkit run --config PATH`` loads one of these."""

    name: str = "run"
    run_id: str | None = None
    request: str | dict[str, Any]
    user_id: str = "default"
    seed: Annotated[int, interval(0, 2**32 - 1)] = 0
    rounds: Annotated[int, interval(1, 50)] = 1
    workspace: Path = DEFAULT_WORKSPACE
    prompts: PromptsConfig = PromptsConfig()
    generate: GenerateConfig = GenerateConfig()
    embed: EmbedConfig = EmbedConfig()
    cluster: ClusterConfig = ClusterConfig()
    select: SelectConfig = SelectConfig()
    coverage: CoverageConfig = CoverageConfig()
    feedback: FeedbackConfig = FeedbackConfig()
    analytics: AnalyticsConfig = AnalyticsConfig()
    report: ReportConfig = ReportConfig()

    @field_validator("request")
    @classmethod
    def _non_empty(cls, v):
        if isinstance(v, str) and not v.strip():
            raise ValueError("must not be empty; describe the design, e.g. 'red midi wrap dress'")
        if isinstance(v, dict) and not v:
            raise ValueError("must not be empty")
        return v

    @field_validator("name", "user_id")
    @classmethod
    def _identifier(cls, v: str) -> str:
        if not v or not all(ch.isalnum() or ch in "-_." for ch in v):
            raise ValueError("must be non-empty letters, digits, '-', '_' or '.'")
        return v

    @field_validator("run_id")
    @classmethod
    def _run_id(cls, v: str | None) -> str | None:
        return None if v is None else cls._identifier(v)

    def resolved_run_id(self) -> str:
        """The run id: explicit, else name + a hash of the config (same config → same id)."""
        return self.run_id or f"{self.name}-{self.digest()[:8]}"

    def digest(self) -> str:
        """A hash of everything that shapes a run's results (not where it is stored or its id)."""
        payload = self.model_dump(mode="json", exclude={"workspace", "run_id", "report"})
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    @property
    def select_k(self) -> int:
        return self.select.k or self.generate.target_count


# --------------------------------------------------------------------------- loading

def config_from_dict(data: Any, *, source: str = "config") -> RunConfig:
    """Validate a mapping into a :class:`RunConfig`; errors become one-line ConfigErrors."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: top level must be a mapping of fields, got {type(data).__name__}")
    try:
        cfg = RunConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"{source}: {format_validation_error(err)}") from None
    # The request must parse against the taxonomy before any work starts.
    from .exceptions import RequestError
    from .prompts import parse_request
    from .taxonomy import load_taxonomy

    from .coverage import check_targets

    try:
        tax = load_taxonomy(cfg.prompts.taxonomy)
        parse_request(cfg.request, tax)
        check_targets(cfg.coverage.targets, tax)
    except RequestError as err:
        raise ConfigError(f"{source}: {err}") from None
    except ValueError as err:
        raise ConfigError(f"{source}: coverage.{err}") from None
    return cfg


def apply_overrides(data: dict, overrides: Mapping[str, Any]) -> dict:
    """`data` (a config mapping) with dotted-path values replaced: ``{"select.theta": 0.5,
    "workspace": "/tmp/ws"}``. None values are skipped; a path through an unknown field is a
    ConfigError naming it and the fields there."""
    data = copy.deepcopy(data)
    for path, value in overrides.items():
        if value is None:
            continue
        *sections, leaf = path.split(".")
        node, model = data, RunConfig
        for depth, section in enumerate(sections):
            fields = model.model_fields
            if section not in fields or not isinstance(node.get(section, {}), dict):
                raise ConfigError(f"{'.'.join(sections[:depth + 1])}: not a config section; sections: "
                                  f"{', '.join(n for n, f in fields.items() if _is_section(f))}")
            node = node.setdefault(section, {})
            model = fields[section].annotation
        if leaf not in model.model_fields:
            raise ConfigError(f"{path}: not a config field; fields here: {', '.join(model.model_fields)}")
        node[leaf] = value
    return data


def _is_section(field) -> bool:
    return isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)


def with_overrides(config: RunConfig, overrides: Mapping[str, Any], *, source: str = "config") -> RunConfig:
    """The one override path (CLI flags, notebook knobs, benchmarks): `config` with dotted-path
    values replaced, validated again like a file (one-line ConfigError naming the field)."""
    return config_from_dict(apply_overrides(config.model_dump(mode="json"), overrides), source=source)


def load_config(path: str | Path, overrides: Mapping[str, Any] | None = None, **top_level: Any) -> RunConfig:
    """Load a YAML run config; relative paths inside resolve against the current directory.

    `overrides` (dotted paths) and `top_level` fields (``workspace=...`` from ``--workspace``)
    replace what the file says, before validation; None values are skipped.
    """
    path = Path(path)
    data = read_yaml(path, ConfigError, "config file")
    if isinstance(data, dict):
        data = apply_overrides(data, {**top_level, **(overrides or {})})
    return config_from_dict(data, source=path.name)

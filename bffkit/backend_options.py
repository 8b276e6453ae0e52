"""The built-in generation backends' options, as config sections with their defaults.

:mod:`bffkit.config` holds them under ``generate.<backend>``; stage 1 fills each spec's quality
parameters from them (:func:`default_options` when no config is at hand).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import field_validator

from .sections import Fraction, Section, interval


class SketchOptions(Section):
    width: Annotated[int, interval(32, 2048)] = 256
    height: Annotated[int, interval(32, 2048)] = 256
    defect_rate: Fraction = 0.15


class DiffusersOptions(Section):
    model: str = "stabilityai/sd-turbo"
    steps: Annotated[int, interval(1, 200)] | None = None  # None: 1 for turbo models, else 30
    guidance: Annotated[float, interval(0, 30)] = 7.5
    width: Annotated[int, interval(64, 2048)] | None = None
    height: Annotated[int, interval(64, 2048)] | None = None
    batch_size: Annotated[int, interval(1, 64)] = 4
    device: Literal["auto", "cuda", "mps", "cpu"] = "auto"
    dtype: Literal["auto", "float16", "bfloat16", "float32"] = "auto"

    @field_validator("width", "height")
    @classmethod
    def _multiple_of_8(cls, v: int | None) -> int | None:
        if v is not None and v % 8:
            raise ValueError("must be a multiple of 8")
        return v


class OpenAIOptions(Section):
    model: str = "gpt-image-1"
    size: str | None = None  # None: chosen per spec (portrait for full-length garments)
    quality: Literal["low", "medium", "high", "auto", "standard", "hd"] = "high"
    concurrency: Annotated[int, interval(1, 32)] = 4
    timeout_s: Annotated[float, interval(1, 600)] = 120.0
    max_retries: Annotated[int, interval(0, 10)] = 2  # the SDK's own retries
    rate_limit_retries: Annotated[int, interval(0, 10)] = 3  # ours, with backoff, after the SDK's
    base_url: str | None = None  # None: OPENAI_BASE_URL or the SDK default

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is not None and not is_http_url(v):
            raise ValueError(BASE_URL_RULE)
        return v


BASE_URL_RULE = "must be an http:// or https:// URL with a host, e.g. https://api.openai.com/v1"


def is_http_url(url: str) -> bool:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        return False


# The built-in backends (registry.BUILTIN_GENERATORS) and their option sections
OPTIONS = {"sketch": SketchOptions, "diffusers": DiffusersOptions, "openai": OpenAIOptions}


def default_options(backend: str) -> dict[str, Any]:
    """A backend's default options (a plug-in backend has none)."""
    return OPTIONS[backend]().model_dump() if backend in OPTIONS else {}

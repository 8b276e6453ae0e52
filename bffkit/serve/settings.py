"""What `bffkit serve` may be told: address, rate limits, body cap, CORS, feedback retention.

Read from ``<workspace>/serve.yaml`` when it exists (or ``--config FILE``); command-line flags
win. Every field is checked like a run config: one line naming the field and what is allowed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from limits import RateLimitItem, parse
from pydantic import ValidationError, field_validator

from ..backend_options import BASE_URL_RULE, is_http_url
from ..exceptions import ConfigError
from ..sections import Fraction, Section, format_validation_error, interval
from ..yamlfile import read_yaml

SETTINGS_FILENAME = "serve.yaml"
RATE_RULE = "must be N per second, minute, hour or day, e.g. 300/minute"


def rate_limit(text: str) -> RateLimitItem:
    """A rate like ``300/minute`` as a `limits` item; ValueError with the allowed form otherwise."""
    try:
        item = parse(text)
    except ValueError:
        raise ValueError(RATE_RULE) from None
    if item.amount < 1:
        raise ValueError(RATE_RULE)
    return item


class ServeSettings(Section):
    host: str = "127.0.0.1"
    port: Annotated[int, interval(1, 65535)] = 8000
    # per token: every API call but health and image files
    rate_limit: str = "300/minute"
    # per token, image files only: a review page fetches one per image
    file_rate_limit: str = "3000/minute"
    max_body_bytes: Annotated[int, interval(1_000, 100_000_000)] = 2_000_000
    # origins allowed to call the API from a browser page elsewhere; empty: CORS off
    cors_origins: list[str] = []
    # feedback older than this many days is deleted (at start, then hourly); None keeps it
    retention_days: Annotated[int, interval(1, 36_500)] | None = None
    outlier_threshold: Fraction = 0.75
    # how long the API waits for the store while a batch run writes it, before answering 503
    store_wait_seconds: Annotated[float, interval(0.1, 120)] = 10.0

    @field_validator("rate_limit", "file_rate_limit")
    @classmethod
    def _rate(cls, v: str) -> str:
        rate_limit(v)
        return v

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, v: list[str]) -> list[str]:
        for origin in v:
            if not is_http_url(origin):
                raise ValueError(f"{origin!r}: {BASE_URL_RULE.replace('/v1', '')}")
        return v


def load_settings(workspace: Path, path: Path | None = None, **flags) -> ServeSettings:
    """Settings from `path` (or the workspace's serve.yaml, when there is one), flags on top."""
    data: dict = {}
    source = path or (workspace / SETTINGS_FILENAME)
    if path is not None or source.is_file():
        data = read_yaml(source, ConfigError, "serve settings") or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{source.name}: must hold a mapping of settings (host, port, rate_limit, ...)")
    data.update({k: v for k, v in flags.items() if v is not None})
    try:
        return ServeSettings.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"{source.name}: {format_validation_error(err)}") from None

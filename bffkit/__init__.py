"""bffkit: the designer's best-friend pipeline as a notebook-driven research workbench.

Stage functions take and return plain data; :mod:`bffkit.store` persists them.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .config import RunConfig, load_config
from .exceptions import BffkitError, ConfigError, RequestError, StageError, StoreError, TaxonomyError
from .prompts import PromptSpec, build_specs, parse_request
from .store import Store, open_store
from .taxonomy import Taxonomy, load_taxonomy

__all__ = [
    "BffkitError", "ConfigError", "PromptSpec", "RequestError", "RunConfig", "StageError", "Store",
    "StoreError", "Taxonomy", "TaxonomyError", "build_specs", "load_config", "load_taxonomy",
    "open_store", "parse_request",
]

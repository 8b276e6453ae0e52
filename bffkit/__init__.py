"""bffkit: the designer's best-friend pipeline as a notebook-driven research workbench.

The stages are :data:`bffkit.stages.STAGES` (one module each); the algorithms they call take and
return plain data (numpy arrays, dataclasses); :mod:`bffkit.store` persists what they find.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .config import RunConfig, load_config
from .exceptions import BffkitError, ConfigError, RequestError, StageError, StoreError, TaxonomyError
from .prompts import PromptSpec, build_specs, parse_request
from .stages import STAGES, get_stage
from .store import Store, open_store
from .taxonomy import Taxonomy, load_taxonomy

__all__ = [
    "BffkitError", "ConfigError", "PromptSpec", "RequestError", "RunConfig", "StageError", "Store",
    "StoreError", "Taxonomy", "TaxonomyError", "build_specs", "load_config", "load_taxonomy",
    "STAGES", "get_stage", "open_store", "parse_request",
]

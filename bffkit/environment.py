"""Environment variables bffkit (or the libraries under it) reads, checked before any work.

A malformed thread count is read by OpenMP/OpenBLAS/MKL at import time, where it is ignored
or crashes the process; here it is one line naming the variable. The OpenAI variables are
checked where the client is made (:func:`bffkit.generate.openai_backend.make_client`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from .exceptions import ConfigError

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS")


def check_environment(environ: Mapping[str, str] = os.environ) -> None:
    """Raise a one-line ConfigError for a thread count that is not a positive integer."""
    for name in THREAD_VARIABLES:
        value = environ.get(name, "").strip()
        # OpenMP also takes a comma list, one count per nesting level ("4,2")
        if value and not all(part.strip().isdigit() and int(part) > 0 for part in value.split(",")):
            raise ConfigError(f"{name}={value[:40]!r}: must be a positive integer (threads), e.g. {name}=2")

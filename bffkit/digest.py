"""Content digests: what names an image file, a weights file, a cache entry."""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_digest(path: str | Path, length: int = 12) -> str:
    """The first `length` hex digits of a file's sha256, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:length]

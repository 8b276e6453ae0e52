"""Reading a text file a user named, with one-line errors for everything that can be wrong with it."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from .exceptions import BffkitError


def check_regular_file(path: Path, error: type[BffkitError], what: str) -> None:
    """Raise `error` unless `path` is an existing regular file (not a folder, device or pipe)."""
    if not os.path.lexists(path):
        raise error(f"{what} not found: {path}")
    if path.is_dir():
        raise error(f"{what} is a directory, not a file: {path}")
    if not path.is_file():
        raise error(f"{what} {path}: not a regular file (a device, pipe or broken link)")


def read_text(path: str | Path, error: type[BffkitError], what: str, *, max_bytes: int | None = None) -> str:
    """The UTF-8 text of a regular file (a leading BOM dropped) of at most `max_bytes`."""
    path = Path(path)
    check_regular_file(path, error, what)
    size = path.stat().st_size
    if max_bytes is not None and size > max_bytes:
        raise error(f"{path.name}: {size:,} bytes is too large for a {what} (at most {max_bytes:,})")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise error(f"{what} {path}: cannot be read ({err.strerror})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise error(f"{path.name}: not a UTF-8 text file (byte {err.start}); save it as UTF-8") from None


def check_output_file(path: Path, suffixes: tuple[str, ...], what: str) -> Path:
    """`path` if a file can be written there: a known suffix, an existing folder, not a folder itself."""
    if path.suffix.lower() not in suffixes:
        raise BffkitError(f"{what}={str(path)!r}: suffix {path.suffix or '(none)'!r} not supported; use "
                          f"{' or '.join(suffixes)}")
    if path.is_dir():
        raise BffkitError(f"{what}={str(path)!r}: is a folder; name a file inside it")
    if not path.parent.is_dir():
        raise BffkitError(f"{what}={str(path)!r}: folder {path.parent} does not exist")
    return path


def write_text_atomic(path: Path, text: str, what: str) -> None:
    """Write all of `text` to `path` or nothing: a temporary file beside it, then one rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as err:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise BffkitError(f"{what}={str(path)!r}: cannot write there ({err.strerror})") from None

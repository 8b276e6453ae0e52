"""Reading the project's YAML files (configs, taxonomy, requests, personas) with one-line errors.

Stricter than ``yaml.safe_load``: a key given twice is an error (YAML would keep the last one
without a word), and only a regular UTF-8 file of at most :data:`MAX_BYTES` is read, so a device
file, a folder or a runaway file never reaches the parser.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .exceptions import BffkitError
from .textfile import read_text

MAX_BYTES = 1_000_000  # a config, persona or request file is a few KB; the taxonomy is ~30 KB


class _UniqueKeyLoader(yaml.SafeLoader):
    """safe_load's loader, refusing a mapping that names a key twice."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice (lines {seen[key]} and {line}); keep one", key_node.start_mark)
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _UniqueKeyLoader.construct_mapping)


def parse_yaml(text: str, error: type[BffkitError], name: str) -> Any:
    """Parse YAML text; malformed, duplicated-key or absurdly nested input raises `error`."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.constructor.ConstructorError as err:
        if err.problem and "appears twice" in err.problem:
            raise error(f"{name}: {err.problem}") from None
        raise error(f"{name}: not valid YAML at line {err.problem_mark.line + 1}: {err.problem}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise error(f"{name}: not valid YAML{where}") from None
    except RecursionError:
        raise error(f"{name}: nested too deeply to be a bffkit file") from None


def read_yaml(path: str | Path, error: type[BffkitError], what: str) -> Any:
    """Parse a YAML file; a missing, unreadable, oversized, malformed or empty file raises `error`.

    `what` names the file's role in messages ("config file", "taxonomy file").
    """
    path = Path(path)
    data = parse_yaml(read_text(path, error, what, max_bytes=MAX_BYTES), error, path.name)
    if data is None:
        raise error(f"{path.name}: the {what} is empty")
    return data

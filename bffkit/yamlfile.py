"""Reading the project's YAML files (configs, taxonomy, requests) with one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .exceptions import BffkitError


def read_yaml(path: str | Path, error: type[BffkitError], what: str) -> Any:
    """Parse a YAML file; a missing, unreadable, malformed or empty file raises `error`.

    `what` names the file's role in messages ("config file", "taxonomy file").
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise error(f"{what} is a directory, not a file: {path}") from None
    except UnicodeDecodeError:
        raise error(f"{path.name}: not a UTF-8 text file") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise error(f"{path.name}: not valid YAML{where}") from None
    if data is None:
        raise error(f"{path.name}: the {what} is empty")
    return data

"""Config sections as data: pydantic models whose unknown keys and out-of-range values fail with
one line that names the field and what is allowed (``must be in [0, 1)``)."""

from __future__ import annotations

import difflib
import json
import math
import re
from typing import Annotated, Any

import types
import typing

from pydantic import (AfterValidator, BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator,
                      model_validator)


def interval(lo: float, hi: float, closed: str = "both"):
    """A validator that keeps a number inside an interval, with a readable message."""
    left = "[" if closed in ("both", "left") else "("
    right = "]" if closed in ("both", "right") else ")"
    text = f"must be in {left}{_num(lo)}, {_num(hi)}{right}"

    def check(v):
        ok_lo = v >= lo if left == "[" else v > lo
        ok_hi = v <= hi if right == "]" else v < hi
        if isinstance(v, float) and not math.isfinite(v) or not (ok_lo and ok_hi):
            raise ValueError(text)
        return v

    return AfterValidator(check)


def _num(x: float) -> str:
    return "inf" if x == math.inf else (str(int(x)) if float(x).is_integer() else str(x))


Fraction = Annotated[float, interval(0, 1)]


class Section(BaseModel):
    """Base for config sections: unknown keys are errors that list the allowed ones."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            allowed = list(cls.model_fields)
            for key in data:
                if key not in allowed:
                    close = difflib.get_close_matches(str(key), allowed, n=1)
                    hint = f"did you mean {close[0]!r}? " if close else ""
                    raise ValueError(f"unknown field {key!r}; {hint}allowed: {', '.join(allowed)}")
        return data

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_numbers(cls, v: Any, info: ValidationInfo) -> Any:
        # YAML reads `yes`/`true` as a bool, and pydantic would take it as the number 1
        if isinstance(v, bool) and _numeric(cls.model_fields[info.field_name].annotation):
            raise ValueError("must be a number, not true/false")
        return v


def _numeric(annotation: Any) -> bool:
    """Whether a field holds a number (int, float, or one of them or None), not a bool."""
    options = typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, types.UnionType) else (annotation,)
    options = [typing.get_args(o)[0] if typing.get_origin(o) is typing.Annotated else o for o in options]
    return any(o in (int, float) for o in options) and bool not in options


_TYPE_MESSAGES = {
    "int_parsing": "must be an integer", "int_type": "must be an integer",
    "int_from_float": "must be an integer", "float_parsing": "must be a number",
    "float_type": "must be a number", "bool_parsing": "must be true or false",
    "bool_type": "must be true or false", "string_type": "must be a string",
    "dict_type": "must be a mapping", "list_type": "must be a list", "missing": "is required",
    "model_type": "must be a mapping", "path_type": "must be a path",
}


def format_validation_error(err: ValidationError) -> str:
    """The first error as one line: ``field.path=value: what is allowed``."""
    e = err.errors(include_url=False)[0]
    loc = ".".join(str(p) for p in e["loc"] if not (isinstance(p, str) and p.startswith(("function-", "constrained-"))))
    # str | dict unions add the branch name to the path; drop those
    loc = re.sub(r"\.(str|int|float|dict\[[^\]]*\]|list\[[^\]]*\])(?=\.|$)", "", loc)
    kind = e["type"]
    if kind == "literal_error":
        expected = e.get("ctx", {}).get("expected", "")
        msg = f"must be one of: {expected.replace(' or ', ', ')}".replace("'", "")
    elif kind in _TYPE_MESSAGES:
        msg = _TYPE_MESSAGES[kind]
    else:
        msg = str(e["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind == "missing" or "unknown field" in msg:
        return f"{loc}: {msg}" if loc else msg
    value = e.get("input")
    shown = json.dumps(value) if isinstance(value, str) else repr(value)
    if len(shown) > 80:  # a pasted page or a huge list: the start says which value it was
        shown = shown[:77] + "..."
    if isinstance(value, dict):
        return f"{loc}: {msg}" if loc else msg
    return f"{loc}={shown}: {msg}" if loc else msg

"""Config sections as data: pydantic models whose unknown keys and out-of-range values fail with
one line that names the field and what is allowed (``must be in [0, 1)``)."""

from __future__ import annotations

import difflib
import math
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, model_validator


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

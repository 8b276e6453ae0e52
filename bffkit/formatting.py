"""Numbers for people: rates as percentages, other figures to 2-3 significant digits.

The report pages and the notebooks' tables go through here, so a reader sees "43%" and "8.83",
never "0.4270833333333333".
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import pandas as pd

# Columns holding a share of something in [0, 1]: shown as percentages wherever they appear.
PERCENT_COLUMNS = frozenset({
    "success_rate", "thumbs_up_rate", "outlier_rate", "coverage", "coverage_selected", "defect_share",
    "pool_defect_share", "ci_low", "ci_high", "share", "rate",
})
MISSING = "–"


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def number(x, digits: int = 3) -> str:
    """`x` to `digits` significant digits (integers as they are, thousands separated)."""
    if _missing(x):
        return MISSING
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int) or (isinstance(x, float) and x.is_integer() and abs(x) >= 10 ** digits):
        return f"{int(x):,}"
    if abs(x) >= 10 ** digits:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


def percent(x) -> str:
    """A share in [0, 1] as a percentage: whole percents, one decimal below 10% (but not 0)."""
    if _missing(x):
        return MISSING
    p = 100 * float(x)
    return f"{p:.1f}%" if 0 < abs(p) < 10 and not p.is_integer() else f"{p:.0f}%"


def change(new, old, *, as_percent: bool = False) -> str:
    """The change from `old` to `new`: "+7 pts" for shares, "+0.52" otherwise; "" when unknown."""
    if _missing(new) or _missing(old):
        return ""
    d = float(new) - float(old)
    if as_percent:
        pts = 100 * d
        return "±0 pts" if abs(pts) < 0.5 else f"{pts:+.0f} pts"
    return "±0" if abs(d) < 5e-4 * max(1.0, abs(float(old))) else ("+" if d > 0 else "−") + number(abs(d), 2)


def fmt_value(column: str, x) -> str:
    if isinstance(x, float | int) and not isinstance(x, bool):
        return percent(x) if column in PERCENT_COLUMNS else number(x)
    return MISSING if _missing(x) else str(x)


def for_people(frame: pd.DataFrame, percent_columns: Iterable[str] = ()) -> pd.DataFrame:
    """A copy of `frame` with every number as text: shares as percentages, the rest to 3 significant digits."""
    shares = PERCENT_COLUMNS | set(percent_columns)
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_numeric_dtype(out[col]) and not pd.api.types.is_bool_dtype(out[col]):
            out[col] = [percent(x) if col in shares else number(x) for x in out[col].tolist()]
    return out


def fold_equal_columns(frame: pd.DataFrame, keep: str, drop: str) -> tuple[pd.DataFrame, bool]:
    """`frame` without `drop` when it equals `keep` in every row (folded: True), else unchanged."""
    if keep not in frame or drop not in frame or not len(frame):
        return frame, False
    a, b = frame[keep].astype(float), frame[drop].astype(float)
    same = ((a - b).abs() < 1e-12) | (a.isna() & b.isna())
    return (frame.drop(columns=[drop]), True) if bool(same.all()) else (frame, False)


def table_html(frame: pd.DataFrame, *, max_rows: int = 30, percent_columns: Iterable[str] = (),
               classes: str = "bff-table") -> str:
    """`frame` as an HTML table for people (numbers formatted, rows capped, a note when capped)."""
    shown = for_people(frame.head(max_rows), percent_columns)
    body = shown.to_html(index=False, border=0, classes=classes, na_rep=MISSING, escape=True)
    if len(frame) > max_rows:
        body += f'<p class="muted">{max_rows} of {len(frame)} rows shown.</p>'
    return body

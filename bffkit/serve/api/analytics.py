"""/api/analytics: trends, style-profile and attribute performance, recommendations.

Aggregates only: counts and rates, never an event or a user id. ``scope=mine`` computes them
from the caller's own feedback alone.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from ...analytics import compute_analytics
from ..deps import CallerDep, ServerDep, plain

router = APIRouter(prefix="/api/analytics", tags=["analytics"])
Window = Annotated[int, Query(ge=1, le=3650, description="days of feedback and runs to include")]
Scope = Annotated[Literal["all", "mine"], Query(description="everyone's feedback, or only the caller's")]


def analytics(server, window_days: int, scope: str, user: str):
    from ...stages.analytics import analytics_for

    if scope == "all":
        return analytics_for(server.store, window_days)
    frames = server.store.analytics_frames(window_days)
    frames["feedback"] = frames["feedback"][frames["feedback"]["user_id"] == user]
    return compute_analytics(frames, window_days)


@router.get("/trends", summary="Per round and per day: feedback, thumbs-up and outlier rates, diversity, coverage")
def trends(server: ServerDep, who: CallerDep, window_days: Window = 90, scope: Scope = "all") -> dict:
    a = analytics(server, window_days, scope, who.name).to_dict()
    return plain({k: a[k] for k in ("window_days", "overall_outlier_rate", "overall_thumbs_up", "per_round",
                                    "per_day")} | {"scope": scope})


@router.get("/profiles", summary="Outlier and thumbs-up rate per style profile, with 95% intervals")
def profiles(server: ServerDep, who: CallerDep, window_days: Window = 90, scope: Scope = "all") -> dict:
    a = analytics(server, window_days, scope, who.name).to_dict()
    return plain({"window_days": window_days, "scope": scope, "items": a["profiles"]})


@router.get("/attributes", summary="Outlier rate and lift per detected attribute value")
def attributes(server: ServerDep, who: CallerDep, window_days: Window = 90, scope: Scope = "all") -> dict:
    a = analytics(server, window_days, scope, who.name).to_dict()
    return plain({"window_days": window_days, "scope": scope, "items": a["attributes"]})


@router.get("/recommendations", summary="What to try next, from the evidence so far")
def recommendations(server: ServerDep, who: CallerDep, window_days: Window = 90, scope: Scope = "all") -> dict:
    a = analytics(server, window_days, scope, who.name).to_dict()
    return plain({"window_days": window_days, "scope": scope, "items": a["recommendations"]})

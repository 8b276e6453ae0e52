"""The pipeline's stages, one module each, in order: the registry every runner goes through.

========  ===========  =========================================  ================
number    name         what it does                               original stages
========  ===========  =========================================  ================
1         prompts      request -> structured prompt specs          1-6
2         generate     specs -> images (sketch, diffusers, openai) 1-6
3         embed        images -> embeddings, tags, scores           7
4         cluster      K-means, K by silhouette -> style profiles   7
5         select       DPP greedy MAP -> diverse, good subset       8
6         coverage     coverage vs targets -> gaps, boosts          9
7         feedback     judgements -> outliers, learning            10
8         analytics    trends and recommendations (once per run)   11
========  ===========  =========================================  ================

A stage's ``name`` is its module, its notebook (``notebooks/NN_<name>.ipynb``), its progress
line and its report page. :func:`bffkit.pipeline.run_stage` runs one stage of one round;
``docs/architecture.md`` draws the data flow.
"""

from __future__ import annotations

from . import analytics, cluster, coverage, embed, feedback, generate, prompts, select
from .base import Stage, StageResult
from .context import RunContext

STAGES: tuple[Stage, ...] = tuple(m.STAGE for m in (prompts, generate, embed, cluster, select, coverage, feedback,
                                                    analytics))
STAGE_NAMES: tuple[str, ...] = tuple(s.name for s in STAGES)
ROUND_STAGES: tuple[str, ...] = tuple(s.name for s in STAGES if s.per_round)
_BY_NAME = {s.name: s for s in STAGES}

__all__ = ["ROUND_STAGES", "STAGES", "STAGE_NAMES", "RunContext", "Stage", "StageResult", "get_stage"]


def get_stage(name: str) -> Stage:
    """The stage called `name`; ConfigError listing the stages for any other name."""
    from ..exceptions import ConfigError

    if name not in _BY_NAME:
        raise ConfigError(f"stage={name!r}: not a stage; stages: {', '.join(STAGE_NAMES)}")
    return _BY_NAME[name]

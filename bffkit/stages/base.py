"""What a pipeline stage is: a number, a name used everywhere, a notebook, and a `run`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..config import RunConfig
    from .context import RunContext


class StageResult:
    """Mixin for a stage's result dataclass: its one-line summary, its dict, what the run-metrics
    table counts (``items``, ``success_rate``)."""

    def summary(self) -> str:
        raise NotImplementedError

    @property
    def items(self) -> int | None:
        return None

    @property
    def success_rate(self) -> float:
        return 1.0

    def to_dict(self) -> dict[str, Any]:
        """The result's fields plus ``message`` (its summary): what the store records and notebooks show."""
        return {**asdict(self), "message": self.summary()}


def _always(config: RunConfig) -> bool:
    return True


def _nothing_to_check(ctx: RunContext) -> None:
    return None


@dataclass(frozen=True)
class Stage:
    """One pipeline stage.

    `name` is the one word for it everywhere: its module (``bffkit/stages/<name>.py``), its
    notebook (``notebooks/<NN>_<name>.ipynb``), its progress lines and report pages. `check`
    validates what the stage needs (keys, weights, files) before any work is stored;
    `enabled` says whether a config runs it. `seed_numbers` are the original description's
    numbers for the same step (see ``docs/architecture.md``). `explore` is how the stage runs
    on a round that is already history (see :func:`bffkit.pipeline.run_stage`).
    """

    number: int
    name: str
    title: str
    section: str | None  # the RunConfig section it reads
    run: Callable[[RunContext, int], StageResult]
    seed_numbers: tuple[int, ...] = ()
    check: Callable[[RunContext], None] = _nothing_to_check
    enabled: Callable[[RunConfig], bool] = _always
    per_round: bool = True  # False: once per run, after the last round
    # on a past round under other settings: run as a named variant, stored beside the round's own
    # result (never over it); None: the stage cannot be redone on a past round
    explore: Callable[[RunContext, int, str], StageResult] | None = None

    @property
    def notebook(self) -> str:
        """The stage's notebook, without ``.ipynb``."""
        return f"{self.number:02d}_{self.name}"


def needs_embeddings(config: RunConfig) -> bool:
    """Stages 3-7 run only with an embedding model."""
    return bool(config.embed.model)


def embedder_loads(ctx: RunContext) -> None:
    """Stages 3-7's check: the embedding model loads (weights found, spec valid) before any work."""
    ctx.embedder

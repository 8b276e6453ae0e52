"""One run's shared pieces, handed to every stage: config, taxonomy, store, ids, backends."""

from __future__ import annotations

import numpy as np

from ..config import RunConfig
from ..exceptions import ConfigError
from ..prompts import parse_request
from ..store import Store, ids


def round_seed(seed: int, round_number: int) -> int:
    """Each round samples from its own stream, derived from the run seed."""
    return int(np.random.SeedSequence([seed, round_number]).generate_state(1)[0])


class RunContext:
    """Config, taxonomy, store and run id; the generator, embedder, tagger and persona built on first use.

    :func:`bffkit.pipeline.open_run` builds one after every stage's inputs are checked.
    """

    def __init__(self, config: RunConfig, store: Store | None, tax, stages: tuple[str, ...], progress: bool):
        self.config, self.store, self.tax, self.stages, self.progress = config, store, tax, stages, progress
        self.run_id = config.resolved_run_id()
        self.config_digest = config.digest()  # which config a recorded stage summary came from
        requested = parse_request(config.request, tax).attributes
        self.fixed = set(requested)
        self.category = requested.get("category")
        self._generator = self._embedder = self._tagger = self._persona = None

    @property
    def generator(self):
        if self._generator is None:
            from ..generate import get_generator

            self._generator = get_generator(self.config.generate.backend, **self.config.generate.options_for())
        return self._generator

    @property
    def embedder(self):
        if self._embedder is None:
            if not self.config.embed.model:
                raise ConfigError("embed.model: stages 3-7 need an embedding model; set embed.model "
                                  "(e.g. sketch-clip)")
            from ..models import create_embedder

            cfg = self.config.embed
            self._embedder = create_embedder(cfg.model, device=cfg.device, batch_size=cfg.batch_size)
        return self._embedder

    @property
    def coverage_targets(self) -> dict[tuple[str, str], float]:
        """(attribute, value) -> target share: what stage 6 measures and steering keeps clear of."""
        from ..coverage import coverage_targets

        cov = self.config.coverage
        return coverage_targets(self.tax, default_target=cov.default_target, targets=cov.targets,
                                fixed=self.fixed, category=self.category)

    @property
    def tagger(self):
        if self._tagger is None:
            from ..tagging import VLTTagger

            self._tagger = VLTTagger(self.embedder, self.tax)  # its text prompts are embedded once per run
        return self._tagger

    @property
    def persona(self):
        if self._persona is None and self.config.feedback.source == "persona":
            from ..feedback import load_persona

            self._persona = load_persona(self.config.feedback.persona)
        return self._persona

    @property
    def learner_id(self) -> str:
        """Whose feedback this run learns from and steers by: the simulated designer's own user
        (:func:`bffkit.feedback.simulated_user_id`) when a persona gives it, else the run's user
        (the feedback grid, a file, imports, the API)."""
        if self.config.feedback.source == "persona":
            from ..feedback import simulated_user_id

            return simulated_user_id(self.config.user_id, self.persona.name)
        return self.config.user_id

    @property
    def model_id(self) -> str:
        return self.embedder.model_id

    def job_id(self, round_number: int) -> str:
        return ids.job_id_for(self.run_id, round_number)

    def seed(self, round_number: int) -> int:
        return round_seed(self.config.seed, round_number)

    def round_data(self, round_number: int):
        """The round's usable images with embeddings, tags and scores (stages 4-7 read this)."""
        from .round_data import load_round

        return load_round(self.store, self.job_id(round_number), self.model_id)

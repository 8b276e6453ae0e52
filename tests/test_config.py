"""The one config override path: dotted paths, validated like the file."""

from __future__ import annotations

import pytest

from bffkit.config import RunConfig, load_config, with_overrides
from bffkit.exceptions import ConfigError

from .conftest import TINY


def test_overrides_replace_nested_fields_and_keep_the_rest():
    cfg = load_config(TINY, {"select.theta": 0.5, "cluster.k_max": 6, "generate.sketch.defect_rate": 0.0})
    assert (cfg.select.theta, cfg.cluster.k_max, cfg.generate.sketch.defect_rate) == (0.5, 6, 0.0)
    base = load_config(TINY)
    assert cfg.request == base.request and cfg.select.cluster_aware == base.select.cluster_aware
    again = with_overrides(base, {"select.theta": 0.5, "cluster.k_max": 6, "generate.sketch.defect_rate": 0.0})
    assert again == cfg
    assert with_overrides(base, {"select.theta": None}) == base  # None: not overridden


@pytest.mark.parametrize("overrides, message", [
    ({"select.theta": 1.5}, r"select\.theta=1\.5: must be in \[0, 1\)"),
    ({"select.thetta": 0.5}, r"select\.thetta: not a config field; fields here: theta"),
    ({"selekt.theta": 0.5}, r"selekt: not a config section; sections: prompts, generate"),
    ({"generate.backend": "midjourney"}, r'generate\.backend="midjourney": unknown backend; available: sketch'),
    ({"rounds": 0}, r"rounds=0: must be"),
])
def test_a_bad_override_is_one_line_naming_the_field(overrides, message):
    with pytest.raises(ConfigError, match=message) as err:
        with_overrides(RunConfig(request="red dress"), overrides)
    assert "\n" not in str(err.value)

"""The learning loop end to end (`bffkit bench loop`): sketch backend, a simulated designer, 3 rounds."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ..conftest import ROOT

pytestmark = pytest.mark.slow
PERSONAS = ("minimalist", "maximalist")


@pytest.fixture(scope="module")
def loops():
    """{persona: `bffkit bench loop --json`}, the two loops at once (each in its own scratch workspace)."""
    procs = {p: subprocess.Popen([sys.executable, "-m", "bffkit", "bench", "loop", "--persona", p, "--json"], cwd=ROOT,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for p in PERSONAS}
    out = {}
    for persona, proc in procs.items():
        stdout, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        out[persona] = json.loads(stdout)
    return out


@pytest.mark.parametrize("persona", PERSONAS)
def test_loop_learns_each_personas_taste_without_losing_coverage(loops, persona):
    doc = loops[persona]
    rounds = doc["rounds"]
    assert doc["persona"] == persona and [r["round"] for r in rounds] == [1, 2, 3]
    # Issue 6: round 3 thumbs-up >= round 1 + 25 points, coverage >= round 1 - 0.02. Measured with
    # the shipped weights, the near-miss gate and steering floored at half a value's prior share
    # and 1.5x its coverage target: +33 (minimalist: 13 -> 29 of 48 liked) and +37.5 points
    # (maximalist: 13 -> 31), coverage +0.021 / -0.015; over seeds 7, 1, 2, 3, 6 of 8 runs meet
    # both targets (see README). Counted
    # in judgements (48 a round, the demo's target_count): 12 more likes is exactly 25 points,
    # which a float sum of rates can miss.
    liked_more = round((rounds[2]["thumbs_up_rate"] - rounds[0]["thumbs_up_rate"]) * 48)
    assert liked_more >= 12 and doc["thumbs_up_gain"] >= 0.25, rounds
    assert doc["coverage_change"] >= -0.02, rounds
    assert rounds[2]["head_auc"] >= 0.6 and rounds[2]["head_share"] > 0
    assert doc["meets_target"]

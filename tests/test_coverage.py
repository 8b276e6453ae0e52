"""Stage 6: coverage of detected attributes, gaps with severity, boosts that reach stage 1."""

import pytest

from bffkit.coverage import boost_for, coverage_targets, measure_coverage, severity_of
from bffkit.prompts import build_specs


def test_severity_and_boost_follow_the_deficit():
    assert [severity_of(d) for d in (1.0, 0.9, 0.7, 0.4, 0.1)] == ["critical", "critical", "high", "medium", "low"]
    assert boost_for("critical") == 0.25 and boost_for("low") == 0.15
    assert 0.15 < boost_for("medium") < boost_for("high") < 0.25


def test_targets_resolve_value_attribute_group_default(tax):
    t = coverage_targets(tax, default_target=0.05, targets={"pattern": {"floral": 0.2}, "neckline": 0.1},
                         fixed={"category"})
    assert t[("pattern", "floral")] == 0.2
    assert t[("pattern", "stripes")] == pytest.approx(min(0.05, 0.5 / len(tax["pattern"].value_names)))
    assert all(t[("neckline", v)] == 0.1 for v in tax["neckline"].value_names)
    assert not any(a == "category" for a, _ in t)  # fixed by the request: not a gap to close
    group = tax["pattern"].group
    t2 = coverage_targets(tax, targets={group: 0.01})
    assert t2[("pattern", "floral")] == 0.01


def test_measure_coverage_scores_and_gaps():
    targets = {("pattern", "floral"): 0.2, ("pattern", "stripes"): 0.2, ("pattern", "dots"): 0.2,
               ("leg_shape", "wide-leg"): 0.5}
    generated = [{"pattern": "floral"}] * 6 + [{"pattern": "stripes"}] * 3 + [{"pattern": "solid"}]
    selected = generated[:1] + generated[6:8]
    rep = measure_coverage(generated, selected, targets)
    by = {(v.attribute, v.value): v for v in rep.values}
    assert by[("pattern", "floral")].generated == 0.6 and by[("pattern", "stripes")].generated == 0.3
    assert by[("pattern", "floral")].selected == pytest.approx(1 / 3, abs=1e-4)
    assert ("leg_shape", "wide-leg") not in by  # no image the attribute applies to: not measured
    assert [(g.value, g.severity, g.boost) for g in rep.gaps] == [("dots", "critical", 0.25)]
    assert rep.score == pytest.approx((1 + 1 + 0) / 3, abs=1e-4)
    assert rep.boosts() == {"pattern": {"dots": 1.25 * 4}}  # never seen: the capped ratio x (1 + boost)


def test_a_starved_value_gets_a_gap_and_the_next_round_samples_it_more(tax):
    request = "a dress"
    starve = {"pattern": {"houndstooth": 0.3}}  # e.g. a learned dislike that starved it
    n = 4000
    round1 = build_specs(request, n, seed=11, taxonomy=tax, preferences=starve)
    # the sketch renderer draws what was asked; use that as what the tagger would detect
    detected = [s.attributes for s in round1]
    targets = coverage_targets(tax, fixed={"category"})
    rep = measure_coverage(detected, detected[:50], targets)
    gap = next(g for g in rep.gaps if (g.attribute, g.value) == ("pattern", "houndstooth"))
    assert gap.severity == "medium" and gap.boost == boost_for("medium")  # half its target: deficit ~0.5
    round2 = build_specs(request, n, seed=11, taxonomy=tax, preferences=starve, boosts=rep.boosts())
    before = sum(s.attributes.get("pattern") == "houndstooth" for s in round1)
    after = sum(s.attributes.get("pattern") == "houndstooth" for s in round2)
    # the boost aims at the target plus its margin: about (1 + boost) x target / observed times as often
    assert after >= before * 1.5 and after / n >= gap.target * 0.9, (before, after)


def test_targets_skip_attributes_the_requested_category_cannot_have(tax):
    dress = coverage_targets(tax, fixed={"category"}, category="dress")
    assert not any(a in ("leg_shape", "leg_length") for a, _ in dress)
    assert any(a == "neckline" for a, _ in dress)
    trousers = coverage_targets(tax, fixed={"category"}, category="trousers")
    assert any(a == "leg_shape" for a, _ in trousers) and not any(a == "neckline" for a, _ in trousers)


def test_gaps_open_close_and_turn_into_next_rounds_boosts():
    from bffkit.coverage import boosts_from_gaps, gap_changes

    report = {"values": [{"attribute": "pattern", "value": v} for v in ("floral", "stripes", "check")],
              "gaps": [{"attribute": "pattern", "value": "check", "factor": 3.0}]}
    open_before = {("pattern", "floral"): "g1", ("pattern", "paisley"): "g2"}
    opened, closed = gap_changes(open_before, report)
    # floral was measured and met its target: closed; paisley was not measured: stays open
    assert opened == {("pattern", "check")} and closed == ["g1"]
    assert boosts_from_gaps(report["gaps"]) == {"pattern": {"check": 3.0}}
    assert boosts_from_gaps([]) is None

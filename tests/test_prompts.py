from __future__ import annotations

from collections import Counter

import pytest
import yaml

from bffkit.exceptions import RequestError
from bffkit.prompts import build_specs, compose_prompt, parse_request, quality_params

from .conftest import FIXTURES


def test_extraction_precision_and_recall_on_hand_written_requests(tax):
    cases = yaml.safe_load((FIXTURES / "requests.yaml").read_text())
    assert len(cases) >= 40
    tp = fp = fn = 0
    for case in cases:
        got = set(parse_request(case["text"], tax).attributes.items())
        want = set(case["expect"].items())
        tp += len(got & want)
        fp += len(got - want)
        fn += len(want - got)
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    assert precision >= 0.9, precision
    assert recall >= 0.9, recall


def test_parse_handles_synonyms_plurals_and_multiword_values(tax):
    p = parse_request("Two high-waisted skirts in sage green with polka dots and ruffles", tax)
    assert p.attributes["category"] == "skirt"  # plural "skirts"
    assert p.attributes["rise"] == "high-rise"  # multi-word synonym, resolved for a skirt
    assert p.attributes["primary_color"] == "sage"  # "sage green"
    assert p.attributes["pattern"] == "polka dot"  # "polka dots"
    assert p.attributes["finishing"] == "ruffled"  # "ruffles"


def test_ambiguous_phrases_resolve_by_category(tax):
    assert parse_request("short dress", tax).attributes["length"] == "mini"
    assert parse_request("short jacket", tax).attributes["top_length"] == "cropped"
    assert parse_request("cropped trousers", tax).attributes["leg_length"] == "cropped"
    assert parse_request("high waisted dress", tax).attributes["waistline"] == "high waist"
    assert parse_request("shorts", tax).attributes == {"category": "shorts"}


def test_second_colour_becomes_secondary_and_implications_apply(tax):
    p = parse_request("navy and white leopard print blouse", tax)
    assert p.attributes["primary_color"] == "navy"
    assert p.attributes["secondary_color"] == "white"
    assert p.attributes["animal_print"] == "leopard"
    assert p.attributes["pattern"] == "animal print"


def test_unknown_words_are_kept_as_free_text(tax):
    p = parse_request("red dress inspired by Klimt paintings, with tiny lemons", tax)
    assert p.attributes["category"] == "dress"
    assert "klimt paintings" in p.free_text
    spec = build_specs(p, 1, seed=0, taxonomy=tax)[0]
    assert "klimt paintings" in spec.prompt


def test_attributes_that_do_not_fit_the_garment_are_not_forced(tax):
    p = parse_request("sleeveless trousers", tax)
    assert "sleeve_length" not in p.attributes
    assert "sleeveless" in p.free_text


def test_structured_requests(tax):
    p = parse_request({"category": "coat", "colour": "Camel", "length": "knee length",
                       "text": "with a belted waist"}, tax)
    assert p.attributes == {"category": "coat", "length": "knee-length", "waist_detail": "belted",
                            "primary_color": "camel"}
    with pytest.raises(RequestError, match=r"request.length='mid': not a value of 'length'; allowed: mini"):
        parse_request({"length": "mid"}, tax)
    with pytest.raises(RequestError, match=r"request.necline: unknown attribute; did you mean neckline"):
        parse_request({"necline": "v-neck"}, tax)
    with pytest.raises(RequestError, match=r"request.sleeve_length: does not apply to category 'trousers'"):
        parse_request({"category": "trousers", "sleeve_length": "long"}, tax)


def test_same_request_and_seed_give_identical_specs(tax):
    a = [s.to_dict() for s in build_specs("floral midi dress", 12, seed=5, taxonomy=tax)]
    b = [s.to_dict() for s in build_specs("floral midi dress", 12, seed=5, taxonomy=tax)]
    c = [s.to_dict() for s in build_specs("floral midi dress", 12, seed=6, taxonomy=tax)]
    assert a == b
    assert a != c
    # spec i depends only on the seed and the specs before it: n extends
    assert [s.to_dict() for s in build_specs("floral midi dress", 5, seed=5, taxonomy=tax)] == a[:5]


def test_specs_differ_and_keep_what_was_requested(tax):
    specs = build_specs("floral midi dress", 40, seed=1, taxonomy=tax)
    assert len({frozenset(s.attributes.items()) for s in specs}) == 40
    assert len({s.seed for s in specs}) == 40
    for s in specs:
        assert s.attributes["category"] == "dress"
        assert s.attributes["pattern"] == "floral"
        assert s.attributes["length"] == "midi"
        assert set(s.requested) == {"category", "pattern", "length"}
    # the unrequested attributes really vary
    assert len({s.attributes["neckline"] for s in specs}) >= 6
    assert len({s.attributes["primary_color"] for s in specs}) >= 8


def test_sampled_attributes_apply_to_the_category(tax):
    for s in build_specs("wide leg trousers", 60, seed=2, taxonomy=tax):
        for name in s.attributes:
            assert tax[name].applies("trousers"), name
        assert "sleeve_length" not in s.attributes and "neckline" not in s.attributes


def test_category_is_sampled_among_garments_the_request_fits(tax):
    cats = {s.attributes["category"] for s in build_specs("puff sleeves in yellow", 60, seed=3, taxonomy=tax)}
    assert len(cats) >= 4
    assert cats.isdisjoint({"trousers", "jeans", "skirt", "shorts"})


def test_requires_and_excludes_gate_sampling(tax):
    for s in build_specs("sleeveless dress", 80, seed=4, taxonomy=tax):
        assert "sleeve_type" not in s.attributes
        if s.attributes.get("strap_type"):
            assert s.attributes["sleeve_length"] == "sleeveless"
        if s.attributes.get("secondary_color"):
            assert s.attributes["secondary_color"] != s.attributes["primary_color"]
            assert s.attributes["pattern"] != "solid"


def test_negative_prompt_holds_quality_negatives_and_conflicts(tax):
    spec = build_specs("sleeveless mini dress", 1, seed=0, taxonomy=tax)[0]
    assert "long sleeves" in spec.negative_prompt
    assert "maxi length" in spec.negative_prompt
    assert spec.negative_prompt.startswith("blurry, low quality")
    custom = build_specs("sleeveless mini dress", 1, seed=0, taxonomy=tax, quality_negatives=["ugly"])[0]
    assert custom.negative_prompt.startswith("ugly, ")


def test_prompt_has_a_consistent_attribute_order(tax):
    attrs = {"category": "dress", "primary_color": "red", "neckline": "v-neck", "view": "front",
             "length": "midi", "material": "silk"}
    text = compose_prompt(attrs, tax)
    assert text.startswith("red silk dress, midi length, v-neck neckline")
    assert text.index("front view") > text.index("v-neck neckline")
    shuffled = dict(reversed(list(attrs.items())))
    ordered = {k: shuffled[k] for k in tax if k in shuffled}
    assert compose_prompt(ordered, tax) == text


def _freq(specs, attribute, value):
    return sum(s.attributes.get(attribute) == value for s in specs) / len(specs)


def test_gap_boosts_and_preferences_steer_sampling(tax):
    base = build_specs("dress", 400, seed=9, taxonomy=tax)
    boosted = build_specs("dress", 400, seed=9, taxonomy=tax, boosts={"pattern": {"houndstooth": 6.0}})
    assert _freq(boosted, "pattern", "houndstooth") > 3 * max(_freq(base, "pattern", "houndstooth"), 0.01)
    banned = build_specs("dress", 200, seed=9, taxonomy=tax, preferences={"primary_color": {"black": 0.0}})
    assert _freq(banned, "primary_color", "black") == 0
    # a boosted value of an optional attribute makes the attribute itself appear more often
    pleats = build_specs("dress", 400, seed=9, taxonomy=tax, boosts={"finishing": {"pleated": 4.0}})
    assert _freq(pleats, "finishing", "pleated") > 2 * _freq(base, "finishing", "pleated")
    with pytest.raises(RequestError, match=r"boosts.pattern.tartanish: not a value of 'pattern'"):
        build_specs("dress", 2, taxonomy=tax, boosts={"pattern": {"tartanish": 2.0}})
    with pytest.raises(RequestError, match=r"preferences.fit.slim=-1.0: must be a finite number >= 0"):
        build_specs("dress", 2, taxonomy=tax, preferences={"fit": {"slim": -1.0}})


def test_quality_params_per_backend(tax):
    dress = {"category": "dress", "length": "maxi"}
    top = {"category": "t-shirt"}
    turbo = quality_params("diffusers", dress, {"model": "stabilityai/sd-turbo", "steps": 8, "guidance": 7.5}, tax)
    assert turbo == {"width": 512, "height": 512, "num_inference_steps": 4, "guidance_scale": 0.0}
    sd15 = quality_params("diffusers", dress, {"model": "runwayml/stable-diffusion-v1-5", "steps": None,
                                               "guidance": 7.5}, tax)
    assert sd15 == {"width": 512, "height": 768, "num_inference_steps": 30, "guidance_scale": 7.5}
    sdxl = quality_params("diffusers", top, {"model": "stabilityai/stable-diffusion-xl-base-1.0", "steps": 40,
                                             "guidance": 5.0}, tax)
    assert (sdxl["width"], sdxl["height"], sdxl["num_inference_steps"]) == (1024, 1024, 40)
    assert quality_params("openai", dress, {"model": "gpt-image-1", "quality": "high"}, tax) == \
        {"size": "1024x1536", "quality": "high"}
    assert quality_params("openai", dress, {"model": "dall-e-3", "quality": "high"}, tax) == \
        {"size": "1024x1792", "quality": "hd"}
    assert quality_params("sketch", top, {"width": 256, "height": 256}, tax) == {"width": 256, "height": 256}
    specs = build_specs("maxi dress", 2, backend="diffusers", taxonomy=tax)
    assert specs[0].params["num_inference_steps"] == 1 and specs[0].params["guidance_scale"] == 0.0


@pytest.mark.parametrize("kwargs, message", [
    ({"n": 0}, "n=0: must be an integer >= 1"),
    ({"n": 2, "seed": -1}, "seed=-1: must be an integer >= 0"),
])
def test_bad_arguments(tax, kwargs, message):
    with pytest.raises(RequestError, match=message):
        build_specs("dress", taxonomy=tax, **kwargs)


def test_empty_request_is_rejected(tax):
    with pytest.raises(RequestError, match="request: is empty"):
        parse_request("   ", tax)


def test_sampling_follows_prior_weights(tax):
    specs = build_specs("dress", 600, seed=11, taxonomy=tax)
    views = Counter(s.attributes["view"] for s in specs)
    # front has prior weight 4 of 7: well over half of the specs
    assert views["front"] / len(specs) > 0.45
    priors = build_specs("dress", 300, seed=11, taxonomy=tax, priors={"view": {"front": 0.0}})
    assert all(s.attributes["view"] != "front" for s in priors)

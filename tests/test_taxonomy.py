from __future__ import annotations

import copy

import pytest
import yaml

from bffkit.exceptions import TaxonomyError
from bffkit.paths import TAXONOMY_PATH
from bffkit.store import open_store
from bffkit.taxonomy import load_taxonomy, taxonomy_from_dict, tokenize

# The groups the issue grounds in Fashionpedia and iMaterialist, plus the project's own.
REQUIRED_GROUPS = {
    "silhouette", "neckline", "length", "waistline", "opening", "textile_pattern", "textile_finishing",
    "non_textile_material", "leather", "animal", "sleeve", "collar", "lapel", "pocket", "color",
    "material", "style", "occasion", "category", "fit", "era", "season", "rendering",
}


def test_shipped_taxonomy_size_and_groups(tax):
    groups = {a.group for a in tax.values()}
    assert len(tax) >= 60
    assert len(groups) >= 12
    assert REQUIRED_GROUPS <= groups
    assert {"view", "background", "lighting"} <= set(tax)


def test_every_attribute_is_complete(tax):
    for a in tax.values():
        assert a.values, a.name
        assert "{value}" in a.phrase
        assert a.applies_to, a.name
        for v in a.values:
            assert a.render(v.name).strip()


def test_applicability_follows_the_garment(tax):
    assert not tax["sleeve_length"].applies("trousers")
    assert not tax["sleeve_type"].applies("jeans")
    assert not tax["neckline"].applies("skirt")
    assert tax["leg_shape"].applies("jeans") and not tax["leg_shape"].applies("dress")
    # kinds expand to their categories: sweaters are "upper" garments and have necklines
    assert tax["neckline"].applies("sweater")
    assert tax["lapel_type"].applies_to == {"blazer", "jacket", "coat"}


def test_at_least_twelve_colours_and_eight_patterns(tax):
    assert len(tax["primary_color"].values) >= 12
    assert {"solid", "stripes", "polka dot", "check", "floral", "houndstooth", "animal print",
            "geometric"} <= set(tax["pattern"].value_names)
    assert tax["secondary_color"].value_names == tax["primary_color"].value_names


def test_tokenize_normalises_case_hyphens_accents_and_apostrophes():
    assert tokenize("Off-the-Shoulder Crêpe, 70's!") == ["off", "the", "shoulder", "crepe", ",", "70s", "!"]


def raw():
    return yaml.safe_load(TAXONOMY_PATH.read_text())


def mutate(fn):
    data = copy.deepcopy(raw())
    fn(data)
    return data


def attr(data, name):
    return next(a for a in data["attributes"] if a["name"] == name)


BAD = [
    ("duplicate attribute", lambda d: d["attributes"].append(copy.deepcopy(attr(d, "fit"))),
     "duplicate attribute 'fit'"),
    ("empty values", lambda d: attr(d, "fit").update(values=[]), "attribute 'fit': empty value list"),
    ("unknown category", lambda d: attr(d, "lapel_type").update(applies_to=["blazer", "kaftan"]),
     "applies_to names unknown category 'kaftan'"),
    ("duplicate value", lambda d: attr(d, "fit")["values"].append("slim"), "attribute 'fit': duplicate value 'slim'"),
    ("synonym names two values",
     lambda d: attr(d, "fit")["values"].append({"name": "skin tight", "synonyms": ["fitted"]}),
     "synonym 'fitted' names both 'slim' and 'skin tight'"),
    ("unknown group", lambda d: attr(d, "fit").update(group="vibes"), "group 'vibes' is not one of the declared groups"),
    ("requires unknown attribute", lambda d: attr(d, "fit").update(requires={"sparkle": ["x"]}),
     "requires names unknown attribute 'sparkle'"),
    ("requires unknown value", lambda d: attr(d, "fit").update(requires={"pattern": ["tartanish"]}),
     "requires names unknown value 'tartanish' of 'pattern'"),
    ("implies unknown", lambda d: attr(d, "fit")["values"].append({"name": "x", "implies": {"pattern": "nope"}}),
     "implies unknown pattern='nope'"),
    ("sample rate", lambda d: attr(d, "fit").update(sample_rate=1.5), "sample_rate=1.5: must be in [0, 1]"),
    ("phrase", lambda d: attr(d, "fit").update(phrase="fit"), "must contain '{value}'"),
    ("cycle", lambda d: (attr(d, "fit").update(requires={"era": ["1970s"]}),
                         attr(d, "era").update(requires={"fit": ["slim"]})), "requires/excludes cycle"),
    ("kind name", lambda d: d["categories"].update(upper="upper"), "has the name of a category kind"),
    ("unknown kind", lambda d: d["categories"].update(dress="onepiece"), "kind 'onepiece' is not one of"),
    ("unknown key", lambda d: attr(d, "fit").update(colour="red"), "unknown key 'colour'"),
]


@pytest.mark.parametrize("fn, message", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_invalid_taxonomies_fail_with_a_clear_message(fn, message):
    with pytest.raises(TaxonomyError) as err:
        taxonomy_from_dict(mutate(fn), source="t.yaml")
    assert message in str(err.value)
    assert str(err.value).startswith("t.yaml: ")
    assert "\n" not in str(err.value)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(TaxonomyError, match="taxonomy file not found"):
        load_taxonomy(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("attributes: [\n")
    with pytest.raises(TaxonomyError, match=r"bad.yaml: not valid YAML at line"):
        load_taxonomy(bad)


def test_taxonomy_loads_into_the_store(tax, workspace):
    store = open_store(workspace)
    assert store.sync_taxonomy(tax) == len(tax)
    assert store.sync_taxonomy(tax) == len(tax)  # replacing, not appending
    rows = store.table("vlt_attributes")
    assert len(rows) == len(tax)
    neck = rows.set_index("name").loc["neckline"]
    assert neck["group_name"] == "neckline"
    assert "v-neck" in neck["value_list"]

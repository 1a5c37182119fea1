import csv
import json

import pytest

from carecommons.core.errors import InvalidInput
from carecommons.reference.symptoms import GUIDANCE_FILE, VOCABULARY_FILE, load_guidance, slugify


def test_every_vocabulary_symptom_has_guidance_with_citations():
    g = load_guidance()
    with VOCABULARY_FILE.open(newline="") as fh:
        names = [r["symptom"] for r in csv.DictReader(fh)]
    assert sorted(e.symptom for e in g.entries) == sorted(names)
    assert 130 <= len(g.entries) <= 160
    for e in g.entries:
        assert e.references and all(r.url.startswith("https://") for r in e.references)
        assert e.red_flags and e.consider


def test_marked_as_needing_clinical_sign_off():
    g = load_guidance()
    assert g.needs_sign_off and "sign-off" in g.status


def test_search_by_lay_synonym_and_category():
    g = load_guidance()
    hits = g.search("tired all the time")
    assert [h.symptom for h in hits] == ["Fatigue"]
    cardio = g.search(category="Cardiovascular")
    assert {e.category for e in cardio} == {"Cardiovascular"} and len(cardio) == 7
    assert g.search("haemoptysis", category="Respiratory")
    assert g.search("zzzz-no-such-thing") == []


def test_suspected_cancer_red_flags_cite_ng12():
    g = load_guidance()
    for slug in ("rectal-bleeding", "postmenopausal-bleeding", "coughing-up-blood", "breast-lump"):
        assert any(r.code == "NG12" for r in g.get(slug).references), slug


def test_slugs_unique():
    slugs = [e.slug for e in load_guidance().entries]
    assert len(slugs) == len(set(slugs))
    assert slugify("Neck swelling (thyroid)") == "neck-swelling-thyroid"


def test_unknown_guideline_is_refused(tmp_path):
    doc = json.loads(GUIDANCE_FILE.read_text())
    doc["entries"][0]["refs"] = ["NG999 made up"]
    bad = tmp_path / "g.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(InvalidInput) as err:
        load_guidance.__wrapped__(bad)
    assert "NG999" in str(err.value) and "Fix:" in str(err.value)

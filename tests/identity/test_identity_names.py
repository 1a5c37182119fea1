from __future__ import annotations

import pytest

from carecommons.identity.names import canonical_given, clean_name, soundex


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("ROBERT", "R163"),
        ("RUPERT", "R163"),
        ("ASHCRAFT", "A261"),
        ("TYMCZAK", "T522"),
        ("PFISTER", "P236"),
        ("LEE", "L000"),
    ],
)
def test_soundex_matches_the_published_census_examples(name, code):
    assert soundex(name) == code


def test_clean_name_folds_case_accents_and_punctuation():
    assert clean_name("  o'Brien ") == "OBRIEN"
    assert clean_name("Zoë") == "ZOE"
    assert clean_name("Smith-Jones") == "SMITH JONES"
    assert clean_name("--") is None
    assert soundex(None) is None


def test_nicknames_fold_to_the_formal_name():
    assert canonical_given("BILL") == canonical_given("WILLIAM") == "WILLIAM"
    assert canonical_given("MARY ANN") == "MARY"

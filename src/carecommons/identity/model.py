"""The Splink model: comparisons, blocking rules and training, shared by the DuckDB and Spark backends.

Comparisons (each level is evidence for or against a match; Splink learns how much):
- given name: exact, same formal name via nickname ("BILL"/"WILLIAM"), Jaro-Winkler >= 0.92, >= 0.80
- family name: exact, Jaro-Winkler >= 0.92, >= 0.80
- date of birth: exact, day and month transposed, one character different (a typed digit), same year
- postcode: exact, same sector, same district (people move within a borough)
- sex: exact
- NHS number: exact, one edit or adjacent swap away (a typo that fails the check is still evidence)

Blocking (which pairs are scored at all) unions six cheap rules so that any single error -- a missing NHS
number, a moved postcode, a typed date of birth, a misspelt surname -- still leaves a rule that finds the pair.
"""

from __future__ import annotations

from typing import Any

import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import SettingsCreator, block_on


def _name_levels(column: str, extra: list | None = None) -> list:
    return [
        cll.NullLevel(column),
        cll.ExactMatchLevel(column).configure(label_for_charts=f"{column}: exact"),
        *(extra or []),
        cll.JaroWinklerLevel(column, 0.92).configure(label_for_charts=f"{column}: Jaro-Winkler >= 0.92"),
        cll.JaroWinklerLevel(column, 0.80).configure(label_for_charts=f"{column}: Jaro-Winkler >= 0.80"),
        cll.ElseLevel().configure(label_for_charts=f"{column}: different"),
    ]


def comparisons() -> list:
    """The six comparisons, in the order explanations list them."""
    given = cl.CustomComparison(
        comparison_levels=_name_levels(
            "given_name",
            [
                cll.CustomLevel(
                    "given_canon_l = given_canon_r", label_for_charts="given_name: same formal name (nickname)"
                )
            ],
        ),
        output_column_name="given_name",
        comparison_description="Given name",
    )
    family = cl.CustomComparison(
        comparison_levels=_name_levels("family_name"),
        output_column_name="family_name",
        comparison_description="Family name",
    )
    dob = cl.CustomComparison(
        comparison_levels=[
            cll.NullLevel("dob"),
            cll.ExactMatchLevel("dob").configure(label_for_charts="dob: exact"),
            cll.CustomLevel(
                "substr(dob_l, 1, 4) = substr(dob_r, 1, 4) AND substr(dob_l, 6, 2) = substr(dob_r, 9, 2) "
                "AND substr(dob_l, 9, 2) = substr(dob_r, 6, 2)",
                label_for_charts="dob: day and month transposed",
            ),
            cll.LevenshteinLevel("dob", 1).configure(label_for_charts="dob: one character different"),
            cll.ExactMatchLevel("yob").configure(label_for_charts="dob: same year"),
            cll.ElseLevel().configure(label_for_charts="dob: different"),
        ],
        output_column_name="dob",
        comparison_description="Date of birth",
    )
    postcode = cl.CustomComparison(
        comparison_levels=[
            cll.NullLevel("postcode"),
            cll.ExactMatchLevel("postcode").configure(label_for_charts="postcode: exact"),
            # priors, kept when EM sees too few movers within a sector or district to estimate them
            cll.ExactMatchLevel("pc_sector").configure(label_for_charts="postcode: same sector", m_probability=0.02),
            cll.ExactMatchLevel("pc_district").configure(
                label_for_charts="postcode: same district", m_probability=0.03
            ),
            cll.ElseLevel().configure(label_for_charts="postcode: different"),
        ],
        output_column_name="postcode",
        comparison_description="Postcode",
    )
    sex = cl.CustomComparison(
        comparison_levels=[
            cll.NullLevel("sex"),
            cll.ExactMatchLevel("sex").configure(label_for_charts="sex: same"),
            # fixed: EM drives this towards 0 on clean training blocks, which would veto any link with a
            # mis-keyed or changed sex; about 1 in 100 is a defensible floor
            cll.ElseLevel().configure(label_for_charts="sex: different", m_probability=0.01, fix_m_probability=True),
        ],
        output_column_name="sex",
        comparison_description="Sex",
    )
    nhs = cl.CustomComparison(
        comparison_levels=[
            cll.NullLevel("nhs_number"),
            cll.ExactMatchLevel("nhs_number").configure(label_for_charts="nhs_number: exact"),
            cll.DamerauLevenshteinLevel("nhs_number", 1).configure(
                label_for_charts="nhs_number: one digit typed or swapped"
            ),
            cll.ElseLevel().configure(label_for_charts="nhs_number: different"),
        ],
        output_column_name="nhs_number",
        comparison_description="NHS number",
    )
    return [given, family, dob, postcode, sex, nhs]


def blocking_rules() -> list:
    """Rules whose union generates candidate pairs; each misses only pairs with two or more specific errors."""
    return [
        block_on("dob", "pc_district"),
        block_on("dob", "family_sx"),
        block_on("dob", "given_sx"),
        block_on("nhs_number"),
        block_on("postcode", "family_sx"),
        block_on("given_sx", "family_sx", "yob"),
    ]


def settings() -> SettingsCreator:
    """Link-only settings: GP patients on one side, feed records on the other, never feed against feed."""
    return SettingsCreator(
        link_type="link_only",
        unique_id_column_name="unique_id",
        comparisons=comparisons(),
        blocking_rules_to_generate_predictions=blocking_rules(),
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
        additional_columns_to_retain=[],
    )


def for_dialect(trained: dict[str, Any], sql_dialect: str) -> dict[str, Any]:
    """A trained model re-expressed for another SQL dialect (e.g. trained on DuckDB, scored on Spark).

    Splink stores comparison SQL in the dialect it was trained in (DuckDB quotes identifiers with ", which
    Spark reads as string literals), so the comparisons are rebuilt from `settings()` for the target dialect
    and the trained prior and m/u probabilities are copied across level by level.
    """
    fresh = settings().create_settings_dict(sql_dialect)
    fresh["probability_two_random_records_match"] = trained["probability_two_random_records_match"]
    old_by_name = {c["output_column_name"]: c for c in trained["comparisons"]}
    for comp in fresh["comparisons"]:
        old = old_by_name[comp["output_column_name"]]
        if len(old["comparison_levels"]) != len(comp["comparison_levels"]):
            raise ValueError(f"trained model does not fit comparison {comp['output_column_name']}")
        for new_level, old_level in zip(comp["comparison_levels"], old["comparison_levels"], strict=True):
            for key in ("m_probability", "u_probability"):
                if key in old_level:
                    new_level[key] = old_level[key]
    return fresh


def train(linker: Any, seed: int = 42, em_max_pairs: float | None = None, u_max_pairs: float = 2e6) -> None:
    """Estimate the prior, u (random pairs) and m (EM on two blocks that leave every comparison free somewhere).

    The prior comes from records agreeing on name and date of birth, assumed to find 70% of true links
    (typo and nickname rates in real feeds are around 10-20% per field). EM block one fixes date of birth and
    surname sound, so it learns given name, postcode, sex and NHS number; block two fixes postcode and given
    name sound, so it learns date of birth and family name.
    """
    linker.training.estimate_probability_two_random_records_match(
        [block_on("given_name", "family_name", "dob")], recall=0.7
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=u_max_pairs, seed=seed)
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("dob", "family_sx"), max_pairs=em_max_pairs
    )
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("postcode", "given_sx"), max_pairs=em_max_pairs
    )

"""Layered overrides: finer layers win, typos fail loudly, local definitions apply only where they were added."""

from __future__ import annotations

from pathlib import Path

import pytest

from carecommons.core.errors import InvalidInput, NotFound
from carecommons.definitions.library import load_library
from carecommons.definitions.overrides import OrgChain

CAMDEN_A = OrgChain(practice_id="F1", pcn_id="PCN-CAM-1", borough="Camden", icb="NCL")
CAMDEN_B = OrgChain(practice_id="F2", pcn_id="PCN-CAM-2", borough="Camden", icb="NCL")
BARNET = OrgChain(practice_id="E1", pcn_id="PCN-BAR-1", borough="Barnet", icb="NCL")
LAMBETH = OrgChain(practice_id="G1", pcn_id="PCN-LAM-1", borough="Lambeth", icb="SEL")


def write(root: Path, level: str, name: str, text: str) -> None:
    (root / level).mkdir(parents=True, exist_ok=True)
    (root / level / f"{name}.toml").write_text(text, encoding="utf-8")


@pytest.fixture
def layered(tmp_path):
    write(tmp_path, "icb", "NCL", "[parameters.HYP008]\nsystolic_max = 138\n")
    write(tmp_path, "borough", "Camden", '[parameters.HYP008]\nsystolic_max = 135.0\nreason = "Camden pathway"\n')
    write(tmp_path, "practice", "F2", "[parameters.HYP008]\nwindow_months = 15\n")
    write(
        tmp_path,
        "borough",
        "Lambeth",
        '[[local]]\nid = "BP002_U45"\nbased_on = "BP002"\ntitle = "BP recorded, 30 and over"\n'
        "parameters = { min_age = 30 }\n",
    )
    return load_library([tmp_path])


def test_finest_layer_wins_and_origin_is_kept(layered):
    eff = layered.explain("HYP008", CAMDEN_B).parameters
    assert eff["systolic_max"].value == 135.0 and "Camden" in eff["systolic_max"].origin
    assert eff["systolic_max"].reason == "Camden pathway"
    assert [v for _o, v in eff["systolic_max"].history] == [140.0, 138.0, 135.0]
    assert eff["window_months"].value == 15 and isinstance(eff["window_months"].value, int)
    assert layered.explain("HYP008", BARNET).parameters["systolic_max"].value == 138.0  # int in TOML, float kept
    assert layered.explain("HYP008", LAMBETH).parameters["systolic_max"].origin == "London library default"


def test_plan_groups_practices_by_effective_values(layered):
    plan = {p.definition_id: p for p in layered.plan([CAMDEN_A, CAMDEN_B, BARNET, LAMBETH])}
    hyp = plan["HYP008"]
    assert hyp.default is not None and hyp.default.bound.params["systolic_max"] == 140.0
    by_practices = {v.practices: v.bound.params for v in hyp.local}
    assert by_practices[frozenset({"F1"})]["systolic_max"] == 135.0
    assert by_practices[frozenset({"F2"})]["window_months"] == 15
    assert by_practices[frozenset({"E1"})]["systolic_max"] == 138.0
    assert "BP002" in plan and plan["BP002"].local == ()  # untouched definitions run London values only


def test_local_definition_applies_only_in_its_borough(layered):
    plan = {p.definition_id: p for p in layered.plan([CAMDEN_A, LAMBETH])}
    local = plan["BP002_U45"]
    assert local.default is None
    assert [v.practices for v in local.variants] == [frozenset({"G1"})]
    assert local.variants[0].bound.params["min_age"] == 30
    assert layered.explain("BP002_U45", LAMBETH).applies
    assert not layered.explain("BP002_U45", CAMDEN_A).applies


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("[parameters.HYP999]\nsystolic_max = 1\n", NotFound),
        ("[parameters.HYP008]\nsystolic = 1\n", InvalidInput),
        ("[parameters.HYP008]\nwindow_months = 12.5\n", InvalidInput),
        ("[parameters.HYP008]\nsystolic_max = 'high'\n", InvalidInput),
        ("[settings]\nx = 1\n", InvalidInput),
        ("[parameters.HYP008\n", InvalidInput),
        ('[[local]]\nid = "HYP008"\nbased_on = "HYP009"\n', InvalidInput),
        ('[[local]]\nid = "X1"\nbased_on = "NOPE"\n', NotFound),
    ],
)
def test_mistakes_in_override_files_fail_loudly(tmp_path, text, error):
    write(tmp_path, "practice", "F1", text)
    with pytest.raises(error):
        load_library([tmp_path])

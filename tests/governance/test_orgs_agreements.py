"""The organisation tree mirrored from the store, and agreements walking it."""

from __future__ import annotations

import datetime as dt

import pytest

from carecommons.core.errors import AccessDenied, InvalidInput, NotFound
from carecommons.governance import orgs
from carecommons.governance.agreements import Flow, add_agreement, covered_practices, require_flow
from carecommons.governance.purposes import Purpose
from carecommons.store.models.governance import Organisation


def test_sync_builds_the_london_tree_and_is_idempotent(session, store):
    store.execute(
        "INSERT INTO hospital_records (record_id, trust_code, load_id) VALUES ('h1', 'RAL', 'L'), ('h2', 'RAL', 'L')"
    )
    n = orgs.sync_from_store(session, store)
    # london, 2 ICBs, 2 boroughs, 2 local authorities, 2 PCNs, 3 practices, 1 trust
    assert n == 13
    assert orgs.sync_from_store(session, store) == 13
    assert session.query(Organisation).count() == 13
    assert orgs.ancestors(session, "RAL") == ["RAL", "london"]
    assert orgs.ancestors(session, "A2") == ["A2", "PCN-A", "borough:Alpha", "icb:NCL", "london"]
    assert orgs.ancestors(session, "la:Beta") == ["la:Beta", "borough:Beta", "icb:SEL", "london"]
    assert orgs.practices_under(session, "borough:Alpha") == ["A1", "A2"]
    assert orgs.practices_under(session, "london") == ["A1", "A2", "B1"]
    assert orgs.practices_under(session, "nowhere") == []
    assert session.get(Organisation, "icb:NCL").name == "North Central London"


def test_org_ids_for_each_level():
    assert orgs.org_id("practice", "E83003") == "E83003"
    assert orgs.org_id("borough", "Barnet") == "borough:Barnet"
    assert orgs.org_id("icb", "NCL") == "icb:NCL"
    assert orgs.org_id("london") == "london"
    assert orgs.org_id("local_authority", "Barnet") == "la:Barnet"


@pytest.fixture
def tree(session, store):
    orgs.sync_from_store(session, store)
    return session


def test_agreement_from_a_borough_covers_its_practices_for_orgs_under_the_recipient(tree):
    add_agreement(
        tree,
        "Alpha MDT",
        "borough:Alpha",
        "borough:Alpha",
        [Purpose.DIRECT_CARE],
        [Flow.GP_TO_MDT, "social_care->direct_care"],
        valid_from=dt.date(2026, 1, 1),
    )
    on = dt.date(2026, 6, 1)
    assert require_flow(tree, "A1", "la:Alpha", Purpose.DIRECT_CARE, Flow.GP_TO_MDT, on).name == "Alpha MDT"
    assert covered_practices(tree, "PCN-A", Purpose.DIRECT_CARE, Flow.GP_TO_MDT, on) == ["A1", "A2"]
    with pytest.raises(AccessDenied) as info:
        require_flow(tree, "B1", "la:Alpha", Purpose.DIRECT_CARE, Flow.GP_TO_MDT, on)
    assert "no agreement" in info.value.problem and "information-governance" in info.value.fix
    with pytest.raises(AccessDenied):
        require_flow(tree, "A1", "la:Alpha", Purpose.PLANNING, Flow.GP_TO_PLANNING, on)
    with pytest.raises(AccessDenied):  # before the agreement started
        require_flow(tree, "A1", "la:Alpha", Purpose.DIRECT_CARE, Flow.GP_TO_MDT, dt.date(2025, 12, 31))
    assert covered_practices(tree, "la:Beta", Purpose.DIRECT_CARE, Flow.GP_TO_MDT, on) == []


def test_bad_agreements_are_refused(tree):
    with pytest.raises(NotFound):
        add_agreement(tree, "x", "nowhere", "london", [Purpose.PLANNING], [Flow.GP_TO_PLANNING], dt.date(2026, 1, 1))
    with pytest.raises(InvalidInput):
        add_agreement(tree, "x", "london", "london", [Purpose.PLANNING], ["gp->moon"], dt.date(2026, 1, 1))
    with pytest.raises(InvalidInput):
        add_agreement(
            tree,
            "x",
            "london",
            "london",
            [Purpose.PLANNING],
            [Flow.GP_TO_PLANNING],
            dt.date(2026, 1, 1),
            dt.date(2025, 1, 1),
        )

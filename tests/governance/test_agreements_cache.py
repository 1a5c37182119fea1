"""The organisation tree behind agreement checks is held per process; the decisions must stay those of a fresh
walk of the operational DB, and any change to agreements or organisations must take effect at once."""

from __future__ import annotations

import datetime as dt

import pytest

from carecommons.core.errors import AccessDenied
from carecommons.governance import agreements, orgs
from carecommons.governance.agreements import Flow, add_agreement, covered_practices, require_flow
from carecommons.governance.purposes import Purpose
from carecommons.store.models.governance import Organisation

ON = dt.date(2026, 6, 1)


@pytest.fixture
def tree(session, store):
    orgs.sync_from_store(session, store)
    return session


def test_cached_walk_equals_the_database_walk(tree):
    every = [o.org_id for o in tree.query(Organisation)]
    cached = agreements._org_tree(tree)
    for org in [*every, "nowhere"]:
        assert cached.ancestors(org) == orgs.ancestors(tree, org)
        assert cached.practices_under(org) == orgs.practices_under(tree, org)
    assert agreements._org_tree(tree) is cached  # the second check reads no tree


def test_a_new_agreement_takes_effect_at_once(tree):
    assert covered_practices(tree, "PCN-A", Purpose.PLANNING, Flow.GP_TO_PLANNING, ON) == []
    add_agreement(
        tree, "Alpha planning", "borough:Alpha", "borough:Alpha", [Purpose.PLANNING], [Flow.GP_TO_PLANNING], ON
    )
    assert covered_practices(tree, "PCN-A", Purpose.PLANNING, Flow.GP_TO_PLANNING, ON) == ["A1", "A2"]
    agreement = require_flow(tree, "A2", "PCN-A", Purpose.PLANNING, Flow.GP_TO_PLANNING, ON)
    agreement.valid_to = ON - dt.timedelta(days=1)  # ended: refused on the next check
    tree.flush()
    with pytest.raises(AccessDenied):
        require_flow(tree, "A2", "PCN-A", Purpose.PLANNING, Flow.GP_TO_PLANNING, ON)
    assert covered_practices(tree, "PCN-A", Purpose.PLANNING, Flow.GP_TO_PLANNING, ON) == []


def test_organisation_changes_reach_the_next_check(tree):
    add_agreement(tree, "Alpha planning", "PCN-A", "london", [Purpose.PLANNING], [Flow.GP_TO_PLANNING], ON)
    assert covered_practices(tree, "london", Purpose.PLANNING, Flow.GP_TO_PLANNING, ON) == ["A1", "A2"]
    # A new practice under PCN-A, and a practice moved out of it with an id of the same length.
    orgs.upsert(tree, "A3", "New practice", "practice", "PCN-A")
    tree.flush()
    assert covered_practices(tree, "london", Purpose.PLANNING, Flow.GP_TO_PLANNING, ON) == ["A1", "A2", "A3"]
    tree.get(Organisation, "A1").parent_id = "PCN-B"
    tree.flush()
    assert covered_practices(tree, "london", Purpose.PLANNING, Flow.GP_TO_PLANNING, ON) == ["A2", "A3"]


def test_another_process_changing_organisations_is_seen_through_the_fingerprint(tree, monkeypatch):
    """Writes that bypass this process's ORM (another worker, SQL) change the fingerprint."""
    first = agreements._org_tree(tree)
    tree.execute(
        Organisation.__table__.insert().values(org_id="B2", name="Elsewhere", org_type="practice", parent_id="PCN-B")
    )
    second = agreements._org_tree(tree)
    assert second is not first and "B2" in second.practices_under("PCN-B")
    # Even an unchanged fingerprint is re-read once the tree is older than the limit.
    monkeypatch.setattr(agreements, "ORG_TREE_MAX_AGE_SECONDS", 0.0)
    assert agreements._org_tree(tree) is not second

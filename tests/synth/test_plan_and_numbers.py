"""Planning at every scale, and NHS numbers beyond the first reserved block."""

from __future__ import annotations

import numpy as np

from carecommons.core.nhs_number import is_valid
from carecommons.reference.organisations import london_practices
from carecommons.synth.nhs import corrupt_check_digit, nhs_numbers
from carecommons.synth.plan import make_plan
from synth.helpers import EXTRACT


def test_whole_london_plan_uses_every_practice_in_proportion():
    plan = make_plan(10_700_000, 1, EXTRACT)
    assert not plan.subset
    assert sum(s.n_patients for s in plan.practices) == 10_700_000
    practices = london_practices().set_index("practice_id")
    n = np.array([s.n_patients for s in plan.practices])
    lists = practices.loc[[s.practice_id for s in plan.practices], "list_size"].to_numpy()
    # Every practice gets its list share of the total, up to rounding to whole patients (0.1% above 5,000).
    ratio = n / (lists * 10_700_000 / lists.sum())
    assert np.all(np.abs(ratio[lists > 5000] - 1) < 0.001)
    assert np.all(np.abs(np.round(lists * 10_700_000 / lists.sum()) - n) <= 1)
    starts = [s.first_patient for s in plan.practices]
    assert starts == sorted(starts) and starts[0] == 0


def test_small_plan_is_a_seeded_subset_covering_every_borough():
    a, b, c = make_plan(5000, 1, EXTRACT), make_plan(5000, 1, EXTRACT), make_plan(5000, 2, EXTRACT)
    assert a.subset and len({s.borough for s in a.practices}) == 33
    assert [s.practice_id for s in a.practices] == [s.practice_id for s in b.practices]
    assert [s.practice_id for s in a.practices] != [s.practice_id for s in c.practices]
    assert sum(s.n_patients for s in a.practices) == 5000


def test_nhs_numbers_continue_into_the_next_unissued_block():
    first = nhs_numbers(3, 900_000, 20_000)  # crosses from the 999 block into 998
    assert len(set(first)) == len(first)
    text = [str(x) for x in first]
    assert all(is_valid(t) for t in text)
    assert {t[:3] for t in text} == {"999", "998"}
    assert not any(is_valid(str(x)) for x in corrupt_check_digit(first))

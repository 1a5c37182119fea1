"""The language is typed: nonsense trees are refused when they are built, with an actionable message."""

from __future__ import annotations

import datetime as dt

import pytest

from carecommons.core.errors import InvalidInput
from carecommons.definitions.definition import Definition, Kind, Parameter
from carecommons.definitions.model import IndexDate, Lit, Param, T, age, case, events, sex
from carecommons.definitions.plan import check_id
from carecommons.definitions.render import render


def test_type_errors_are_caught_at_construction():
    with pytest.raises(InvalidInput, match="cannot compare"):
        _ = events("x").last_date() > 5
    with pytest.raises(InvalidInput, match="not bool"):
        _ = events("x").count() & events("y").exists()
    with pytest.raises(InvalidInput, match="tie-break"):
        events("x").last_value(tie="first")
    with pytest.raises(InvalidInput, match="unknown table"):
        from carecommons.definitions.model import Frame

        Frame("appointments", "x")
    with pytest.raises(InvalidInput, match="different types"):
        case((age() < 5, "young"), default=3)
    with pytest.raises(InvalidInput, match="NULL needs a type"):
        Lit(None)


def test_parameters_must_be_declared_and_bind_with_their_types():
    tree = events("bp").within(months=Param("m", T.INT)).last_value() <= Param("limit")
    with pytest.raises(InvalidInput, match="does not declare"):
        Definition("X1", "1", "t", "d", Kind.INDICATOR, numerator=tree)
    d = Definition(
        "X1", "1", "t", "d", Kind.INDICATOR, numerator=tree, parameters=(Parameter("m", 12), Parameter("limit", 140.0))
    )
    bound = d.bound({"limit": 135})
    assert bound.numerator.right == Lit(135.0)  # an int override of a float threshold stays a float
    assert bound.numerator.left.frame.window.start_months == 12
    with pytest.raises(InvalidInput, match="unknown parameter"):
        d.bound({"limmit": 1})


def test_ids_become_safe_column_names():
    assert check_id("HYP008") == "HYP008"
    for bad in ("hyp008", "HYP-008", "1HYP", "DROP TABLE"):
        with pytest.raises(InvalidInput):
            check_id(bad)


def test_render_reads_like_the_rule():
    text = render((age() >= Param("min_age", T.INT)) & events("bp").within(months=60).exists())
    assert (
        text == "age >= {min_age} AND exists(bp in events, after 60 months before the index date, up to the index date)"
    )
    assert render(sex().eq("F") | (events("a").last_date() > IndexDate(months=3))).startswith("sex = 'F' OR ")
    assert render(Lit(dt.date(2006, 4, 1))) == "2006-04-01"

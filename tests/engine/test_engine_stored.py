"""A run's compact rows (engine.stored) decode to exactly the compiled query's den/num/exc/value columns.

The run keeps one flags byte per definition, plus a value column only for definitions that compute one; these
tests decode the stored rows with the same expressions the results writers use and compare them with the
plain compiled output, for the London library (no own values) plus a variable with a value expression, at one
index date and over a 24-month series.
"""

from __future__ import annotations

import pytest
from engine_store import INDEX

from carecommons.core.dates import month_ends
from carecommons.definitions.definition import Definition, Kind
from carecommons.definitions.model import events
from carecommons.definitions.plan import BASE_COLUMNS, Planned, Variant
from carecommons.engine import stored
from carecommons.engine.backends import duckdb_materialise, duckdb_rows
from carecommons.engine.compiler import compile_plan
from carecommons.engine.runner import practice_chains


def _with_variable(library, con) -> list[Planned]:
    bmi = Definition(
        "BMI_LAST",
        "1",
        "Last BMI in 24 months",
        "a variable with a value of its own",
        Kind.VARIABLE,
        numerator=events("bmi").within(months=24).exists(),
        value=events("bmi").within(months=24).last_value(),
    )
    return [*library.plan(practice_chains(con)), Planned(bmi.id, "1", bmi.kind, (Variant(bmi.bound()),))]


@pytest.mark.parametrize("months", [1, 24])
def test_stored_rows_decode_to_the_compiled_columns(store, library, months):
    plan = _with_variable(library, store)
    compiled = compile_plan(plan, library.codes(), month_ends(INDEX, months), "duckdb")
    expected = {(r["patient_id"], r["index_date"]): r for r in duckdb_rows(store, compiled)}
    n = duckdb_materialise(store, compiled, "t_stored", wrap=lambda sql: stored.stored_query(plan, sql))
    assert n == len(expected) > 400

    decoded = (
        ", ".join(f"{stored.flag(p, s)} AS {p.column}_{s}" for p in plan for s in ("den", "num", "exc"))
        + ", "
        + ", ".join(f"{stored.value(p)} AS {p.column}_value" for p in plan)
    )
    cur = store.execute(f"SELECT {', '.join(BASE_COLUMNS)}, {decoded} FROM t_stored")
    names = [d[0] for d in cur.description]
    got = {(r[0], r[1]): dict(zip(names, r, strict=True)) for r in cur.fetchall()}
    assert got.keys() == expected.keys()
    for key, row in expected.items():
        for col, want in row.items():
            assert got[key][col] == want, (key, col)
    # the variable really has values, and the library's value columns were not stored
    assert any(r["bmi_last_value"] is not None and r["bmi_last_value"] not in (0.0, 1.0) for r in expected.values())
    columns = {d[0] for d in store.execute("SELECT * FROM t_stored LIMIT 0").description}
    assert "bmi_last_value" in columns
    assert not any(c.endswith("_value") and c != "bmi_last_value" for c in columns)


def test_flags_pack_into_one_byte_per_definition(store, library):
    plan = library.plan(practice_chains(store))
    select = stored.stored_select(plan)
    assert select.count("UTINYINT") == len(plan)
    assert not stored.has_own_value(plan[0])

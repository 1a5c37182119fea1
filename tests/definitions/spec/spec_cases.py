"""The language specification as tiny tables: each case is patients, an expression and the values it must give.

Read top to bottom, these cases document the language (windows, aggregations, tie-break, NULL logic,
population, ages, registration, parameters and local variants). Every case runs on the reference
evaluator, DuckDB, PostgreSQL and Spark (tests/definitions/spec/test_spec.py) and must agree everywhere.

Expected values are written by hand from the semantics in carecommons.definitions.model: 1.0/0.0 for
conditions, numbers for values, None for NULL; a patient missing from `expected` must be outside the
population at that date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from carecommons.definitions.definition import Definition, Kind, Parameter
from carecommons.definitions.model import (
    Expr,
    IndexDate,
    Param,
    T,
    age,
    case,
    events,
    medications,
    registered_for,
    registration_start,
    sex,
    vaccinations,
)


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


#: Codelists every case may use (codes need not be real SNOMED CT here: the language does not care).
CODELISTS = {
    "dx": frozenset({"DX1", "DX2"}),
    "res": frozenset({"RES"}),
    "bp": frozenset({"BP"}),
    "med": frozenset({"MED"}),
    "vac": frozenset({"VAC"}),
}

DX = events("dx")
BP = events("bp")


@dataclass
class Case:
    name: str
    value: Expr
    index_dates: list[dt.date]
    # patient_id -> (date_of_birth, sex); everyone registered at P1 from 2000-01-01 unless `registrations` says
    patients: dict[int, tuple[str, str]]
    events: list[tuple[int, str, str, float | None]] = field(default_factory=list)  # (pid, code, date, value)
    expected: dict[tuple[int, str], float | None] = field(default_factory=dict)
    registrations: list[tuple[int, str, str, str | None]] | None = None  # (pid, practice, start, end)
    deaths: dict[int, str] = field(default_factory=dict)
    medications: list[tuple[int, str, str]] = field(default_factory=list)
    vaccinations: list[tuple[int, str, str]] = field(default_factory=list)
    parameters: tuple[Parameter, ...] = ()
    local_params: dict[str, dict[str, float | int]] = field(default_factory=dict)  # practice -> overrides

    def definition(self, def_id: str) -> Definition:
        return Definition(
            id=def_id,
            version="1",
            title=self.name,
            description=self.name,
            kind=Kind.VARIABLE,
            numerator=DX.exists(),
            value=self.value,
            parameters=self.parameters,
        )


I = "2024-03-31"  # noqa: E741 - the index date most cases use
ADULT = ("1970-06-15", "F")

CASES: list[Case] = [
    Case(
        "exists: window (index - 12 months, index], start exclusive, end inclusive",
        DX.within(months=12).exists(),
        [d(I)],
        {1: ADULT, 2: ADULT, 3: ADULT, 4: ADULT, 5: ADULT, 6: ADULT},
        [
            (1, "DX1", "2024-01-10", None),
            (2, "DX2", "2022-01-01", None),
            (4, "DX1", "2023-03-31", None),  # exactly 12 months before: outside
            (5, "DX1", "2024-03-31", None),  # on the index date: inside
            (6, "DX1", "2024-04-01", None),  # after the index date: never counted
        ],
        {(1, I): 1.0, (2, I): 0.0, (3, I): 0.0, (4, I): 0.0, (5, I): 1.0, (6, I): 0.0},
    ),
    Case(
        "exists with no window looks at the whole record up to the index date",
        DX.exists(),
        [d(I)],
        {1: ADULT, 2: ADULT},
        [(1, "DX1", "1990-01-01", None), (2, "DX1", "2024-05-01", None)],
        {(1, I): 1.0, (2, I): 0.0},
    ),
    Case(
        "count counts events, including several on one day; 0 when none",
        DX.count(),
        [d(I)],
        {1: ADULT, 2: ADULT},
        [(1, "DX1", "2020-01-01", None), (1, "DX2", "2020-01-01", None), (1, "DX1", "2021-01-01", None)],
        {(1, I): 3.0, (2, I): 0.0},
    ),
    Case(
        "last_value: lowest value on the latest day (tie='min', the QOF rule for blood pressure)",
        BP.last_value(),
        [d(I)],
        {1: ADULT, 2: ADULT, 3: ADULT},
        [
            (1, "BP", "2023-05-01", 120.0),
            (1, "BP", "2024-02-01", 150.0),
            (1, "BP", "2024-02-01", 135.0),
            (2, "BP", "2023-01-01", 128.0),
        ],
        {(1, I): 135.0, (2, I): 128.0, (3, I): None},
    ),
    Case(
        "last_value(tie='max') takes the highest value on the latest day",
        BP.last_value(tie="max"),
        [d(I)],
        {1: ADULT},
        [(1, "BP", "2024-02-01", 150.0), (1, "BP", "2024-02-01", 135.0), (1, "BP", "2023-01-01", 170.0)],
        {(1, I): 150.0},
    ),
    Case(
        "value aggregations skip events without a value",
        BP.last_value(),
        [d(I)],
        {1: ADULT},
        [(1, "BP", "2024-03-01", None), (1, "BP", "2024-01-01", 141.0)],
        {(1, I): 141.0},
    ),
    Case(
        "first_value takes the earliest valued day (tie='min')",
        BP.first_value(),
        [d(I)],
        {1: ADULT},
        [(1, "BP", "2019-01-01", 160.0), (1, "BP", "2019-01-01", 155.0), (1, "BP", "2020-01-01", 110.0)],
        {(1, I): 155.0},
    ),
    Case(
        "min_value and max_value inside a window",
        BP.within(months=24).max_value(),
        [d(I)],
        {1: ADULT},
        [(1, "BP", "2021-01-01", 200.0), (1, "BP", "2023-01-01", 150.0), (1, "BP", "2024-01-01", 120.0)],
        {(1, I): 150.0},
    ),
    Case(
        "min_value",
        BP.min_value(),
        [d(I)],
        {1: ADULT},
        [(1, "BP", "2021-01-01", 200.0), (1, "BP", "2023-01-01", 150.0), (1, "BP", "2025-01-01", 90.0)],
        {(1, I): 150.0},
    ),
    Case(
        "first_date and last_date compare with dates",
        (DX.first_date().eq(d("2010-05-05"))) & (DX.last_date() > d("2020-01-01")),
        [d(I)],
        {1: ADULT, 2: ADULT},
        [(1, "DX1", "2010-05-05", None), (1, "DX2", "2022-02-02", None), (2, "DX1", "2010-05-05", None)],
        {(1, I): 1.0, (2, I): 0.0},
    ),
    Case(
        "resolved codes: diagnosis counts unless a later resolved code exists (same day keeps it)",
        DX.exists() & (events("res").last_date().is_null() | (DX.last_date() >= events("res").last_date())),
        [d(I)],
        {1: ADULT, 2: ADULT, 3: ADULT, 4: ADULT},
        [
            (1, "DX1", "2015-01-01", None),
            (2, "DX1", "2015-01-01", None),
            (2, "RES", "2016-01-01", None),
            (3, "DX1", "2015-01-01", None),
            (3, "RES", "2016-01-01", None),
            (3, "DX1", "2018-01-01", None),
            (4, "DX1", "2015-01-01", None),
            (4, "RES", "2015-01-01", None),
        ],
        {(1, I): 1.0, (2, I): 0.0, (3, I): 1.0, (4, I): 1.0},
    ),
    Case(
        "NULL logic: a comparison with no reading is NULL; OR with TRUE is TRUE; NOT NULL is NULL",
        (BP.last_value() <= 140) | DX.exists(),
        [d(I)],
        {1: ADULT, 2: ADULT, 3: ADULT},
        [(2, "DX1", "2020-01-01", None), (3, "BP", "2024-01-01", 150.0)],
        {(1, I): None, (2, I): 1.0, (3, I): 0.0},
    ),
    Case(
        "NOT of NULL stays NULL",
        ~(BP.last_value() <= 140),
        [d(I)],
        {1: ADULT, 2: ADULT},
        [(2, "BP", "2024-01-01", 150.0)],
        {(1, I): None, (2, I): 1.0},
    ),
    Case(
        "AND with FALSE is FALSE even when the other side is NULL",
        (BP.last_value() <= 140) & DX.exists(),
        [d(I)],
        {1: ADULT, 2: ADULT},
        [(2, "DX1", "2020-01-01", None)],
        {(1, I): 0.0, (2, I): None},
    ),
    Case(
        "age in whole years at the index date, birthdays and 29 February",
        age(),
        [d("2024-02-28"), d("2025-03-01")],
        {1: ("2000-02-29", "M"), 2: ("1950-02-28", "F")},
        [],
        {(1, "2024-02-28"): 23.0, (1, "2025-03-01"): 25.0, (2, "2024-02-28"): 74.0, (2, "2025-03-01"): 75.0},
    ),
    Case(
        "case bands: first TRUE branch wins, default otherwise",
        case((age() < 18, 0), (age() < 65, 1), default=2),
        [d(I)],
        {1: ("2010-01-01", "F"), 2: ("1980-01-01", "M"), 3: ("1959-03-31", "F"), 4: ("1959-04-01", "M")},
        [],
        {(1, I): 0.0, (2, I): 1.0, (3, I): 2.0, (4, I): 1.0},
    ),
    Case(
        "sex compares as text",
        sex().eq("F"),
        [d(I)],
        {1: ("1980-01-01", "F"), 2: ("1980-01-01", "M")},
        [],
        {(1, I): 1.0, (2, I): 0.0},
    ),
    Case(
        "population: registered on the index date (end date inclusive) and alive; latest spell wins",
        registration_start().eq(d("2020-01-01")),
        [d(I)],
        {1: ADULT, 2: ADULT, 3: ADULT, 4: ADULT, 5: ADULT, 6: ADULT},
        [],
        {(1, I): 1.0, (3, I): 1.0, (6, I): 0.0},
        registrations=[
            (1, "P1", "2020-01-01", None),
            (2, "P1", "2024-04-01", None),  # registers after the index date: not in the population
            (3, "P1", "2020-01-01", "2024-03-31"),  # leaves on the index date: still registered
            (4, "P1", "2020-01-01", "2024-03-30"),  # left the day before
            (5, "P1", "2020-01-01", None),  # died on the index date
            (6, "P1", "2010-01-01", None),
            (6, "P2", "2015-06-01", None),  # overlapping spells: the latest start is the one used
        ],
        deaths={5: "2024-03-31"},
    ),
    Case(
        "registered_for(months): current registration started at least that long before",
        registered_for(3),
        [d(I)],
        {1: ADULT, 2: ADULT, 3: ADULT},
        [],
        {(1, I): 1.0, (2, I): 0.0, (3, I): 1.0},
        registrations=[(1, "P1", "2023-12-31", None), (2, "P1", "2024-01-01", None), (3, "P1", "2000-01-01", None)],
    ),
    Case(
        "IndexDate(months=...) shifts back with month-end clamping (31 May - 3 months = 28/29 Feb)",
        DX.last_date() > IndexDate(months=3),
        [d("2024-05-31")],
        {1: ADULT, 2: ADULT},
        [(1, "DX1", "2024-03-01", None), (2, "DX1", "2024-02-29", None)],
        {(1, "2024-05-31"): 1.0, (2, "2024-05-31"): 0.0},
    ),
    Case(
        "a time series: the same window at several index dates",
        DX.within(months=3).count(),
        [d("2024-01-31"), d("2024-02-29"), d("2024-03-31"), d("2024-04-30")],
        {1: ADULT},
        [(1, "DX1", "2023-12-15", None), (1, "DX1", "2024-02-10", None), (1, "DX2", "2024-04-30", None)],
        {(1, "2024-01-31"): 1.0, (1, "2024-02-29"): 2.0, (1, "2024-03-31"): 1.0, (1, "2024-04-30"): 2.0},
    ),
    Case(
        "windows in days and between two offsets",
        events("dx").between(12, 6).exists() & events("bp").within(days=30).exists(),
        [d(I)],
        {1: ADULT, 2: ADULT},
        [
            (1, "DX1", "2023-06-01", None),
            (1, "BP", "2024-03-10", 120.0),
            (2, "DX1", "2023-12-01", None),
            (2, "BP", "2024-03-10", 120.0),
        ],
        {(1, I): 1.0, (2, I): 0.0},
    ),
    Case(
        "medication and vaccination frames read their own tables",
        medications("med").within(months=6).exists() & vaccinations("vac").exists(),
        [d(I)],
        {1: ADULT, 2: ADULT},
        [],
        {(1, I): 1.0, (2, I): 0.0},
        medications=[(1, "MED", "2024-01-01"), (2, "MED", "2023-01-01")],
        vaccinations=[(1, "VAC", "2023-10-01"), (2, "VAC", "2023-10-01")],
    ),
    Case(
        "named parameters, with a local variant for practice P2",
        BP.within(months=Param("months", T.INT)).last_value() <= Param("limit"),
        [d(I)],
        {1: ADULT, 2: ADULT},
        [(1, "BP", "2024-01-01", 138.0), (2, "BP", "2024-01-01", 138.0)],
        {(1, I): 1.0, (2, I): 0.0},
        registrations=[(1, "P1", "2000-01-01", None), (2, "P2", "2000-01-01", None)],
        parameters=(Parameter("limit", 140.0), Parameter("months", 12)),
        local_params={"P2": {"limit": 135.0}},
    ),
]

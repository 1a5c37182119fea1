"""Hypothesis strategy for tiny random record stores, shared by the definitions and engine property tests.

Both compare an engine with the reference evaluator on the same kind of data (a few patients, one or two
registrations each, coded events with values, prescriptions), so they draw from one strategy and differ only
in its sizes.
"""

from __future__ import annotations

import datetime as dt

from hypothesis import strategies as st

DAY0 = dt.date(2021, 1, 1)


@st.composite
def records(
    draw, max_patients: int = 8, max_value: int = 8, min_events: int = 2, ordered_registrations: bool = True
) -> dict[str, list[dict]]:
    """`ordered_registrations` swaps a drawn end date that falls before its start; False keeps such rows."""
    n = draw(st.integers(1, max_patients))
    day = st.integers(300, 1150).map(lambda x: DAY0 + dt.timedelta(days=x))
    value = st.integers(-2, max_value).map(lambda v: None if v < 0 else float(100 + 10 * v))
    tables: dict[str, list[dict]] = {"patients": [], "registrations": [], "events": [], "medications": []}
    for pid in range(1, n + 1):
        dob = dt.date(draw(st.integers(1930, 2020)), draw(st.integers(1, 12)), draw(st.integers(1, 28)))
        death = draw(st.one_of(st.none(), st.none(), day))
        tables["patients"].append({"patient_id": pid, "date_of_birth": dob, "sex": "F", "date_of_death": death})
        for _ in range(draw(st.integers(1, 2))):
            start = draw(day) - dt.timedelta(days=800)
            end = draw(st.one_of(st.none(), day))
            if ordered_registrations and end is not None and end < start:
                start, end = end, start
            practice = draw(st.sampled_from(["P1", "P2"]))
            tables["registrations"].append(
                {"patient_id": pid, "practice_id": practice, "start_date": start, "end_date": end}
            )
        for _ in range(draw(st.integers(min_events, 14))):
            code = draw(st.sampled_from(["A1", "A2", "B1", "B1", "Z9"]))
            tables["events"].append({"patient_id": pid, "code": code, "date": draw(day), "value": draw(value)})
        for _ in range(draw(st.integers(0, 3))):
            tables["medications"].append(
                {"patient_id": pid, "code": draw(st.sampled_from(["M1", "Z9"])), "date": draw(day)}
            )
    return tables

"""Reading results per purpose: patient-level for direct care, disclosure-controlled aggregates for planning.

`carecommons run` is a platform job; nobody reads its tables directly. These two functions are the only
readers, and both start from governance:

* ``patient_results``: rows of results_patient restricted to governance.cohort.allowed_patients (legitimate
  relationship), every returned patient audited with governance.audit.record.
* ``aggregates``: counts recomputed from the per-patient results of the patients the planning requester may
  use (Type 1 and National Data Opt-outs, and choices made in the platform, take effect at once), rolled up
  from the requested level to London so secondary suppression sees the parents, then passed through
  governance.disclosure.publish; only published figures are returned.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence

import duckdb
import pandas as pd
from sqlalchemy.orm import Session

from carecommons.core.errors import AccessDenied, InvalidInput, NotFound
from carecommons.core.orgs import OrgLevel
from carecommons.engine.runner import BREAKDOWNS, create_results_tables
from carecommons.governance import audit
from carecommons.governance.cohort import allowed_patients
from carecommons.governance.disclosure import Hierarchy, publish
from carecommons.governance.purposes import Purpose, Requester

#: Roll-up order, coarse to fine (the practices table columns).
_ROLLUP = ("icb", "borough", "pcn_id", "practice_id")


def _latest(con: duckdb.DuckDBPyConnection, definition_id: str) -> tuple[str, str, str, list[dt.date]]:
    """(run_id, snapshot_id, kind, index dates) of the newest run that computed `definition_id`."""
    for run_id, snap, defs, kinds, dates in con.execute(
        "SELECT run_id, snapshot_id, definitions, kinds, index_dates FROM results_runs ORDER BY finished_at DESC"
    ).fetchall():
        if definition_id in json.loads(defs):
            return run_id, snap, json.loads(kinds)[definition_id], [dt.date.fromisoformat(d) for d in json.loads(dates)]
    raise NotFound(definition_id, "no results for this definition", "run `carecommons run` first")


def patient_results(
    con: duckdb.DuckDBPyConnection,
    session: Session,
    requester: Requester,
    practice_id: str | None = None,
    patient_ids: Sequence[int] | None = None,
    definition_ids: Sequence[str] | None = None,
    index_date: dt.date | None = None,
) -> pd.DataFrame:
    """Per-patient results (newest run per definition; its latest index date unless `index_date`) for the
    patients this requester may see. Every patient returned is audited; none is returned without audit."""
    create_results_tables(con)
    allowed = allowed_patients(con, requester, session)
    ids = (
        list(definition_ids)
        if definition_ids is not None
        else [r[0] for r in con.execute("SELECT DISTINCT definition_id FROM results_patient ORDER BY 1").fetchall()]
    )
    frames = []
    for def_id in ids:
        try:
            _run, snap, _kind, dates = _latest(con, def_id)
        except NotFound:
            continue
        when = index_date or max(dates)
        sql = (
            f"SELECT r.patient_id, r.practice_id, r.definition_id, r.definition_version, r.snapshot_id, "
            f"r.index_date, r.den, r.num, r.exc, r.value FROM results_patient AS r "
            f"JOIN {allowed} AS a ON a.patient_id = r.patient_id "
            "WHERE r.definition_id = ? AND r.snapshot_id = ? AND r.index_date = ?"
        )
        params: list[object] = [def_id, snap, when]
        if practice_id is not None:
            sql += " AND r.practice_id = ?"
            params.append(practice_id)
        if patient_ids is not None:
            sql += " AND r.patient_id IN (SELECT UNNEST(?::BIGINT[]))"
            params.append([int(p) for p in patient_ids])
        frames.append(con.execute(sql, params).df())
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    seen = sorted({int(p) for p in out["patient_id"]}) if len(out) else []
    audit.record(
        session,
        requester,
        "engine.patient_results",
        patient_ids=seen,
        detail=f"definitions={len(ids)}; rows={len(out)}",
    )
    return out.sort_values(["patient_id", "definition_id"]).reset_index(drop=True) if len(out) else out


def aggregates(
    con: duckdb.DuckDBPyConnection,
    session: Session,
    requester: Requester,
    definition_id: str,
    level: OrgLevel,
    breakdown: str | None = None,
    index_date: dt.date | None = None,
) -> pd.DataFrame:
    """Published counts (denominator, numerator, exclusions) of one definition per organisation at `level`,
    optionally by `breakdown` (age_band, sex, ethnicity_6, imd_quintile), for one index date (default: the
    run's latest) or every index date of the run when ``index_date`` is ``"all"``."""
    if Purpose(requester.purpose) is Purpose.DIRECT_CARE:
        raise AccessDenied(
            "purpose", "aggregates are for planning and research", "ask with a planning or research purpose"
        )
    if breakdown not in BREAKDOWNS:
        raise InvalidInput("breakdown", f"{breakdown!r} is not a breakdown", f"use one of {BREAKDOWNS[1:]}")
    level = OrgLevel(level)
    create_results_tables(con)
    _run, snap, kind, dates = _latest(con, definition_id)
    wanted = dates if index_date == "all" else [index_date or max(dates)]
    allowed = allowed_patients(con, requester, session)
    frames = [_published(con, allowed, definition_id, snap, kind, d, level, breakdown) for d in wanted]
    audit.record(
        session,
        requester,
        "engine.aggregates",
        detail=f"{definition_id} level={level.value} breakdown={breakdown} dates={len(wanted)}",
    )
    return pd.concat(frames, ignore_index=True)


def _published(con, allowed: str, def_id: str, snap: str, kind: str, when: dt.date, level: OrgLevel, breakdown):
    depth = len(_ROLLUP) if level == OrgLevel.LONDON else _ROLLUP.index(level.value) + 1
    org_cols = list(_ROLLUP[:depth]) if level != OrgLevel.LONDON else []
    sets = []
    for k in range(len(org_cols) + 1):
        cols = org_cols[:k]
        sets.append("(" + ", ".join(cols) + ")")
        if breakdown:
            sets.append("(" + ", ".join([*cols, breakdown]) + ")")
    den = "1" if kind == "register" else "COALESCE(CAST(r.den AS INTEGER), 0)"
    bd_sel = f", CAST(p.{breakdown} AS VARCHAR) AS {breakdown}" if breakdown else ""
    select_orgs = ", ".join(org_cols)
    df = con.execute(
        f"""SELECT {select_orgs + ", " if org_cols else ""}{breakdown + ", " if breakdown else ""}
               SUM(den) AS denominator, SUM(num) AS numerator, SUM(exc) AS exclusions
        FROM (SELECT pr.icb, pr.borough, pr.pcn_id, pr.practice_id{bd_sel},
                     {den} AS den, COALESCE(CAST(r.num AS INTEGER), 0) AS num,
                     COALESCE(CAST(r.exc AS INTEGER), 0) AS exc
              FROM results_population AS p
              JOIN {allowed} AS a ON a.patient_id = p.patient_id
              JOIN practices AS pr ON pr.practice_id = p.practice_id
              LEFT JOIN results_patient AS r ON r.patient_id = p.patient_id AND r.index_date = p.index_date
                   AND r.definition_id = ? AND r.snapshot_id = p.snapshot_id
              WHERE p.snapshot_id = ? AND p.index_date = ?) AS x
        GROUP BY GROUPING SETS ({", ".join(sets)})""",
        [def_id, snap, when],
    ).df()
    if df.empty:
        return df
    counts = ["denominator", "numerator", "exclusions"]
    for c in counts:
        df[c] = df[c].astype("int64")
    safe = publish(df, counts, Hierarchy(levels=list(reversed(org_cols)), breakdowns=[breakdown] if breakdown else []))
    if org_cols:
        finest = org_cols[-1]
        safe = safe[safe[finest].notna()].copy()
        org_id = safe[finest]
    else:
        org_id = pd.Series(["London"] * len(safe), index=safe.index)
    result = pd.DataFrame(
        {
            "definition_id": def_id,
            "snapshot_id": snap,
            "index_date": when,
            "level": level.value,
            "org_id": org_id.astype(str),
            "breakdown": breakdown,
            "breakdown_value": safe[breakdown] if breakdown else None,
        }
    )
    for c in counts:
        result[c] = safe[c]
    return result.sort_values(["org_id", "breakdown_value"], na_position="first").reset_index(drop=True)

"""Data-quality report per practice: is this practice's record good enough to trust its indicators?

Measures (all computed from the store, per practice's committed GP extract):
- ethnicity completeness: % of patients with an ethnicity code recorded (any SNOMED CT ethnicity;
  "not stated" codes count as recorded, as in NHS England's ethnicity completeness figures);
- NHS number completeness: % of patients with a (valid) NHS number;
- BP recording: % of patients aged 45+ at the extract date with a blood pressure recorded in the
  5 years before it (NICE NG136 advises BP measurement at least every 5 years from age 40; the 45+
  window follows the QOF BP002 indicator). BP codes: NHS England PCD refset BP_COD (shipped);
- coding currency: days from the latest coded event to the extract date, and % of events dated in
  the 12 months before it (a practice whose coding stopped shows both at once);
- quarantine rate: % of received rows the extract had quarantined.
"""

from __future__ import annotations

import duckdb

from carecommons.reference.codelists import shipped

BP_CODELIST = "nhsd-primary-care-domain-refsets-bp_cod"

COLUMNS = (
    "practice_id",
    "extract_date",
    "patients",
    "ethnicity_recorded_pct",
    "nhs_number_pct",
    "patients_45_plus",
    "bp_recorded_5y_pct",
    "events",
    "events_last_12m_pct",
    "days_since_last_event",
    "received",
    "quarantined",
    "quarantined_pct",
)


def practice_quality(con: duckdb.DuckDBPyConnection, practice_id: str | None = None) -> list[dict]:
    """One dict per practice (keys in COLUMNS), ordered by practice_id; only aggregate figures.

    Works on a read-only connection: the BP codelist is passed as a list parameter, not a table.
    """
    bp_codes = sorted(shipped(BP_CODELIST).codes)
    where = "WHERE m.practice_id = $practice" if practice_id else ""
    params: dict[str, object] = {"bp": bp_codes}
    if practice_id:
        params["practice"] = practice_id
    sql = f"""
        WITH m AS (
            SELECT practice_id, load_id, any_value(extract_date) AS extract_date,
                sum(received) AS received, sum(quarantined) AS quarantined
            FROM load_manifest WHERE feed = 'gp' AND status = 'committed'
            GROUP BY practice_id, load_id
        ), p AS (
            SELECT m.practice_id, m.extract_date, pt.patient_id, pt.ethnicity_code, pt.nhs_number,
                date_diff('year', pt.date_of_birth, m.extract_date)
                  - CASE WHEN strftime(m.extract_date, '%m-%d') < strftime(pt.date_of_birth, '%m-%d') THEN 1 ELSE 0 END
                  AS age
            FROM m JOIN patients pt ON pt.load_id = m.load_id
        ), bp AS (
            SELECT DISTINCT e.patient_id, m.practice_id
            FROM m JOIN events e ON e.load_id = m.load_id
            WHERE list_contains($bp, e.code) AND e.date > m.extract_date - INTERVAL 5 YEAR
        ), ev AS (
            SELECT m.practice_id, count(*) AS events, max(e.date) AS last_date,
                count(*) FILTER (WHERE e.date > m.extract_date - INTERVAL 12 MONTH) AS recent
            FROM m JOIN events e ON e.load_id = m.load_id GROUP BY m.practice_id
        ), pp AS (
            SELECT p.practice_id, count(*) AS patients,
                count(*) FILTER (WHERE ethnicity_code IS NOT NULL) AS eth,
                count(*) FILTER (WHERE nhs_number IS NOT NULL) AS nhs,
                count(*) FILTER (WHERE age >= 45) AS over45,
                count(*) FILTER (WHERE age >= 45 AND bp.patient_id IS NOT NULL) AS over45_bp
            FROM p LEFT JOIN bp ON bp.patient_id = p.patient_id AND bp.practice_id = p.practice_id
            GROUP BY p.practice_id
        )
        SELECT m.practice_id, m.extract_date, coalesce(pp.patients, 0),
            round(100.0 * pp.eth / nullif(pp.patients, 0), 1),
            round(100.0 * pp.nhs / nullif(pp.patients, 0), 1),
            coalesce(pp.over45, 0),
            round(100.0 * pp.over45_bp / nullif(pp.over45, 0), 1),
            coalesce(ev.events, 0),
            round(100.0 * ev.recent / nullif(ev.events, 0), 1),
            date_diff('day', ev.last_date, m.extract_date),
            m.received, m.quarantined,
            round(100.0 * m.quarantined / nullif(m.received, 0), 2)
        FROM m LEFT JOIN pp ON pp.practice_id = m.practice_id LEFT JOIN ev ON ev.practice_id = m.practice_id
        {where}
        ORDER BY m.practice_id
    """
    rows = con.execute(sql, params).fetchall()
    out = []
    for r in rows:
        d = dict(zip(COLUMNS, r, strict=True))
        d["extract_date"] = d["extract_date"].isoformat() if d["extract_date"] else None
        for k in ("patients", "patients_45_plus", "events", "received", "quarantined"):
            d[k] = int(d[k]) if d[k] is not None else 0
        out.append(d)
    return out

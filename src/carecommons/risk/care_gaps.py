"""Care gaps: every indicator a patient fails, with the action that closes it.

Input is the engine's patient-level result (carecommons.engine: one row per patient and index date, with
`<definition id, lower case>_den`, `_num` and `_exc` columns of 0/1 per definition) and the definitions library
(anything with a `definitions` mapping of id -> Definition, e.g. carecommons.definitions.library.load_library()).
A patient has a gap in an indicator when they are in its denominator, not in its numerator and not excepted.
The same frame built by hand (or from another engine) works as long as it has those columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from carecommons.core.errors import InvalidInput

COLUMNS = ["patient_id", "indicator_id", "gap", "action"]

#: What closes each gap of the London library's indicators (QOF 2024/25 wording; NICE guidance named).
ACTIONS: dict[str, str] = {
    "HYP008": "Review blood pressure: recheck, and if still above 140/90 optimise treatment (NICE NG136)",
    "HYP009": "Review blood pressure: recheck, and if still above 150/90 optimise treatment (NICE NG136)",
    "BP002": "Invite for a blood pressure check",
    "DM020": "Diabetes review: HbA1c test and, if above target, review treatment and support (NICE NG28)",
    "DM021": "Diabetes review with frailty in mind: HbA1c test, agree an individual target, avoid hypoglycaemia",
    "AF008": "Review stroke prevention: offer a DOAC unless contraindicated, record the decision (NICE NG196)",
    "CHOL003": "Offer a statin for secondary prevention (atorvastatin 80 mg), or record why not (NICE NG238)",
    "AST007": "Invite for an asthma review (inhaler technique, personalised action plan)",
    "COPD010": "Invite for a COPD review (symptoms, exacerbations, inhaler technique, pulmonary rehabilitation)",
    "DEM004": "Review the dementia care plan face to face with the patient and carer",
    "FLU65": "Offer influenza vaccination",
}


def _definitions(library: Any) -> Mapping[str, Any]:
    defs = getattr(library, "definitions", library)
    if not isinstance(defs, Mapping):
        raise InvalidInput("library", "has no mapping of definitions", "pass load_library() or {id: Definition}")
    return defs


def care_gaps(indicator_results: pd.DataFrame, library: Any, actions: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per patient (and index date, if the results have several) and failed indicator.

    Only definitions of kind "indicator" whose `_den` and `_num` columns are present are checked; a missing
    `_exc` column means no exceptions. `actions` overrides or extends ACTIONS; an indicator with no action gets
    one derived from its title, so no gap is ever listed without something to do.
    """
    if "patient_id" not in indicator_results.columns:
        raise InvalidInput("indicator_results", "has no patient_id column", "pass the engine's patient-level result")
    acts = {**ACTIONS, **(actions or {})}
    keys = ["patient_id"] + (["index_date"] if "index_date" in indicator_results.columns else [])
    parts = []
    for def_id, d in sorted(_definitions(library).items()):
        if str(getattr(d, "kind", "")) != "indicator":
            continue
        col = def_id.lower()
        den, num, exc = f"{col}_den", f"{col}_num", f"{col}_exc"
        if den not in indicator_results.columns or num not in indicator_results.columns:
            continue
        failed = (indicator_results[den] == 1) & (indicator_results[num] != 1)
        if exc in indicator_results.columns:
            failed &= indicator_results[exc] != 1
        rows = indicator_results.loc[failed, keys].copy()
        if rows.empty:
            continue
        title = getattr(d, "title", def_id)
        rows["indicator_id"] = def_id
        rows["gap"] = f"Not achieved: {title}"
        rows["action"] = acts.get(def_id, f"Review and act so that: {title}")
        parts.append(rows)
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c == "patient_id" else object) for c in keys + COLUMNS[1:]})
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values([*keys, "indicator_id"], ignore_index=True)[[*keys, *COLUMNS[1:]]]

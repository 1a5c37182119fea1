"""Care gaps from the shared London indicators: patients in an indicator's denominator who do not meet it.

The engine computes every indicator once per run (`carecommons run`) for every patient; this worklist source
reads those per-patient results through `engine.results.patient_results` (governed and audited there) so a
practice's worklist shows exactly the gaps the planning dashboards count, with the same definitions. When no
run has produced results yet, the source adds nothing and says so.
"""

from __future__ import annotations

import datetime as dt
import json
from functools import cache

import duckdb
import pandas as pd
from sqlalchemy.orm import Session

from carecommons.care.rules import ItemKind
from carecommons.care.worklists import WorklistItem
from carecommons.core.errors import CarecommonsError
from carecommons.governance.purposes import Requester


class IndicatorGaps:
    """`WorklistSource`: one care-gap item per (patient, indicator) with den and not num and not exc."""

    def __init__(self, session: Session, requester: Requester, template: str = "review") -> None:
        self.session = session
        self.requester = requester
        self.template = template
        self.note = ""

    def items(
        self, con: duckdb.DuckDBPyConnection, population_table: str, practice_id: str, index_date: dt.date
    ) -> list[WorklistItem]:
        present = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'results_patient'"
        ).fetchall()[0][0]
        if not present:
            self.note = (
                "Care gaps against the London indicators appear once the platform has computed them (carecommons run)."
            )
            return []
        from carecommons.engine.results import patient_results

        pop: set[int] | None = None  # None: the rows are already the population's
        try:
            df = patient_results(con, self.session, self.requester, practice_id=practice_id)
            pop = {int(r[0]) for r in con.execute(f"SELECT patient_id FROM {population_table}").fetchall()}
        except duckdb.Error:
            # The engine's reader creates its tables first, which a read-only connection (the web app's)
            # refuses. Read the newest run's rows for the worklist's population instead: that population is
            # already governance's cohort, and the worklist audits every patient it lists.
            df = _newest_results(con, population_table, practice_id)
        except CarecommonsError as err:
            self.note = f"Indicator care gaps are unavailable ({err.problem})."
            return []
        if df.empty:
            return []
        gaps = df[df["den"] & ~df["num"] & ~df["exc"]]
        titles = dict(indicator_titles())  # indicators only: a register's gap is just "not on it"
        return [
            WorklistItem(
                patient_id=int(pid),
                rule_id=f"indicator:{def_id}",
                kind=ItemKind.CARE_GAP,
                label=titles.get(def_id, def_id),
                template=self.template,
                detail=f"not met on {when}" if when is not None else "",
            )
            for pid, def_id, when in zip(gaps["patient_id"], gaps["definition_id"], gaps["index_date"], strict=True)
            if (pop is None or int(pid) in pop) and def_id in titles
        ]


def prepare() -> None:
    """Do once, off the request path, what the first `IndicatorGaps.items` of a process would otherwise pay
    (~0.25 s): import the engine's results reader (it brings in the SQL compiler) and load the library's
    indicator titles (parsing its codelists). The web app's start-up warm-up calls this."""
    from carecommons.engine import results  # noqa: F401  (the import is the work)

    indicator_titles()


@cache
def indicator_titles() -> tuple[tuple[str, str], ...]:
    """(id, title) of the London library's indicators, read once per process: loading the library builds and
    checks every definition (~30 ms of CPU), which each worklist view paid again."""
    from carecommons.definitions.library import load_library

    return tuple((d.id, d.title) for d in load_library().definitions.values() if str(d.kind) == "indicator")


def _newest_results(con: duckdb.DuckDBPyConnection, population_table: str, practice_id: str):
    """Per-patient results of the newest run at its latest index date, for the population.

    The run's index dates come from its results_runs row (as engine.results reads them), not from a GROUP BY
    over results_patient: at a million patients that table holds tens of millions of rows, and the group-by
    scanned all of them on every worklist view.
    """
    newest = con.execute(
        "SELECT snapshot_id, index_dates FROM results_runs ORDER BY finished_at DESC NULLS LAST LIMIT 1"
    ).fetchall()
    if not newest:
        return pd.DataFrame(columns=["patient_id", "definition_id", "index_date", "den", "num", "exc"])
    snapshot, dates = newest[0]
    latest = max(dt.date.fromisoformat(d) for d in json.loads(dates))
    return con.execute(
        f"""
        SELECT r.patient_id, r.definition_id, r.index_date, r.den, r.num, r.exc
        FROM results_patient r
        JOIN {population_table} p ON p.patient_id = r.patient_id
        WHERE r.snapshot_id = $snapshot AND r.index_date = $latest AND r.practice_id = $practice
        """,
        {"snapshot": snapshot, "latest": latest, "practice": practice_id},
    ).df()

"""Governance cohorts built from many threads at once, as the web app's thread pool does (reliability finding 5).

Each thread opens its own read-only connection to the same store, as every web request does, and builds the
direct-care cohort of a GP again and again. Before the fix, registering Arrow tables raised DuckDB's
"python_arrow_scan does not exist" intermittently under this pattern.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import duckdb
import pytest

from carecommons.governance.cohort import allowed_patients
from carecommons.governance.purposes import Purpose, Requester
from carecommons.store.operational import make_engine, make_sessionmaker

pytestmark = pytest.mark.slow


def test_allowed_patients_from_many_threads(rel_env):
    gp = next(u for u, (r, o) in rel_env.users.items() if r == "gp" and u == f"gp.{str(o).lower()}")
    org = rel_env.users[gp][1]
    carer = Requester(user_id="carer.demo", role="carer", org_id=None, purpose=Purpose.DIRECT_CARE)
    requesters = [Requester(user_id=gp, role="gp", org_id=org, purpose=Purpose.DIRECT_CARE), carer]
    sessions = make_sessionmaker(make_engine(rel_env.url))

    def cohort_sizes(worker: int) -> set[tuple[str, int]]:
        seen = set()
        for i in range(15):
            requester = requesters[(worker + i) % 2]
            con = duckdb.connect(str(rel_env.store), read_only=True)
            try:
                with sessions() as session:
                    table = allowed_patients(con, requester, session)
                seen.add((requester.role, con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]))
            finally:
                con.close()
        return seen

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(cohort_sizes, range(8)))
    merged = set().union(*results)
    # Same answer from every thread: one size per requester, a practice's list for the GP, the consented person for the carer.
    assert sorted(role for role, _n in merged) == ["carer", "gp"], merged
    sizes = dict(merged)
    assert sizes["gp"] > 100 and sizes["carer"] == 1, sizes

import duckdb

from carecommons.core.schema import ALL_TABLES, EVENTS


def test_every_table_ddl_runs_on_duckdb():
    con = duckdb.connect()
    for table in ALL_TABLES:
        con.execute(table.ddl())
        cols = [r[0] for r in con.execute(f"DESCRIBE {table.name}").fetchall()]
        assert cols == table.column_names


def test_not_null_enforced():
    con = duckdb.connect()
    con.execute(EVENTS.ddl())
    try:
        con.execute("INSERT INTO events VALUES (1, 'E83003', NULL, DATE '2026-01-01', NULL, NULL, 'l1')")
    except duckdb.ConstraintException:
        return
    raise AssertionError("NULL code was accepted")

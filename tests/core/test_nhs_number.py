import duckdb
import pytest

from carecommons.core.nhs_number import check_digit, is_valid, sql_is_valid


@pytest.mark.parametrize("number", ["9434765919", "9990000018", "943 476 5919"])
def test_valid(number):
    assert is_valid(number)


@pytest.mark.parametrize("number", ["9434765918", "943476591", "94347659190", "abcdefghij", "", None, "٩٤٣٤٧٦٥٩١٩"])
def test_invalid(number):
    assert not is_valid(number)


def test_check_digit_ten_means_no_number():
    # weights 10..2 over 000000001 give 2, so 11-2=9; over 100000000 give 10 -> 11-10=1
    assert check_digit("000000001") == 9
    assert check_digit("100000000") == 1
    assert any(check_digit(f"{n:09d}") is None for n in range(0, 200))


def test_sql_matches_python():
    con = duckdb.connect()
    samples = [f"{n:010d}" for n in range(9990000000, 9990000400)] + ["12345", "99900000x1"]
    con.execute("CREATE TABLE t(n VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?)", [[s] for s in samples])
    got = dict(con.execute(f"SELECT n, {sql_is_valid('n')} FROM t").fetchall())
    for s in samples:
        assert bool(got[s]) == is_valid(s), s

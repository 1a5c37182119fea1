from __future__ import annotations

import hashlib
import hmac
import os
import stat

import duckdb
import pyarrow as pa
import pytest

from carecommons.core.errors import ConfigurationError, InvalidInput
from carecommons.identity import keys
from carecommons.identity.pseudonym import (
    key_version_of,
    pseudonymise,
    pseudonymise_arrow,
    pseudonymise_table,
    register_pseudonym_udf,
    repseudonymise,
    rotation_crosswalk,
)

IDS = ["9434765919", "4010232137", 1234567, None, "  9434765919 "]


@pytest.fixture
def kdir(tmp_path):
    d = tmp_path / "keys"
    keys.create_key("planning", d)
    keys.create_key("research", d)
    return d


def test_key_files_are_private(kdir):
    path = kdir / "planning" / "v1.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((kdir / "planning").stat().st_mode) == 0o700


def test_keys_dir_defaults_to_env_then_home(tmp_path, monkeypatch, carecommons_home):
    monkeypatch.delenv("CARECOMMONS_KEYS_DIR", raising=False)
    assert keys.keys_dir() == carecommons_home.resolve() / "keys"
    monkeypatch.setenv("CARECOMMONS_KEYS_DIR", str(tmp_path / "elsewhere"))
    assert keys.keys_dir() == tmp_path / "elsewhere"


def test_pseudonym_is_hmac_sha256_of_the_identifier(kdir):
    key = bytes.fromhex((kdir / "planning" / "v1.key").read_text().strip())
    expected = hmac.new(key, b"9434765919", hashlib.sha256).hexdigest()[:32]
    assert pseudonymise(["9434765919"], "planning", kdir) == [f"v1_{expected}"]


def test_deterministic_per_key_and_none_passes_through(kdir):
    first = pseudonymise(IDS, "planning", kdir)
    again = pseudonymise(IDS, "planning", kdir)
    assert first == again
    assert first[3] is None
    assert first[0] == first[4]  # surrounding whitespace ignored
    assert first[2] == pseudonymise(["1234567"], "planning", kdir)[0]  # int and decimal text agree
    assert len({first[0], first[1], first[2]}) == 3


def test_purposes_do_not_share_pseudonyms(kdir):
    planning = pseudonymise(IDS[:3], "planning", kdir)
    research = pseudonymise(IDS[:3], "research", kdir)
    assert not set(planning) & set(research)


def test_rotation_changes_pseudonyms_and_the_crosswalk_maps_old_to_new(kdir):
    old = pseudonymise(IDS, "planning", kdir)
    assert keys.create_key("planning", kdir) == 2
    new = pseudonymise(IDS, "planning", kdir)
    assert {key_version_of(p) for p in new if p} == {2}
    assert {key_version_of(p) for p in old if p} == {1}
    assert not {p for p in old if p} & {p for p in new if p}
    # the old key still works explicitly
    assert pseudonymise(IDS, "planning", kdir, version=1) == old
    walk = rotation_crosswalk(IDS, "planning", 1, 2, kdir)
    assert repseudonymise(old, walk) == new
    with pytest.raises(InvalidInput, match="item 0"):
        repseudonymise(["v1_" + "0" * 32], walk)


def test_missing_key_and_unknown_purpose_are_clear_errors(kdir):
    with pytest.raises(ConfigurationError) as err:
        pseudonymise(["1"], "audit_export", kdir)
    assert "carecommons keys create audit_export" in str(err.value)
    with pytest.raises(ConfigurationError, match="version 7"):
        pseudonymise(["1"], "planning", kdir, version=7)
    with pytest.raises(InvalidInput, match="purpose"):
        pseudonymise(["1"], "../planning", kdir)


def test_world_readable_key_is_refused(kdir):
    os.chmod(kdir / "planning" / "v1.key", 0o644)
    with pytest.raises(ConfigurationError, match="chmod 600"):
        pseudonymise(["1"], "planning", kdir)


def test_arrow_and_duckdb_paths_match_the_list_path(kdir):
    values = [str(9_000_000_000 + i * 7919) for i in range(5000)] + [None]
    expected = pseudonymise(values, "planning", kdir)
    assert pseudonymise_arrow(pa.array(values), "planning", kdir).to_pylist() == expected

    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT * FROM (SELECT unnest($1::VARCHAR[]) AS nhs, 1 AS x)", [values])
    got = pseudonymise_table(con, "t", ["nhs"], "planning", kdir).fetchall()
    assert sorted(got, key=lambda r: (r[0] is None, r[0])) == sorted(
        [(p, 1) for p in expected], key=lambda r: (r[0] is None, r[0])
    )
    name = register_pseudonym_udf(con, "planning", kdir)
    assert (
        con.execute(f"SELECT {name}(CAST(42 AS VARCHAR))").fetchall()[0][0] == pseudonymise([42], "planning", kdir)[0]
    )
    # the key never reaches SQL text or the catalog
    key_hex = (kdir / "planning" / "v1.key").read_text().strip()
    catalog = con.execute("SELECT string_agg(coalesce(macro_definition, ''), '') FROM duckdb_functions()").fetchall()
    assert key_hex not in str(catalog)

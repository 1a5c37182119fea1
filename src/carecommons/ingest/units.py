"""Unit normalisation to canonical UCUM, done as a join so a billion values never pass through Python.

GP systems write the same unit many ways (mmHg, mm Hg, mm[Hg]; mmol/l, mmol/L). Definitions compare
values against thresholds in one canonical unit, so ingest maps every spelling to the UCUM code
and converts where the quantity is the same but the scale differs (g/dL -> g/L). HbA1c recorded as a
DCCT percentage is converted to IFCC mmol/mol, the unit QOF thresholds use. A unit that is not in
this table is quarantined: guessing would silently corrupt thresholds.
"""

from __future__ import annotations

import duckdb

from carecommons.reference.codelists import shipped

#: spelling (case-sensitive first, see `lookup_key`) -> (canonical UCUM, multiply by, add)
_UNITS: dict[str, tuple[str, float, float]] = {}


def _add(canonical: str, *spellings: str, factor: float = 1.0, offset: float = 0.0) -> None:
    for s in (canonical, *spellings):
        _UNITS[s] = (canonical, factor, offset)


_add("mm[Hg]", "mmHg", "mm Hg", "mmhg", "mm hg", "millimeter of mercury", "millimetre of mercury")
_add("mmol/mol", "mmol/mol Hb", "mmol/molHb")
_add("mmol/L", "mmol/l", "mmol per L", "mmol/litre", "mmol/liter", "mM")
_add("umol/L", "µmol/L", "μmol/L", "umol/l", "µmol/l", "μmol/l", "micromol/L")
_add("kg/m2", "kg/m^2", "kg/m²", "kg/(m2)", "kg/m*2", "kg/sq m")
_add("kg", "Kg", "KG", "kilogram", "kilograms", "kgs")
_add("kg", "g", factor=0.001)
_add("cm", "centimetre", "centimeter", "cms")
_add("cm", "m", "metre", "meter", factor=100.0)
_add("cm", "mm", factor=0.1)
_add("%", "percent", "per cent", "pct")
_add("g/L", "g/l")
_add("g/L", "g/dL", "g/dl", factor=10.0)
_add("mL/min/{1.73_m2}", "mL/min/1.73m2", "ml/min/1.73m2", "mL/min/1.73 m2", "ml/min/1.73 m2", "ml/min/{1.73_m2}")
_add("/min", "bpm", "beats/min", "beats per minute", "{beats}/min", "/minute")
_add("Cel", "°C", "degC", "deg C")
_add("mg/mmol", "mg/mmol creat")
_add("10*9/L", "10^9/L", "x10^9/L", "10*9/l", "10^9/l", "x10*9/L")
_add("U/L", "IU/L", "iu/l", "u/l", "U/l")
_add("mg/L", "mg/l")
_add("{score}", "score", "points")
_add("1", "{ratio}", "ratio")
_add("/wk", "units/week", "{units}/wk", "U/wk")
_add("{cigarettes}/d", "cigarettes/day", "cigarettes per day")


def lookup_key(unit: str) -> str:
    """How a raw unit is matched: trimmed, otherwise exact (UCUM is case-sensitive: mL vs ML differ)."""
    return unit.strip()


#: HbA1c codes whose '%' values are DCCT and must become IFCC mmol/mol.
HBA1C_CODELIST = "opensafely-glycated-haemoglobin-hba1c-tests"


def dcct_to_ifcc(percent: float) -> float:
    """IFCC mmol/mol from DCCT % (master equation IFCC = (DCCT - 2.15) x 10.929; Hoelzel et al.,
    Clin Chem 2004;50:166-174, as used in UK HbA1c reporting guidance)."""
    return (percent - 2.15) * 10.929


def install(con: duckdb.DuckDBPyConnection) -> None:
    """Create temp tables `_unit_map` and `_hba1c_codes` that the events validation joins against."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _unit_map (raw VARCHAR PRIMARY KEY, canonical VARCHAR, factor DOUBLE, "
        "offset_ DOUBLE)"
    )
    con.executemany("INSERT INTO _unit_map VALUES (?, ?, ?, ?)", [(k, *v) for k, v in _UNITS.items()])
    con.execute("CREATE OR REPLACE TEMP TABLE _hba1c_codes (code VARCHAR PRIMARY KEY)")
    con.executemany("INSERT INTO _hba1c_codes VALUES (?)", [(c,) for c in sorted(shipped(HBA1C_CODELIST).codes)])


def canonical_units() -> set[str]:
    """Every canonical unit ingest can produce (for documentation and tests)."""
    return {v[0] for v in _UNITS.values()}

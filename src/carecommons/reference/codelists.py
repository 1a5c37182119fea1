"""Codelists from the shipped reference data, typed by coding system, SNOMED CT ids Verhoeff-checked.

OpenCodelists CSVs have a code column (named `code`, `snomedcode`, `dmd_id`, `ctv3_id`...) plus terms;
the eFI lists in efi_gm-sde/ are tab-separated `code<TAB>term` files named `<deficit>.<system>.txt`.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from carecommons.core.errors import InvalidInput, NotFound
from carecommons.core.paths import REFERENCE_DATA

CODELIST_DIR = REFERENCE_DATA / "codelists"

# Verhoeff tables (dihedral group D5), as published by Verhoeff (1969).
_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)


def verhoeff_ok(digits: str) -> bool:
    """True when the string of digits carries a valid Verhoeff check digit (as every SNOMED CT id does)."""
    if not digits.isascii() or not digits.isdigit():
        return False
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = _D[c][_P[i % 8][int(ch)]]
    return c == 0


def is_snomed_id(code: str) -> bool:
    """A well-formed SNOMED CT concept/description id: 6-18 digits, no leading zero, Verhoeff-valid."""
    return 6 <= len(code) <= 18 and code[0] != "0" and verhoeff_ok(code)


@dataclass(frozen=True)
class Codelist:
    """A named set of codes in one coding system, remembering where it came from."""

    id: str
    system: str  # "snomedct", "dmd", "ctv3", "readv2"
    codes: frozenset[str]
    terms: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    source: str = ""

    def __contains__(self, code: object) -> bool:
        return code in self.codes

    def __len__(self) -> int:
        return len(self.codes)


_CODE_COLUMNS = {
    "code": None,
    "snomedcode": "snomedct",
    "snomed_id": "snomedct",
    "dmd_id": "dmd",
    "ctv3_id": "ctv3",
    "ctv3code": "ctv3",
    "ctv3id": "ctv3",
}


def load_csv(path: Path, system: str | None = None, codelist_id: str | None = None) -> Codelist:
    """Load an OpenCodelists-style CSV. `system` defaults from the code column name, else SNOMED CT.

    SNOMED CT codes failing the Verhoeff check are rejected rather than silently dropped: a corrupt
    codelist would make a register quietly wrong.
    """
    if not path.exists():
        raise NotFound(str(path), "codelist file does not exist", "check the name under reference/data/codelists")
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in (reader.fieldnames or [])]
        code_col = next((h for h in header if h.lower() in _CODE_COLUMNS), None)
        if code_col is None:
            raise InvalidInput(str(path), f"no code column among {header}", "add a 'code' column")
        inferred = _CODE_COLUMNS[code_col.lower()]
        system = system or inferred or "snomedct"
        term_col = next(
            (h for h in header if h.lower() in ("term", "description", "dmd_name", "name", "ctv3preferredtermdesc")),
            None,
        )
        codes: dict[str, str] = {}
        for row in reader:
            code = (row.get(code_col) or "").strip()
            if not code:
                continue
            codes[code] = (row.get(term_col) or "").strip() if term_col else ""
    return _checked(codelist_id or path.stem, system, codes, str(path))


def load_txt(path: Path, codelist_id: str | None = None) -> Codelist:
    """Load a GM-SDE style `code<TAB>term` file; the system comes from the name (`x.snomed.txt`)."""
    parts = path.name.split(".")
    system = {"snomed": "snomedct", "ctv3": "ctv3", "readv2": "readv2"}.get(parts[-2] if len(parts) > 2 else "")
    if system is None:
        raise InvalidInput(path.name, "cannot tell the coding system from the file name", "name it <id>.snomed.txt")
    codes: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        code, _, term = line.partition("\t")
        codes[code.strip()] = term.strip()
    return _checked(codelist_id or parts[0], system, codes, str(path))


def _checked(codelist_id: str, system: str, codes: dict[str, str], source: str) -> Codelist:
    if system == "snomedct":
        bad = [c for c in codes if not is_snomed_id(c)]
        if bad:
            raise InvalidInput(
                source,
                f"{len(bad)} code(s) are not valid SNOMED CT ids (Verhoeff check failed), e.g. {bad[0]}",
                "correct or remove those codes, or declare the right coding system",
            )
    return Codelist(id=codelist_id, system=system, codes=frozenset(codes), terms=codes, source=source)


def shipped(name: str) -> Codelist:
    """A codelist shipped with the package, by file stem, e.g. 'nhsd-primary-care-domain-refsets-hyp_cod'
    or 'efi_gm-sde/efi-chd.snomed'."""
    for candidate in (CODELIST_DIR / f"{name}.csv", CODELIST_DIR / f"{name}.txt", CODELIST_DIR / name):
        if candidate.is_file():
            return load_txt(candidate) if candidate.suffix == ".txt" else load_csv(candidate)
    raise NotFound(name, "no shipped codelist by that name", f"see the files in {CODELIST_DIR}")

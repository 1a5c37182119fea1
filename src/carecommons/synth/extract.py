"""One practice's GP extract: switchable faults applied, then written as CSV or FHIR R4 NDJSON with a manifest.

Fault lines are physical 1-based line numbers of the written file: in CSV the header is line 1, so the first data
row is line 2; in NDJSON the first resource is line 1.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from carecommons.synth import config as C
from carecommons.synth.clinical import ENCOUNTER_CLASSES, KIND_CONDITION, UNITS, Clinical
from carecommons.synth.codes import codebook
from carecommons.synth.nhs import corrupt_check_digit
from carecommons.synth.people import People, to_days
from carecommons.synth.writers import (
    NO_DATE,
    Written,
    days_to_date,
    int_str,
    join,
    optional,
    write_bytes,
    write_csv,
    write_ndjson,
    write_ndjson_chunks,
)


@dataclass(frozen=True)
class FaultRow:
    fault: str
    feed: str
    file: str
    line: int


def apply_faults(
    people: People, clin: Clinical, faults: frozenset[str], extract: dt.date, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Returns (nhs numbers, ethnicity-missing mask, events sorted by patient with faults, duplicate mask,
    future-date mask); masks index the returned event rows / patients. Draws nothing when no fault is on, so
    output without faults does not depend on fault rates."""
    n = len(people)
    nhs = people.nhs_number
    eth_missing = np.zeros(n, dtype=bool)
    if "invalid-nhs" in faults:
        bad = rng.random(n) < C.FAULT_RATES["invalid-nhs"]
        nhs = np.where(bad, corrupt_check_digit(nhs), nhs)
    if "missing-ethnicity" in faults:
        eth_missing = rng.random(n) < C.FAULT_RATES["missing-ethnicity"]
    order = np.argsort(clin.events["p"], kind="stable")
    ev = {k: v[order] for k, v in clin.events.items()}
    m = len(ev["p"])
    future = np.zeros(m, dtype=bool)
    if "future-dates" in faults:
        future = rng.random(m) < C.FAULT_RATES["future-dates"]
        ev["date"] = np.where(future, to_days(extract) + rng.integers(1, 366, m), ev["date"]).astype(np.int32)
    dup = np.zeros(m, dtype=bool)
    if "duplicate-events" in faults:
        orig_dup = rng.random(m) < C.FAULT_RATES["duplicate-events"]
        rep = np.repeat(np.arange(m), 1 + orig_dup)
        ev = {k: v[rep] for k, v in ev.items()}
        future = future[rep]
        # The second copy of each duplicated row is the fault.
        dup = np.zeros(len(rep), dtype=bool)
        dup[1:] = rep[1:] == rep[:-1]
    return nhs, eth_missing, ev, dup, future


def _fault_rows(fault: str, rel: str, mask: np.ndarray, first_line: int) -> list[FaultRow]:
    return [FaultRow(fault, "gp", rel, int(i) + first_line) for i in np.flatnonzero(mask)]


def write_extract(
    root: Path,
    practice_id: str,
    extract: dt.date,
    system: str,
    people: People,
    clin: Clinical,
    faults: frozenset[str],
    rng: np.random.Generator,
) -> tuple[list[Written], list[FaultRow]]:
    """Write gp/<ODS>/<EXTRACT_DATE>/{csv|fhir}/... and manifest.json under root; return files and fault rows."""
    base_rel = f"gp/{practice_id}/{extract.isoformat()}"
    base = root / base_rel
    nhs, eth_missing, ev, dup, future = apply_faults(people, clin, faults, extract, rng)
    if system == "csv":
        files, fault_rows = _write_csv(base, base_rel, practice_id, people, clin, nhs, eth_missing, ev, dup, future)
    else:
        files, fault_rows = _write_fhir(base, base_rel, practice_id, people, clin, nhs, eth_missing, ev, dup, future)
    manifest = {
        "feed": "gp",
        "practice_id": practice_id,
        "extract_date": extract.isoformat(),
        "system": system,
        "files": {w.relpath: {"sha256": w.sha256, "rows": w.rows} for w in files},
    }
    write_bytes(base / "manifest.json", (json.dumps(manifest, indent=1) + "\n").encode())
    return files, fault_rows


def _units(unit: np.ndarray) -> pa.Array:
    return pc.cast(pa.DictionaryArray.from_arrays(pa.array(unit, mask=unit < 0), pa.array(UNITS)), pa.string())


def _values(value: np.ndarray) -> pa.Array:
    return pa.array(value, from_pandas=True)


def _write_csv(
    base: Path,
    base_rel: str,
    practice_id: str,
    people: People,
    clin: Clinical,
    nhs: np.ndarray,
    eth_missing: np.ndarray,
    ev: dict[str, np.ndarray],
    dup: np.ndarray,
    future: np.ndarray,
) -> tuple[list[Written], list[FaultRow]]:
    pid = people.patient_id
    out: list[Written] = []
    ethnic = pa.array(people.eth_code, mask=eth_missing)
    out.append(
        write_csv(
            base / "csv/patients.csv",
            "csv/patients.csv",
            {
                "patient_id": pa.array(pid),
                "nhs_number": int_str(nhs),
                "given_name": pa.array(people.given, type=pa.string()),
                "family_name": pa.array(people.family, type=pa.string()),
                "date_of_birth": days_to_date(people.dob),
                "sex": pa.array(people.sex, type=pa.string()),
                "postcode": pa.array(people.postcode, type=pa.string()),
                "lsoa": pa.array(people.lsoa, type=pa.string()),
                "ethnicity_code": ethnic,
                "date_of_death": days_to_date(people.dod),
            },
        )
    )
    out.append(
        write_csv(
            base / "csv/registrations.csv",
            "csv/registrations.csv",
            {
                "patient_id": pa.array(pid),
                "practice_id": pa.array(np.full(len(pid), practice_id), type=pa.string()),
                "start_date": days_to_date(people.reg_start),
                "end_date": days_to_date(people.reg_end),
            },
        )
    )
    out.append(
        write_csv(
            base / "csv/events.csv",
            "csv/events.csv",
            {
                "patient_id": pa.array(pid[ev["p"]]),
                "code": pa.array(ev["code"]),
                "date": days_to_date(ev["date"]),
                "value": _values(ev["value"]),
                "unit": _units(ev["unit"]),
            },
        )
    )
    med, vac, enc = clin.medications, clin.vaccinations, clin.encounters
    out.append(
        write_csv(
            base / "csv/medications.csv",
            "csv/medications.csv",
            {
                "patient_id": pa.array(pid[med["p"]]),
                "dmd_code": pa.array(med["code"]),
                "date": days_to_date(med["date"]),
            },
        )
    )
    out.append(
        write_csv(
            base / "csv/vaccinations.csv",
            "csv/vaccinations.csv",
            {"patient_id": pa.array(pid[vac["p"]]), "code": pa.array(vac["code"]), "date": days_to_date(vac["date"])},
        )
    )
    out.append(
        write_csv(
            base / "csv/encounters.csv",
            "csv/encounters.csv",
            {
                "patient_id": pa.array(pid[enc["p"]]),
                "date": days_to_date(enc["date"]),
                "encounter_type": pc.cast(
                    pa.DictionaryArray.from_arrays(pa.array(enc["cls"]), pa.array(ENCOUNTER_CLASSES)), pa.string()
                ),
            },
        )
    )
    faults = (
        _fault_rows("missing-ethnicity", f"{base_rel}/csv/patients.csv", eth_missing, 2)
        + _fault_rows("invalid-nhs", f"{base_rel}/csv/patients.csv", nhs != people.nhs_number, 2)
        + _fault_rows("duplicate-events", f"{base_rel}/csv/events.csv", dup, 2)
        + _fault_rows("future-dates", f"{base_rel}/csv/events.csv", future, 2)
    )
    return out, faults


def _ref(pid_str: pa.Array) -> list:
    return ['"subject":{"reference":"Patient/', pid_str, '"}']


def _ids(prefix: str, start: int, stop: int) -> pa.Array:
    """Resource ids unique across the whole run: practice code, resource letter, row number (1-based)."""
    return join([prefix, int_str(np.arange(start + 1, stop + 1))])


def _write_fhir(
    base: Path,
    base_rel: str,
    practice_id: str,
    people: People,
    clin: Clinical,
    nhs: np.ndarray,
    eth_missing: np.ndarray,
    ev: dict[str, np.ndarray],
    dup: np.ndarray,
    future: np.ndarray,
) -> tuple[list[Written], list[FaultRow]]:
    pid_s = int_str(people.patient_id)
    ods = f'{{"identifier":{{"system":"{C.ODS_SYSTEM}","value":"{practice_id}"}}}}'
    out: list[Written] = []
    gender = pa.array(np.select([people.sex == "M", people.sex == "F"], ["male", "female"], "unknown"))
    dob = pc.cast(days_to_date(people.dob), pa.string())
    dod = pc.cast(days_to_date(people.dod), pa.string())
    patient = join(
        [
            '{"resourceType":"Patient","id":"', pid_s,
            f'","identifier":[{{"system":"{C.NHS_SYSTEM}","value":"', int_str(nhs),
            '"}],"name":[{"family":"', pa.array(people.family, type=pa.string()),
            '","given":["', pa.array(people.given, type=pa.string()),
            '"]}],"gender":"', gender, '","birthDate":"', dob, '"',
            optional(people.dod != NO_DATE, [',"deceasedDateTime":"', dod, '"']),
            ',"address":[{"postalCode":"', pa.array(people.postcode, type=pa.string()),
            f'"}}],"generalPractitioner":[{ods}],"extension":[{{"url":"{C.LSOA_EXT}","valueString":"',
            pa.array(people.lsoa, type=pa.string()), '"}',
            optional(~eth_missing, [f',{{"url":"{C.ETHNIC_EXT}","valueCodeableConcept":{{"coding":[{{"system":"{C.SCT}","code":"',
                                    int_str(people.eth_code), '"}]}}']),
            "]}",
        ]
    )  # fmt: skip
    out.append(write_ndjson(base / "fhir/Patient.ndjson", "fhir/Patient.ndjson", patient))
    ended = people.reg_end != NO_DATE
    episode = join(
        [
            '{"resourceType":"EpisodeOfCare","id":"reg-', pid_s, '","status":"',
            pa.array(np.where(ended, "finished", "active")),
            '","type":[{"text":"GP registration"}],"patient":{"reference":"Patient/', pid_s,
            f'"}},"managingOrganization":{ods},"period":{{"start":"',
            pc.cast(days_to_date(people.reg_start), pa.string()), '"',
            optional(ended, [',"end":"', pc.cast(days_to_date(people.reg_end), pa.string()), '"']), "}}",
        ]
    )  # fmt: skip
    out.append(write_ndjson(base / "fhir/EpisodeOfCare.ndjson", "fhir/EpisodeOfCare.ndjson", episode))

    cond = ev["kind"] == KIND_CONDITION
    faults: list[FaultRow] = []
    for name, mask in (("Condition", cond), ("Observation", ~cond)):
        sel = np.flatnonzero(mask)
        rel = f"fhir/{name}.ndjson"
        out.append(write_ndjson_chunks(base / rel, rel, len(sel), _event_lines(name, practice_id, pid_s, ev, sel)))
        faults += _fault_rows("duplicate-events", f"{base_rel}/{rel}", dup[sel], 1)
        faults += _fault_rows("future-dates", f"{base_rel}/{rel}", future[sel], 1)
    for name, table in (("MedicationRequest", clin.medications), ("Immunization", clin.vaccinations),
                        ("Encounter", clin.encounters)):  # fmt: skip
        rel = f"fhir/{name}.ndjson"
        out.append(write_ndjson_chunks(base / rel, rel, len(table["p"]), _other_lines(name, practice_id, pid_s, table)))

    rel = f"{base_rel}/fhir/Patient.ndjson"
    faults = (
        _fault_rows("missing-ethnicity", rel, eth_missing, 1)
        + _fault_rows("invalid-nhs", rel, nhs != people.nhs_number, 1)
        + faults
    )
    return out, faults


def _event_lines(name: str, practice_id: str, pid_s: pa.Array, ev: dict[str, np.ndarray], sel: np.ndarray):
    """Builder of Condition or Observation lines for rows sel[start:stop] (see write_ndjson_chunks)."""
    prefix = f"{practice_id}-{name[0].lower()}"

    def build(start: int, stop: int) -> pa.Array:
        rows = sel[start:stop]
        psub = pc.take(pid_s, pa.array(ev["p"][rows]))
        codes = int_str(ev["code"][rows])
        dates = pc.cast(days_to_date(ev["date"][rows]), pa.string())
        ids = _ids(prefix, start, stop)
        if name == "Condition":
            return join(['{"resourceType":"Condition","id":"', ids, '",', *_ref(psub),
                         f',"code":{{"coding":[{{"system":"{C.SCT}","code":"', codes,
                         '"}]},"onsetDateTime":"', dates, '"}'])  # fmt: skip
        value = ev["value"][rows]
        has_v = ~np.isnan(value)
        vstr = pc.cast(pa.array(np.where(has_v, value, 0.0)), pa.string())
        unit = pc.fill_null(_units(ev["unit"][rows]), "")
        return join(['{"resourceType":"Observation","id":"', ids, '","status":"final",', *_ref(psub),
                     f',"code":{{"coding":[{{"system":"{C.SCT}","code":"', codes,
                     '"}]},"effectiveDateTime":"', dates, '"',
                     optional(has_v, [',"valueQuantity":{"value":', vstr, ',"unit":"', unit,
                                      f'","system":"{C.UCUM}","code":"', unit, '"}']), "}"])  # fmt: skip

    return build


def _other_lines(name: str, practice_id: str, pid_s: pa.Array, table: dict[str, np.ndarray]):
    """Builder of MedicationRequest, Immunization or Encounter lines for rows start:stop."""
    prefix = f"{practice_id}-{name[0].lower()}"
    dmd_codes = codebook().flu_vaccine_dmd.ints

    def build(start: int, stop: int) -> pa.Array:
        ids = _ids(prefix, start, stop)
        psub = pc.take(pid_s, pa.array(table["p"][start:stop]))
        dates = pc.cast(days_to_date(table["date"][start:stop]), pa.string())
        if name == "MedicationRequest":
            return join(['{"resourceType":"MedicationRequest","id":"', ids, '","status":"active","intent":"order",',
                         *_ref(psub), f',"medicationCodeableConcept":{{"coding":[{{"system":"{C.DMD}","code":"',
                         int_str(table["code"][start:stop]), '"}]},"authoredOn":"', dates, '"}'])  # fmt: skip
        if name == "Immunization":
            codes = table["code"][start:stop]
            system = pa.array(np.where(np.isin(codes, dmd_codes), C.DMD, C.SCT))
            return join(['{"resourceType":"Immunization","id":"', ids,
                         '","status":"completed","patient":{"reference":"Patient/', psub,
                         '"},"vaccineCode":{"coding":[{"system":"', system, '","code":"', int_str(codes),
                         '"}]},"occurrenceDateTime":"', dates, '"}'])  # fmt: skip
        cls = pc.cast(
            pa.DictionaryArray.from_arrays(pa.array(table["cls"][start:stop]), pa.array(ENCOUNTER_CLASSES)),
            pa.string(),
        )
        return join(['{"resourceType":"Encounter","id":"', ids,
                     '","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode",'
                     '"code":"', cls, '"},', *_ref(psub), ',"period":{"start":"', dates, '"}}'])  # fmt: skip

    return build

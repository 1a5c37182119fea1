"""Social-care and hospital-discharge feeds whose people overlap the GP population, with realistic identifier
noise, plus the ground truth of who is who.

Workers pick the GP patients who appear in each feed (`select_candidates`, column-wise per practice); the parent
then writes the feeds in practice order (`write_social_care`, `write_hospital`), so output is deterministic.
Noise rates are modelling choices in the range reported for English linkage studies (missing NHS number is
common in social care, rare in hospital data).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from carecommons.reference.organisations import REF_DIR
from carecommons.synth import config as C
from carecommons.synth.clinical import Clinical
from carecommons.synth.codes import codebook
from carecommons.synth.names import NICKNAMES, POOLS_FAMILY, POOLS_FEMALE, POOLS_MALE
from carecommons.synth.people import EPOCH, People, to_days
from carecommons.synth.writers import NO_DATE, Written, write_bytes


@dataclass(frozen=True)
class Noise:
    nhs_missing: float
    nhs_wrong: float
    nickname: float
    typo_given: float
    typo_family: float
    family_changed: float
    dob_swap: float
    dob_year: float
    postcode_moved: float
    postcode_missing: float
    postcode_format: float
    sex_missing: float


SOCIAL_NOISE = Noise(0.25, 0.02, 0.12, 0.04, 0.04, 0.02, 0.03, 0.01, 0.10, 0.04, 0.10, 0.02)
HOSPITAL_NOISE = Noise(0.06, 0.01, 0.06, 0.03, 0.03, 0.01, 0.015, 0.005, 0.06, 0.02, 0.05, 0.005)
NOT_IN_GP_SHARE = 0.04  # feed records of people with no London GP record (truth patient_id empty)
DUPLICATE_SHARE = 0.02  # the same person recorded twice in one feed under two record ids

SERVICES = ("Home care", "Residential care", "Nursing care", "Day care", "Direct payment", "Reablement")
DISPOSITIONS = ("Usual place of residence", "Care home", "Other NHS hospital", "Died")
_PRIORITY = ("HF", "COPD", "STIA", "AF", "CHD", "DM", "CKD", "DEM", "AST", "CAN")


def _sig(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def select_candidates(people: People, clin: Clinical, borough: str, icb: str, extract: dt.date,
                      rng: np.random.Generator) -> pd.DataFrame:  # fmt: skip
    """The practice's patients who appear in social care and/or hospital feeds, with what the feeds need."""
    age = people.age.astype(float)
    reg = clin.registers
    adult = people.age >= 18
    p_social = adult * (
        0.012 + 0.10 * _sig((age - 82) / 6) + 0.5 * clin.care_home + 0.3 * clin.housebound + 0.3 * reg["LD"]
        + 0.15 * reg["DEM"] + 0.05 * reg["MH"]
    )  # fmt: skip
    serious = reg["HF"] | reg["COPD"] | reg["STIA"] | reg["AF"] | reg["CKD"]
    p_hosp = 0.03 + 0.25 * _sig((age - 78) / 8) + 0.1 * serious
    social = rng.random(len(people)) < np.clip(p_social, 0, 0.95)
    hosp = rng.random(len(people)) < np.clip(p_hosp, 0, 0.95)
    sel = np.flatnonzero(social | hosp)
    diag = _primary_diagnosis(rng, {g: v[sel] for g, v in reg.items()})
    return pd.DataFrame(
        {
            "patient_id": people.patient_id[sel],
            "nhs_number": people.nhs_number[sel],
            "given": people.given[sel],
            "family": people.family[sel],
            "dob": people.dob[sel],
            "sex": people.sex[sel],
            "postcode": people.postcode[sel],
            "borough": borough,
            "icb": icb,
            "end": people.window_end[sel],
            "dead": people.dod[sel] != NO_DATE,
            "care_home": clin.care_home[sel],
            "social": social[sel],
            "hospital": hosp[sel],
            "admissions": np.where(hosp[sel], 1 + rng.poisson(0.3 + 0.8 * serious[sel]), 0),
            "diagnosis": diag,
        }
    )


def _primary_diagnosis(rng: np.random.Generator, regs: dict[str, np.ndarray]) -> np.ndarray:
    cb = codebook()
    n = len(next(iter(regs.values())))
    out = np.zeros(n, dtype=np.int64)
    done = np.zeros(n, dtype=bool)
    for g in _PRIORITY:
        take = regs[g] & ~done & (rng.random(n) < 0.6)
        out[take] = cb.registers[g].pick.draw(rng, int(take.sum())).astype(np.int64)
        done |= take
    rest = np.flatnonzero(~done)
    deficits = ("falls", "fragility-fracture", "dyspnoea", "respiratory-disease", "urinary-system-disease")
    which = rng.integers(0, len(deficits), len(rest))
    for i, d in enumerate(deficits):
        idx = rest[which == i]
        out[idx] = cb.efi[d].draw(rng, len(idx)).astype(np.int64)
    return out


@lru_cache(maxsize=1)
def la_codes() -> dict[str, str]:
    """Borough name -> local-authority (LAD) code, from the LSOA lookup."""
    df = pd.read_csv(REF_DIR / "lsoa_geog_lookup.csv", usecols=["LAD_CODE", "LAD_NAME", "REGION"], dtype=str)
    df = df[df["REGION"] == "London"].drop_duplicates("LAD_NAME")
    return dict(zip(df["LAD_NAME"], df["LAD_CODE"], strict=True))


# --- identifier noise ---------------------------------------------------------------------------------------------


def _typo(rng: np.random.Generator, s: str) -> str:
    if len(s) < 3:
        return s
    i = int(rng.integers(1, len(s) - 1))
    kind = int(rng.integers(0, 3))
    if kind == 0:  # transpose
        return s[:i] + s[i + 1] + s[i] + s[i + 2 :]
    if kind == 1:  # drop a letter
        return s[:i] + s[i + 1 :]
    return s[:i] + s[i] + s[i:]  # double a letter


def _wrong_nhs(rng: np.random.Generator, nhs: str) -> str:
    i = int(rng.integers(3, 9))  # transpose two adjacent digits after the 999 prefix
    out = nhs[:i] + nhs[i + 1] + nhs[i] + nhs[i + 2 :]
    return out if out != nhs else nhs[:9] + str((int(nhs[9]) + 1) % 10)


def _noisy_identity(rng: np.random.Generator, row, noise: Noise) -> dict[str, str]:
    """Identifiers of one person as a feed recorded them."""
    given, family = str(row.given), str(row.family)
    nhs = str(row.nhs_number)
    u = rng.random(12)
    if u[0] < noise.nhs_missing:
        nhs = ""
    elif u[1] < noise.nhs_wrong:
        nhs = _wrong_nhs(rng, nhs)
    if u[2] < noise.nickname and given in NICKNAMES:
        given = NICKNAMES[given]
    elif u[3] < noise.typo_given:
        given = _typo(rng, given)
    if u[4] < noise.family_changed and row.sex == "F":
        pool = POOLS_FAMILY[1]
        family = str(pool[int(rng.integers(len(pool)))])
    elif u[5] < noise.typo_family:
        family = _typo(rng, family)
    dob = EPOCH + dt.timedelta(days=int(row.dob))
    if u[6] < noise.dob_swap and dob.day <= 12 and dob.day != dob.month:
        dob = dob.replace(month=dob.day, day=dob.month)
    elif u[7] < noise.dob_year:
        dob = dob.replace(year=dob.year + (1 if u[7] < noise.dob_year / 2 else -1), day=min(dob.day, 28))
    postcode = str(row.postcode)
    if u[8] < noise.postcode_moved:
        letters = "ABDEFGHJLNPQRSTUWXYZ"
        postcode = (
            f"{postcode.split(' ')[0]} {rng.integers(0, 10)}{letters[rng.integers(20)]}{letters[rng.integers(20)]}"
        )
    if u[9] < noise.postcode_missing:
        postcode = ""
    elif u[10] < noise.postcode_format:
        postcode = postcode.replace(" ", "").lower()
    sex = "" if u[11] < noise.sex_missing else str(row.sex)
    return {"nhs_number": nhs, "given_name": given, "family_name": family, "date_of_birth": dob.isoformat(),
            "sex": sex, "postcode": postcode}  # fmt: skip


def _stranger(rng: np.random.Generator, borough_outward: str, extract: dt.date) -> dict[str, str]:
    """Someone with no London GP record (moved in, registered outside London): plausible identifiers."""
    male = rng.random() < 0.45
    g = int(rng.integers(1, 6))
    given_pool = POOLS_MALE[g] if male else POOLS_FEMALE[g]
    dob = extract - dt.timedelta(days=int(rng.integers(18 * 365, 100 * 365)))
    letters = "ABDEFGHJLNPQRSTUWXYZ"
    return {
        "nhs_number": "",
        "given_name": str(given_pool[int(rng.integers(len(given_pool)))]),
        "family_name": str(POOLS_FAMILY[g][int(rng.integers(len(POOLS_FAMILY[g])))]),
        "date_of_birth": dob.isoformat(),
        "sex": "M" if male else "F",
        "postcode": f"{borough_outward} {rng.integers(0, 10)}{letters[rng.integers(20)]}{letters[rng.integers(20)]}",
    }


def _manifest(base: Path, feed: str, org: str, extract: dt.date, system: str, files: list[Written]) -> None:
    doc = {
        "feed": feed,
        "organisation_id": org,
        "extract_date": extract.isoformat(),
        "system": system,
        "files": {w.relpath: {"sha256": w.sha256, "rows": w.rows} for w in files},
    }
    write_bytes(base / "manifest.json", (json.dumps(doc, indent=1) + "\n").encode())


def write_social_care(root: Path, people: pd.DataFrame, extract: dt.date, seed: int) -> tuple[int, list[tuple]]:
    """social_care/<LA_CODE>/<EXTRACT_DATE>/clients.csv per borough; returns (rows, truth rows)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x50C1A1]))
    codes = la_codes()
    e = to_days(extract)
    truth: list[tuple] = []
    total = 0
    header = "record_id,nhs_number,given_name,family_name,date_of_birth,sex,postcode,local_authority,service_type,start_date,end_date\n"
    clients = people[people["social"]]
    for borough, frame in clients.groupby("borough", sort=True):
        la = codes[str(borough)]
        lines = [header]
        k = 0
        outward = str(frame["postcode"].iloc[0]).split(" ")[0]
        rows = list(frame.itertuples(index=False))
        extra_dups = [r for r in rows if rng.random() < DUPLICATE_SHARE]
        strangers = int(round(len(rows) * NOT_IN_GP_SHARE))
        for row in [*rows, *extra_dups, *([None] * strangers)]:
            k += 1
            record_id = f"{la}-{k:07d}"
            ident = _stranger(rng, outward, extract) if row is None else _noisy_identity(rng, row, SOCIAL_NOISE)
            if row is not None and row.care_home:
                service = SERVICES[1 + int(rng.random() < 0.4)]
            else:
                service = SERVICES[[0, 3, 4, 5][int(rng.integers(4))]]
            last = int(row.end) if row is not None else e
            start = last - int(rng.integers(30, 5 * 365))
            ended = row is not None and (bool(row.dead) or rng.random() < 0.25)
            end = min(last, start + int(rng.integers(30, 4 * 365))) if ended else None
            lines.append(
                f"{record_id},{ident['nhs_number']},{ident['given_name']},{ident['family_name']},"
                f"{ident['date_of_birth']},{ident['sex']},{ident['postcode']},{la},{service},"
                f"{(EPOCH + dt.timedelta(days=start)).isoformat()},"
                f"{(EPOCH + dt.timedelta(days=end)).isoformat() if end is not None else ''}\n"
            )
            truth.append(("social_care", record_id, "" if row is None else str(row.patient_id)))
        base = root / "social_care" / la / extract.isoformat()
        data = "".join(lines).encode()
        w = Written("clients.csv", write_bytes(base / "clients.csv", data), len(lines) - 1)
        _manifest(base, "social_care", la, extract, "csv", [w])
        total += w.rows
    return total, truth


def write_hospital(root: Path, people: pd.DataFrame, extract: dt.date, seed: int) -> tuple[int, list[tuple]]:
    """hospital/<TRUST>/<EXTRACT_DATE>/discharges-NNN.json Bundles; returns (discharges, truth rows).

    Two passes keep memory bounded at whole-London scale: first each person gets a trust and a record id, then
    each trust's discharges are built and written one Bundle (10,000 discharges) at a time.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x4057]))
    trusts_by_icb: dict[str, list[str]] = {}
    for t in C.TRUSTS:
        trusts_by_icb.setdefault(t.icb, []).append(t.ods)
    all_trusts = [t.ods for t in C.TRUSTS]
    assigned: dict[str, list] = {t: [] for t in all_trusts}
    truth: list[tuple] = []
    rows = list(people[people["hospital"]].itertuples(index=False))
    strangers = int(round(len(rows) * NOT_IN_GP_SHARE))
    for row in [*rows, *([None] * strangers)]:
        if row is not None and rng.random() < 0.85:
            local = trusts_by_icb[str(row.icb)]
            trust = local[int(rng.integers(len(local)))]
        else:
            trust = all_trusts[int(rng.integers(len(all_trusts)))]
        record_id = f"{trust}-{len(assigned[trust]) + 1:08d}"
        assigned[trust].append(row)
        truth.append(("hospital", record_id, "" if row is None else str(row.patient_id)))
    total = 0
    for trust in all_trusts:
        if not assigned[trust]:
            continue
        base = root / "hospital" / trust / extract.isoformat()
        written: list[Written] = []
        pending: list[tuple[dict, dict, dict]] = []
        for k, row in enumerate(assigned[trust], start=1):
            pending.extend(_admissions(rng, trust, f"{trust}-{k:08d}", row, extract))
            while len(pending) >= C.BUNDLE_MAX_ENTRIES or (pending and k == len(assigned[trust])):
                chunk, pending = pending[: C.BUNDLE_MAX_ENTRIES], pending[C.BUNDLE_MAX_ENTRIES :]
                written.append(_write_bundle(base, len(written) + 1, chunk))
                total += len(chunk)
        _manifest(base, "hospital", trust, extract, "fhir-bundle", written)
    return total, truth


def _write_bundle(base: Path, number: int, discharges: list[tuple[dict, dict, dict]]) -> Written:
    """One Bundle file. Each Patient once per Bundle (ingest refuses repeats); later discharges of the same
    patient reference it. Manifest rows count Bundle entries."""
    entry: list[dict] = []
    seen: set[str] = set()
    for patient, encounter, condition in discharges:
        if patient["id"] not in seen:
            seen.add(patient["id"])
            entry.append({"resource": patient})
        entry.extend(({"resource": encounter}, {"resource": condition}))
    name = f"discharges-{number:03d}.json"
    data = json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entry}, separators=(",", ":"))
    return Written(name, write_bytes(base / name, data.encode()), len(entry))


def _admissions(rng: np.random.Generator, trust: str, record_id: str, row, extract: dt.date) -> list[tuple]:
    """One person's discharges from one trust in the two years before the extract."""
    if row is None:  # someone with no GP record in the run
        ident = _stranger(rng, "E1", extract)
        n_adm, last, dead, care_home = 1, to_days(extract), False, False
        diag = int(codebook().efi["falls"].draw(rng, 1)[0])
    else:
        ident = _noisy_identity(rng, row, HOSPITAL_NOISE)
        n_adm, last, diag = int(row.admissions), int(row.end), int(row.diagnosis)
        dead, care_home = bool(row.dead), bool(row.care_home)
    patient = _fhir_patient(record_id, ident)
    out = []
    for j, adm in enumerate(np.sort(last - rng.integers(1, 730, n_adm))):
        dis = min(int(adm) + int(rng.geometric(0.2)) - 1, last)
        if dead and j == n_adm - 1 and rng.random() < 0.4:
            disposition = DISPOSITIONS[3]
        elif care_home:
            disposition = DISPOSITIONS[1]
        else:
            disposition = DISPOSITIONS[2] if rng.random() < 0.05 else DISPOSITIONS[0]
        out.append(_discharge(trust, record_id, f"{record_id}-{j + 1}", patient, int(adm), dis, diag, disposition))
    return out


def _fhir_patient(record_id: str, ident: dict[str, str]) -> dict:
    res: dict = {"resourceType": "Patient", "id": record_id}
    if ident["nhs_number"]:
        res["identifier"] = [{"system": C.NHS_SYSTEM, "value": ident["nhs_number"]}]
    res["name"] = [{"family": ident["family_name"], "given": [ident["given_name"]]}]
    res["gender"] = {"M": "male", "F": "female", "U": "unknown"}.get(ident["sex"], "unknown")
    res["birthDate"] = ident["date_of_birth"]
    if ident["postcode"]:
        res["address"] = [{"postalCode": ident["postcode"]}]
    return res


def _discharge(trust: str, record_id: str, enc_id: str, patient: dict, adm: int, dis: int, diag: int,
               disposition: str) -> tuple[dict, dict, dict]:  # fmt: skip
    def iso(d: int) -> str:
        return (EPOCH + dt.timedelta(days=d)).isoformat()

    encounter = {
        "resourceType": "Encounter",
        "id": enc_id,
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "subject": {"reference": f"Patient/{record_id}"},
        "period": {"start": iso(adm), "end": iso(dis)},
        "serviceProvider": {"identifier": {"system": C.ODS_SYSTEM, "value": trust}},
        "hospitalization": {"dischargeDisposition": {"coding": [{"display": disposition}]}},
    }
    condition = {
        "resourceType": "Condition",
        "id": f"{enc_id}-dx",
        "subject": {"reference": f"Patient/{record_id}"},
        "encounter": {"reference": f"Encounter/{enc_id}"},
        "code": {"coding": [{"system": C.SCT, "code": str(diag)}]},
        "recordedDate": iso(dis),
    }
    return patient, encounter, condition

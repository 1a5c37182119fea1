"""Seeded synthetic GP patients and noisy social-care / hospital feeds with known truth.

Linkage quality can only be measured against truth. The synth layer produces full synthetic London;
this module produces just the identifying columns, fast enough (vectorised NumPy) for the 10.7 M-patient
benchmark, with each kind of real-world error switchable and counted: missing and wrong NHS numbers,
typos, nicknames, changed surnames, transposed day/month, house moves, people who are not GP-registered.
Tests and `benchmarks/bench_linkage.py` use it; production never does.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from carecommons.identity.names import NICKNAMES

GIVEN_F = (
    "OLIVIA AMELIA ISLA AVA MIA SOPHIA GRACE LILY FREYA EMILY IVY ELLA ROSIE EVIE FLORENCE POPPY CHARLOTTE "
    "WILLOW SIENNA ISABELLA PHOEBE SOFIA ALICE MAYA AISHA FATIMA MARYAM ZAINAB AMINA PRIYA ANJALI SARAH "
    "HANNAH JESSICA LAURA EMMA REBECCA RACHEL CHLOE LUCY MEGAN NATALIE NICOLA CLAIRE HELEN JOANNE JULIE "
    "KAREN LISA MICHELLE SAMANTHA SUSAN PATRICIA MARGARET ELIZABETH KATHERINE DEBORAH JENNIFER VICTORIA "
    "ABIGAIL ALEXANDRA MARY ANNE BARBARA DOROTHY JOAN GLORIA BLESSING CHIOMA NGOZI ADAEZE YETUNDE "
    "AGNIESZKA KATARZYNA ANNA MARIA ELENA SHIRIN LEILA NADIA SAMIRA YASMIN"
).split()
GIVEN_M = (
    "NOAH OLIVER GEORGE ARTHUR MUHAMMAD LEO HARRY OSCAR ARCHIE HENRY THEODORE FREDDIE JACK CHARLIE THEO "
    "JACOB ALFIE FINLEY ISAAC LUCA JAMES WILLIAM THOMAS JOSHUA DANIEL SAMUEL BENJAMIN JOSEPH MATTHEW "
    "ANDREW DAVID MICHAEL CHRISTOPHER RICHARD ROBERT JOHN PETER PAUL MARK STEPHEN ANTHONY EDWARD "
    "NICHOLAS ALEXANDER ALAN KEVIN GARY IAN NEIL SIMON MOHAMMED AHMED ALI HASSAN OMAR YUSUF IBRAHIM "
    "RAJESH ARJUN VIKRAM SANJAY AMIT CHUKWUEMEKA OLUWASEUN KWAME KOFI EMEKA TUNDE PIOTR TOMASZ "
    "KRZYSZTOF MARCIN ANDREI IOAN MIHAI GIUSEPPE MARCO CARLOS JOSE DIEGO"
).split()
FAMILY = (
    "SMITH JONES WILLIAMS TAYLOR BROWN DAVIES EVANS WILSON THOMAS JOHNSON ROBERTS ROBINSON THOMPSON WRIGHT "
    "WALKER WHITE EDWARDS HUGHES GREEN HALL LEWIS HARRIS CLARKE PATEL JACKSON WOOD TURNER MARTIN COOPER "
    "HILL WARD MORRIS MOORE CLARK LEE KING BAKER HARRISON MORGAN ALLEN JAMES SCOTT PHILLIPS WATSON DAVIS "
    "PARKER PRICE BENNETT YOUNG GRIFFITHS MITCHELL KELLY COOK CARTER RICHARDSON BAILEY COLLINS BELL SHAW "
    "MURPHY MILLER COX RICHARDS KHAN MARSHALL ANDERSON SIMPSON ELLIS ADAMS SINGH BEGUM WILKINSON FOSTER "
    "CHAPMAN POWELL WEBB ROGERS GRAY MASON ALI HUNT HUSSAIN CAMPBELL MATTHEWS OWEN PALMER HOLMES MILLS "
    "BARNES KNIGHT LLOYD BUTLER RUSSELL BARKER FISHER STEVENS JENKINS MURRAY DIXON HARVEY GRAHAM PEARSON "
    "AHMED FLETCHER WALSH KAUR GIBSON HOWARD ANDREWS STEWART ELLIOTT REYNOLDS SAUNDERS PAYNE FOX FORD "
    "PEARCE DAY BROOKS WEST LAWRENCE COLE ATKINSON BRADLEY SPENCER GILL DAWSON BALL BURTON OBRIEN WATTS "
    "ROSE BOOTH PERRY RYAN GRANT WELLS ARMSTRONG FRANCIS REES HAYES HART HUDSON NEWMAN BARRETT WEBSTER "
    "HUNTER GREGORY CARR LOWE PAGE MARSH RILEY DUNN WOODS PARSONS BERRY STONE REID HOLLAND HAWKINS HARDING "
    "PORTER ROBERTSON NEWTON OLIVER REED KENNEDY WILLIAMSON BIRD GARDNER SHAH DEAN LANE COLEMAN "
    "OKONKWO ADEYEMI MENSAH OWUSU BOATENG OKAFOR NOWAK KOWALSKI WISNIEWSKI POPESCU IONESCU ROSSI "
    "RUSSO FERREIRA SILVA SANTOS RODRIGUES GARCIA MARTINEZ YILMAZ KAYA DEMIR CHOWDHURY RAHMAN MIAH "
    "UDDIN ISLAM MAHMOOD IQBAL AKHTAR NGUYEN TRAN CHEN WANG ZHANG LI LIU"
).split()
_AREAS = "E EC N NW SE SW W WC BR CR DA EN HA IG KT RM SM TW UB".split()
_UNIT_LETTERS = np.array(list("ABDEFGHJLNPQRSTUWXYZ"))
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_FORMAL_TO_NICK: dict[str, list[str]] = {}
for _nick, _formal in NICKNAMES.items():
    _FORMAL_TO_NICK.setdefault(_formal, []).append(_nick)


@dataclass(frozen=True)
class NoiseRates:
    """Chance of each fault per feed record. Defaults are a hard but plausible local-authority feed."""

    not_in_gp: float = 0.03
    nhs_missing: float = 0.35
    nhs_wrong: float = 0.05
    given_typo: float = 0.08
    given_nickname: float = 0.04
    family_typo: float = 0.08
    family_changed: float = 0.02
    dob_transposed: float = 0.02
    dob_typo: float = 0.03
    postcode_moved: float = 0.10
    postcode_missing: float = 0.03
    sex_missing: float = 0.01


def _nhs_numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    """`n` distinct valid NHS numbers as 10-character strings (Modulus 11 computed vectorised)."""
    weights = np.arange(10, 1, -1, dtype=np.int64)
    out = np.empty(0, dtype=np.int64)
    while out.size < n:
        draw = np.unique(rng.integers(400_000_000, 999_999_999, size=int((n - out.size) * 1.2) + 16))
        digits = (draw[:, None] // (10 ** np.arange(8, -1, -1, dtype=np.int64))) % 10
        check = 11 - (digits @ weights) % 11
        check = np.where(check == 11, 0, check)
        ok = check != 10
        full = draw[ok] * 10 + check[ok]
        out = np.unique(np.concatenate([out, full]))
    out = rng.permutation(out)[:n]
    return out.astype("U10")


def _postcode_pool(rng: np.random.Generator, size: int) -> np.ndarray:
    area = np.array(_AREAS)[rng.integers(0, len(_AREAS), size)]
    district = rng.integers(1, 29, size).astype("U2")
    sector = rng.integers(0, 10, size).astype("U1")
    u1 = _UNIT_LETTERS[rng.integers(0, len(_UNIT_LETTERS), size)]
    u2 = _UNIT_LETTERS[rng.integers(0, len(_UNIT_LETTERS), size)]
    outward = np.char.add(area, district)
    return np.char.add(np.char.add(np.char.add(outward, " "), sector), np.char.add(u1, u2))


def gp_population(n: int, seed: int, first_patient_id: int = 1) -> pa.Table:
    """`n` GP patients: patient_id, nhs_number, given_name, family_name, date_of_birth, sex, postcode.

    About 12 people share a postcode, as in a London street; ages run 0-100 years.
    """
    rng = np.random.default_rng(seed)
    sex = np.where(rng.random(n) < 0.5, "F", "M")
    given = np.where(
        sex == "F",
        np.array(GIVEN_F)[rng.integers(0, len(GIVEN_F), n)],
        np.array(GIVEN_M)[rng.integers(0, len(GIVEN_M), n)],
    )
    family = np.array(FAMILY)[rng.integers(0, len(FAMILY), n)]
    start = np.datetime64("1925-01-01")
    dob = start + rng.integers(0, 36_500, n).astype("timedelta64[D]")
    pool = _postcode_pool(rng, max(100, n // 12))
    postcode = pool[rng.integers(0, pool.size, n)]
    return pa.table(
        {
            "patient_id": pa.array(np.arange(first_patient_id, first_patient_id + n, dtype=np.int64)),
            "nhs_number": pa.array(_nhs_numbers(rng, n)),
            "given_name": pa.array(given),
            "family_name": pa.array(family),
            "date_of_birth": pa.array(dob.astype("datetime64[D]"), type=pa.date32()),
            "sex": pa.array(sex),
            "postcode": pa.array(postcode),
        }
    )


def _typo(rng: np.random.Generator, word: str) -> str:
    """One keyboard-style edit: substitute, delete, insert or swap adjacent letters."""
    if len(word) < 2:
        return word + _LETTERS[rng.integers(26)]
    i = int(rng.integers(0, len(word) - 1))
    kind = int(rng.integers(4))
    if kind == 0:
        return word[:i] + _LETTERS[rng.integers(26)] + word[i + 1 :]
    if kind == 1:
        return word[:i] + word[i + 1 :]
    if kind == 2:
        return word[:i] + _LETTERS[rng.integers(26)] + word[i:]
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def noisy_feed(
    gp: pa.Table,
    n: int,
    feed: str,
    seed: int,
    rates: NoiseRates | None = None,
) -> tuple[pa.Table, pa.Table]:
    """(records, truth) for `n` feed records drawn from `gp` (with replacement) plus non-GP people.

    records: record_id, nhs_number, given_name, family_name, date_of_birth, sex, postcode.
    truth: feed, record_id, patient_id (NULL for someone not registered with a GP), as in truth/identity.csv.
    """
    r = rates or NoiseRates()
    rng = np.random.default_rng(seed)
    src_idx = rng.integers(0, gp.num_rows, n)
    taken = gp.take(pa.array(src_idx))
    nhs = taken.column("nhs_number").to_numpy(zero_copy_only=False).astype(object)
    given = taken.column("given_name").to_numpy(zero_copy_only=False).astype(object)
    family = taken.column("family_name").to_numpy(zero_copy_only=False).astype(object)
    dob = taken.column("date_of_birth").to_numpy(zero_copy_only=False).astype("datetime64[D]")
    sex = taken.column("sex").to_numpy(zero_copy_only=False).astype(object)
    postcode = taken.column("postcode").to_numpy(zero_copy_only=False).astype(object)
    patient = taken.column("patient_id").to_numpy().astype(object)

    outsiders = np.flatnonzero(rng.random(n) < r.not_in_gp)
    if outsiders.size:
        other = gp_population(outsiders.size, seed + 1_000_003, first_patient_id=0)
        given[outsiders] = other.column("given_name").to_numpy(zero_copy_only=False)
        family[outsiders] = other.column("family_name").to_numpy(zero_copy_only=False)
        dob[outsiders] = other.column("date_of_birth").to_numpy(zero_copy_only=False).astype("datetime64[D]")
        sex[outsiders] = other.column("sex").to_numpy(zero_copy_only=False)
        postcode[outsiders] = other.column("postcode").to_numpy(zero_copy_only=False)
        nhs[outsiders] = None  # an unregistered person has no NHS number a GP could hold
        patient[outsiders] = None

    def pick(p: float) -> np.ndarray:
        return np.flatnonzero(rng.random(n) < p)

    gp_nhs = gp.column("nhs_number").to_numpy(zero_copy_only=False)
    for i in pick(r.nhs_wrong):
        if nhs[i] is None:
            continue
        if rng.random() < 0.5:  # adjacent digits swapped: usually fails the check
            j = int(rng.integers(0, 9))
            s = nhs[i]
            nhs[i] = s[:j] + s[j + 1] + s[j] + s[j + 2 :]
        else:  # another patient's number: passes the check, points at the wrong person
            nhs[i] = gp_nhs[rng.integers(0, gp_nhs.size)]
    nhs[pick(r.nhs_missing)] = None
    for i in pick(r.given_nickname):
        nicks = _FORMAL_TO_NICK.get(given[i])
        if nicks:
            given[i] = nicks[int(rng.integers(len(nicks)))]
    for i in pick(r.given_typo):
        given[i] = _typo(rng, given[i])
    for i in pick(r.family_typo):
        family[i] = _typo(rng, family[i])
    for i in pick(r.family_changed):
        family[i] = FAMILY[int(rng.integers(len(FAMILY)))]
    for i in pick(r.dob_transposed):
        d = dob[i].astype(dt.date)
        if d.day <= 12 and d.day != d.month:
            dob[i] = np.datetime64(dt.date(d.year, d.day, d.month))
    typo_idx = pick(r.dob_typo)
    shift = rng.choice(np.array([-10, -1, 1, 10, -365, 365]), typo_idx.size).astype("timedelta64[D]")
    dob[typo_idx] = dob[typo_idx] + shift
    moved = pick(r.postcode_moved)
    if moved.size:
        postcode[moved] = _postcode_pool(rng, moved.size)
    postcode[pick(r.postcode_missing)] = None
    sex[pick(r.sex_missing)] = None

    record_id = np.char.add(f"{feed[:2].upper()}-", np.arange(1, n + 1).astype("U12"))
    records = pa.table(
        {
            "record_id": pa.array(record_id),
            "nhs_number": pa.array(nhs, type=pa.string()),
            "given_name": pa.array(given, type=pa.string()),
            "family_name": pa.array(family, type=pa.string()),
            "date_of_birth": pa.array(dob, type=pa.date32()),
            "sex": pa.array(sex, type=pa.string()),
            "postcode": pa.array(postcode, type=pa.string()),
        }
    )
    truth = pa.table(
        {
            "feed": pa.array([feed] * n),
            "record_id": pa.array(record_id),
            "patient_id": pa.array(patient, type=pa.int64()),
        }
    )
    return records, truth


def load_into_store(
    con: duckdb.DuckDBPyConnection,
    gp: pa.Table,
    social_care: pa.Table | None = None,
    hospital: pa.Table | None = None,
) -> None:
    """Insert simulated rows into the canonical tables, filling required organisational columns."""
    con.register("_noise_gp", gp)
    con.execute(
        "INSERT INTO patients (patient_id, nhs_number, given_name, family_name, date_of_birth, sex, postcode, "
        "practice_id, load_id) SELECT patient_id, nhs_number, given_name, family_name, date_of_birth, sex, "
        "postcode, 'P' || lpad(CAST(patient_id % 1200 AS VARCHAR), 5, '0'), 'noise' FROM _noise_gp"
    )
    con.unregister("_noise_gp")
    if social_care is not None:
        con.register("_noise_sc", social_care)
        con.execute(
            "INSERT INTO social_care_records (record_id, nhs_number, given_name, family_name, date_of_birth, sex, "
            "postcode, local_authority, load_id) SELECT record_id, nhs_number, given_name, family_name, "
            "date_of_birth, sex, postcode, 'E09000001', 'noise' FROM _noise_sc"
        )
        con.unregister("_noise_sc")
    if hospital is not None:
        con.register("_noise_h", hospital)
        con.execute(
            "INSERT INTO hospital_records (record_id, nhs_number, given_name, family_name, date_of_birth, sex, "
            "postcode, trust_code, load_id) SELECT record_id, nhs_number, given_name, family_name, "
            "date_of_birth, sex, postcode, 'RAL', 'noise' FROM _noise_h"
        )
        con.unregister("_noise_h")

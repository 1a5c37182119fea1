"""The codes synth writes, drawn only from the shipped codelists (Verhoeff-checked by reference.codelists).

A generated record should look like a real one: most patients carry the common generic code of a condition
("Type 2 diabetes mellitus"), a minority one of the many specific codes. So each pick has a few *preferred*
codes (looked up in the codelist; ignored if absent) taking most of the probability, the rest spread evenly.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from carecommons.core.errors import ConfigurationError
from carecommons.reference.codelists import Codelist, shipped
from carecommons.synth.config import OPT_OUT_TYPE1_CODE

PREFERRED_SHARE = 0.85


@dataclass(frozen=True)
class CodePick:
    """Codes (as strings) with draw probabilities; `source` names the codelist(s) for documentation."""

    codes: np.ndarray
    probs: np.ndarray
    source: str

    def __post_init__(self) -> None:
        # Cached forms for draw(): codes as int64 (every SNOMED CT and dm+d id fits) and the cumulative
        # distribution (inverse-CDF sampling is much cheaper than Generator.choice with p on every call).
        object.__setattr__(self, "ints", self.codes.astype(np.int64))
        object.__setattr__(self, "cdf", np.cumsum(self.probs))

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n codes as int64."""
        idx = np.searchsorted(self.cdf, rng.random(n) * self.cdf[-1], side="right")
        return self.ints[np.minimum(idx, len(self.ints) - 1)]


def _pick(
    lists: list[Codelist],
    preferred: tuple[str, ...] = (),
    term_filter: tuple[str, ...] = (),
    exclude: frozenset[str] = frozenset(),
) -> CodePick:
    codes: dict[str, str] = {}
    for cl in lists:
        for c in sorted(cl.codes):
            term = cl.terms.get(c, "").lower()
            if c in exclude or (term_filter and not any(t in term for t in term_filter)):
                continue
            codes.setdefault(c, term)
    if not codes:
        raise ConfigurationError(
            ",".join(cl.id for cl in lists), "no codes left after filtering", "check the shipped codelist"
        )
    arr = np.array(sorted(codes), dtype=object)
    pref = [c for c in preferred if c in codes]
    probs = np.ones(len(arr))
    if pref and len(pref) < len(arr):
        is_pref = np.isin(arr, pref)
        probs = np.where(is_pref, PREFERRED_SHARE / len(pref), (1 - PREFERRED_SHARE) / (len(arr) - len(pref)))
    probs = probs / probs.sum()
    return CodePick(arr.astype(str), probs, "+".join(cl.id for cl in lists))


def _pcd(cluster: str) -> Codelist:
    return shipped(f"nhsd-primary-care-domain-refsets-{cluster}")


@dataclass(frozen=True)
class Register:
    """A QOF register the generator populates: reference group code, code pick, minimum age of the QOF
    denominator, and an age-risk shape (logistic midpoint/width in years; None = flat)."""

    group: str
    pick: CodePick
    min_age: int
    age_mid: float | None
    age_width: float


@dataclass(frozen=True)
class CodeBook:
    registers: dict[str, Register]
    dm_type1: CodePick
    dm_type2: CodePick
    sys_bp: CodePick
    dia_bp: CodePick
    hba1c: CodePick
    cholesterol: CodePick
    bmi: CodePick
    egfr: CodePick
    smoke_current: CodePick
    smoke_ex: CodePick
    smoke_never: CodePick
    care_home: CodePick
    housebound: CodePick
    carer: CodePick
    flu_vaccine_dmd: CodePick
    flu_given_sct: CodePick
    efi: dict[str, CodePick]
    opt_out: str


_PCD = "nhsd-primary-care-domain-refsets-"

#: QOF group -> (codelist stems, preferred generic codes, QOF denominator minimum age, age-risk midpoint, width).
#: Age-risk curves are modelling choices (logistic in age; None = flat), tuned so the old carry most chronic disease.
REGISTER_SPECS: dict[str, tuple[tuple[str, ...], tuple[str, ...], int, float | None, float]] = {
    "HYP": ((f"{_PCD}hyp_cod",), ("38341003", "59621000", "1201005"), 0, 66.0, 10.0),
    "DM": ((f"{_PCD}dm_cod",), ("44054006", "46635009"), 17, 62.0, 11.0),
    "AST": ((f"{_PCD}ast_cod",), ("195967001",), 0, None, 1.0),
    "COPD": ((f"{_PCD}copd_cod",), ("13645005",), 0, 70.0, 8.0),
    "CHD": ((f"{_PCD}chd_cod",), ("53741008", "22298006", "194828000"), 0, 74.0, 8.0),
    "AF": ((f"via_search_index/{_PCD}afib_cod.csv",), ("49436004", "282825002"), 0, 79.0, 7.0),
    "HF": ((f"{_PCD}hf_cod",), ("84114007",), 0, 81.0, 7.0),
    "STIA": ((f"{_PCD}strk_cod", f"{_PCD}tia_cod"), ("230690007", "266257000"), 0, 77.0, 8.0),
    "CKD": ((f"{_PCD}ckd_cod",), ("433144002", "431855005", "431856006"), 18, 77.0, 8.0),
    "DEM": ((f"{_PCD}dem_cod",), ("52448006", "26929004"), 0, 84.0, 5.0),
    "DEP": ((f"{_PCD}depr_cod",), ("35489007",), 18, None, 1.0),
    "MH": ((f"{_PCD}mh_cod",), ("58214004", "13746004"), 0, None, 1.0),
    "CAN": (
        (f"{_PCD}solid-cancer-diagnosis-codes", f"{_PCD}c19haemcan_cod"),
        ("254837009", "399068003", "363406005", "363358000"),
        0,
        70.0,
        11.0,
    ),
    "LD": ((f"{_PCD}ld_cod",), ("110359009",), 0, None, 1.0),
    "EP": ((f"{_PCD}epil_cod",), ("84757009",), 18, None, 1.0),
    "PC": ((f"{_PCD}palcare_cod",), ("103735009",), 0, 84.0, 8.0),
    "OST": ((f"{_PCD}osteo_cod",), ("64859006",), 50, 76.0, 7.0),
    "RA": ((f"{_PCD}rarth_cod",), ("69896004",), 16, 60.0, 12.0),
    "PAD": ((f"{_PCD}pad_cod",), ("399957001", "840580004"), 0, 75.0, 8.0),
}

EFI_DEFICITS = (
    "activity-limitation anaemia arthritis atrial-fibrillation care-requirement chd ckd cognitive-problems diabetes "
    "dizziness dyspnoea falls foot-problems fragility-fracture hearing-loss heart-failure heart-valve-disease "
    "housebound hypertension hypotension mobility-problems osteoporosis parkinsons peptic-ulcer pvd "
    "respiratory-disease skin-ulcer sleep-disturbance social-vulnerability stroke-tia thyroid-disorders "
    "urinary-incontinence urinary-system-disease vision-problems weight-loss"
).split()


@lru_cache(maxsize=1)
def codebook() -> CodeBook:
    """Load every codelist synth needs once per process (about a second)."""
    dm = _pcd("dm_cod")
    lists = {group: [shipped(stem) for stem in stems] for group, (stems, *_rest) in REGISTER_SPECS.items()}
    full = {group: frozenset().union(*(cl.codes for cl in cls)) for group, cls in lists.items()}
    registers = {}
    for group, (_stems, preferred, min_age, mid, width) in REGISTER_SPECS.items():
        # A code on two registers' lists (e.g. psychotic depression: DEP and MH) would put people on both;
        # leave such codes out so each register's prevalence is controlled on its own.
        others = frozenset().union(*(codes for g, codes in full.items() if g != group))
        registers[group] = Register(group, _pick(lists[group], preferred, exclude=others), min_age, mid, width)
    egfr = shipped("gm-sde/egfr.snomed.txt")
    # eFI deficit lists overlap the registers (dementia codes are "cognitive problems", COPD codes "respiratory
    # disease"); deficits drawn on their own must not put people on registers, so register codes are excluded.
    register_codes = frozenset().union(*full.values())
    not_dm = frozenset().union(*(codes for g, codes in full.items() if g != "DM"))
    return CodeBook(
        registers=registers,
        dm_type1=_pick([dm], ("46635009",), ("type 1", "type i ", "type i diabetes"), exclude=not_dm),
        dm_type2=_pick([dm], ("44054006",), ("type 2", "type ii"), exclude=not_dm),
        sys_bp=_pick([shipped("opensafely-systolic-blood-pressure-qof")], ("72313002", "163030003")),
        dia_bp=_pick([shipped("user-milanwiedemann-diastolic-blood-pressure-qof")], ("1091811000000102", "163031004")),
        hba1c=_pick([shipped("gm-sde/hba1c.snomed.txt")], ("999791000000106", "1049301000000100"), ("ifcc",)),
        cholesterol=_pick([shipped("opensafely-cholesterol-tests")], ("1005671000000105", "1017161000000104")),
        bmi=_pick([shipped("primis-covid19-vacc-uptake-bmi")], ("60621009",)),
        egfr=_pick([egfr], ("1011481000000105",)),
        smoke_current=_pick(
            [shipped("via_search_index/nhsd-primary-care-domain-refsets-lsmok_cod.csv")], ("77176002", "65568007")
        ),
        smoke_ex=_pick([shipped("via_search_index/nhsd-primary-care-domain-refsets-exsmok_cod.csv")], ("8517006",)),
        smoke_never=_pick([shipped("gm-sde/smoking-status-never.snomed.txt")], ("266919005",)),
        care_home=_pick([_pcd("carehome_cod")], ("160734000", "160737007"), ("lives in", "resident")),
        housebound=_pick([shipped("opensafely-housebound")], ("138079003",)),
        carer=_pick([shipped("primis-covid19-vacc-uptake-carer")], ("224562009", "407542009")),
        flu_vaccine_dmd=_pick([shipped("opensafely-influenza-vaccination")]),
        flu_given_sct=_pick(
            [shipped("gm-sde/flu-vaccination.snomed.txt")], ("822851000000102",), ("given", "vaccination")
        ),
        efi={d: _pick([shipped(f"efi_gm-sde/efi-{d}.snomed.txt")], exclude=register_codes) for d in EFI_DEFICITS},
        opt_out=OPT_OUT_TYPE1_CODE,
    )

"""The codelists the London library refers to by short id, each typed by coding system and traceable to a file.

Definitions name codelists by a short id ("hyp", "bp_sys"); this registry says which shipped file backs it
(reference/data/codelists, or definitions/library/codelists for lists the reference data lacked; see the
README there for sources) and which coding system it is in. Loading goes through
carecommons.reference.codelists, so every SNOMED CT id is Verhoeff-checked and a corrupt list fails loudly.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from carecommons.core.errors import InvalidInput, NotFound
from carecommons.reference.codelists import CODELIST_DIR, Codelist, load_csv, load_txt

LIBRARY_CODELIST_DIR = Path(__file__).resolve().parent / "library" / "codelists"

#: Which coding systems each source table holds (core.schema): a dm+d list on events would match nothing.
TABLE_SYSTEMS = {"events": {"snomedct"}, "medications": {"dmd"}, "vaccinations": {"snomedct", "dmd"}}


@dataclass(frozen=True)
class CodelistSpec:
    id: str
    path: Path
    system: str
    description: str


def _ref(name: str) -> Path:
    return CODELIST_DIR / name


def _lib(name: str) -> Path:
    return LIBRARY_CODELIST_DIR / name


_PCD = "nhsd-primary-care-domain-refsets-{}_cod.csv"

SPECS: tuple[CodelistSpec, ...] = (
    CodelistSpec("hyp", _ref(_PCD.format("hyp")), "snomedct", "HYP_COD hypertension diagnosis"),
    CodelistSpec("hyp_res", _ref(_PCD.format("hypres")), "snomedct", "HYPRES_COD hypertension resolved"),
    CodelistSpec("dm", _ref(_PCD.format("dm")), "snomedct", "DM_COD diabetes diagnosis"),
    CodelistSpec("dm_res", _ref(_PCD.format("dmres")), "snomedct", "DMRES_COD diabetes resolved"),
    CodelistSpec("ast", _ref(_PCD.format("ast")), "snomedct", "AST_COD asthma diagnosis"),
    CodelistSpec("ast_res", _ref(_PCD.format("astres")), "snomedct", "ASTRES_COD asthma resolved"),
    CodelistSpec("copd", _ref(_PCD.format("copd")), "snomedct", "COPD_COD COPD diagnosis"),
    CodelistSpec("copd_res", _ref(_PCD.format("copdres")), "snomedct", "COPDRES_COD COPD resolved"),
    CodelistSpec("chd", _ref(_PCD.format("chd")), "snomedct", "CHD_COD coronary heart disease"),
    CodelistSpec(
        "afib", _ref("via_search_index/" + _PCD.format("afib")), "snomedct", "AFIB_COD atrial fibrillation (20250912)"
    ),
    CodelistSpec("hf", _ref(_PCD.format("hf")), "snomedct", "HF_COD heart failure"),
    CodelistSpec("hf_res", _ref(_PCD.format("hfres")), "snomedct", "HFRES_COD heart failure resolved"),
    CodelistSpec("strk", _ref(_PCD.format("strk")), "snomedct", "STRK_COD stroke"),
    CodelistSpec("tia", _ref(_PCD.format("tia")), "snomedct", "TIA_COD transient ischaemic attack"),
    CodelistSpec("pad", _ref(_PCD.format("pad")), "snomedct", "PAD_COD peripheral arterial disease"),
    CodelistSpec("ckd", _ref(_PCD.format("ckd")), "snomedct", "CKD_COD CKD stage 3a-5"),
    CodelistSpec("ckd12", _ref(_PCD.format("ckd1and2")), "snomedct", "CKD1AND2_COD CKD stage 1-2"),
    CodelistSpec("ckd_res", _ref(_PCD.format("ckdres")), "snomedct", "CKDRES_COD CKD resolved"),
    CodelistSpec("dem", _ref(_PCD.format("dem")), "snomedct", "DEM_COD dementia"),
    CodelistSpec("depr", _ref(_PCD.format("depr")), "snomedct", "DEPR_COD depression"),
    CodelistSpec("depr_res", _ref(_PCD.format("depres")), "snomedct", "DEPRES_COD depression resolved"),
    CodelistSpec("mh", _ref(_PCD.format("mh")), "snomedct", "MH_COD psychosis, schizophrenia, bipolar"),
    CodelistSpec(
        "mh_res",
        _ref("primis-covid19-vacc-uptake-smhres.csv"),
        "snomedct",
        "PRIMIS SMHRES (nearest available to MHREM_COD remission)",
    ),
    CodelistSpec(
        "cancer_solid",
        _ref("nhsd-primary-care-domain-refsets-solid-cancer-diagnosis-codes.csv"),
        "snomedct",
        "NHSD solid cancer diagnosis (substitute for CAN_COD)",
    ),
    CodelistSpec("cancer_haem", _ref(_PCD.format("c19haemcan")), "snomedct", "C19HAEMCAN_COD haematological cancer"),
    CodelistSpec("ld", _ref(_PCD.format("ld")), "snomedct", "LD_COD learning disability"),
    CodelistSpec("bmi", _ref("via_search_index/" + _PCD.format("bmival")), "snomedct", "BMIVAL_COD BMI value"),
    CodelistSpec("palcare", _ref(_PCD.format("palcare")), "snomedct", "PALCARE_COD palliative care"),
    CodelistSpec("palcare_ni", _ref(_PCD.format("palcareni")), "snomedct", "PALCARENI_COD palliative care no longer"),
    CodelistSpec("bp", _ref(_PCD.format("bp")), "snomedct", "BP_COD blood pressure recording"),
    CodelistSpec("bp_dec", _ref(_PCD.format("bpdec")), "snomedct", "BPDEC_COD blood pressure declined"),
    CodelistSpec(
        "bp_sys", _ref("opensafely-systolic-blood-pressure-qof.csv"), "snomedct", "systolic blood pressure (QOF)"
    ),
    CodelistSpec(
        "bp_dia",
        _ref("user-milanwiedemann-diastolic-blood-pressure-qof.csv"),
        "snomedct",
        "diastolic blood pressure (QOF)",
    ),
    CodelistSpec("hyp_pca_dec", _ref(_PCD.format("hyppcadec")), "snomedct", "HYPPCADEC_COD declined hypertension care"),
    CodelistSpec("hyp_pca_pu", _ref(_PCD.format("hyppcapu")), "snomedct", "HYPPCAPU_COD hypertension care unsuitable"),
    CodelistSpec("ht_max", _ref(_PCD.format("htmax")), "snomedct", "HTMAX_COD maximal tolerated BP therapy"),
    CodelistSpec("hba1c", _ref(_PCD.format("ifcchbam")), "snomedct", "IFCCHBAM_COD HbA1c (IFCC mmol/mol)"),
    CodelistSpec("dm_pca_dec", _ref(_PCD.format("dmpcadec")), "snomedct", "DMPCADEC_COD declined diabetes care"),
    CodelistSpec("dm_pca_pu", _ref(_PCD.format("dmpcapu")), "snomedct", "DMPCAPU_COD diabetes care unsuitable"),
    CodelistSpec("dm_max", _ref(_PCD.format("dmmax")), "snomedct", "DMMAX_COD maximal tolerated diabetes therapy"),
    CodelistSpec("frail_mod", _ref(_PCD.format("modfrail")), "snomedct", "MODFRAIL_COD moderate frailty"),
    CodelistSpec("frail_sev", _ref(_PCD.format("sevfrail")), "snomedct", "SEVFRAIL_COD severe frailty"),
    CodelistSpec("doac", _lib("opensafely-direct-acting-oral-anticoagulants-doac.csv"), "dmd", "DOACs (dm+d VMP/AMP)"),
    CodelistSpec("warfarin", _lib("opensafely-warfarin.csv"), "dmd", "warfarin (dm+d VMP/AMP)"),
    CodelistSpec("statin", _lib("opensafely-statin-medication.csv"), "dmd", "statins (dm+d VMP/AMP)"),
    CodelistSpec(
        "ast_review", _lib("opensafely-asthma-annual-review-qof.csv"), "snomedct", "asthma annual review (QOF)"
    ),
    CodelistSpec(
        "copd_review",
        _lib("opensafely-chronic-obstructive-pulmonary-disease-copd-review-qof.csv"),
        "snomedct",
        "COPD review (QOF)",
    ),
    CodelistSpec(
        "dem_careplan", _lib("carecommons-dementia-care-plan.csv"), "snomedct", "DEMCP_COD dementia care plan"
    ),
    CodelistSpec(
        "flu_given", _ref("gm-sde/flu-vaccination.snomed.txt"), "snomedct", "influenza vaccination given (SNOMED CT)"
    ),
    CodelistSpec(
        "flu_vaccine", _ref("opensafely-influenza-vaccination.csv"), "dmd", "influenza vaccine products (dm+d)"
    ),
)

SPECS_BY_ID = {s.id: s for s in SPECS}


def load_spec(spec: CodelistSpec) -> Codelist:
    """Load one codelist file as the declared system (SNOMED CT ids Verhoeff-checked by the loader)."""
    if not spec.path.is_file():
        raise NotFound(str(spec.path), f"codelist file for {spec.id!r} is missing", "restore it from the repository")
    if spec.path.suffix == ".txt":
        loaded = load_txt(spec.path, codelist_id=spec.id)
        if loaded.system != spec.system:
            raise InvalidInput(spec.id, f"file is {loaded.system}, registry says {spec.system}", "fix the registry")
        return loaded
    return load_csv(spec.path, system=spec.system, codelist_id=spec.id)


@cache
def library_codelists() -> dict[str, Codelist]:
    """Every codelist of the London library, loaded once per process."""
    return {s.id: load_spec(s) for s in SPECS}


def check_table_system(table: str, codelist: Codelist, where: str) -> None:
    """Refuse a frame whose codelist system cannot occur in its table (it would silently match nothing)."""
    if codelist.system not in TABLE_SYSTEMS[table]:
        raise InvalidInput(
            where,
            f"codelist {codelist.id!r} is {codelist.system} but table {table} holds {sorted(TABLE_SYSTEMS[table])}",
            "use a codelist in the table's coding system",
        )

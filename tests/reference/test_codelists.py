import pytest

from carecommons.core.errors import InvalidInput, NotFound
from carecommons.reference.codelists import CODELIST_DIR, is_snomed_id, load_csv, load_txt, shipped, verhoeff_ok


@pytest.mark.parametrize("code", ["195967001", "35489007", "38341003", "10562009", "1240751000000100", "2363"])
def test_verhoeff_accepts_real_ids(code):
    assert verhoeff_ok(code)


@pytest.mark.parametrize("code", ["195967002", "35489070", "2364", "12a4", ""])
def test_verhoeff_rejects_single_errors_and_transpositions(code):
    assert not (code and verhoeff_ok(code))


def test_every_shipped_codelist_loads_and_snomed_ids_pass_verhoeff():
    files = [p for p in CODELIST_DIR.rglob("*") if p.suffix in (".csv", ".txt")]
    assert len(files) > 150
    for p in files:
        cl = load_txt(p) if p.suffix == ".txt" else load_csv(p)
        assert len(cl) > 0, p
        if cl.system == "snomedct":
            assert all(is_snomed_id(c) for c in cl.codes)


def test_shipped_by_name():
    hyp = shipped("nhsd-primary-care-domain-refsets-hyp_cod")
    assert "38341003" in hyp and hyp.system == "snomedct"
    efi = shipped("efi_gm-sde/efi-chd.snomed")
    assert efi.system == "snomedct" and len(efi) > 10
    with pytest.raises(NotFound):
        shipped("no-such-list")


def test_corrupt_snomed_code_is_rejected_with_fix(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("code,term\n38341003,Hypertension\n38341004,typo\n")
    with pytest.raises(InvalidInput) as err:
        load_csv(p)
    assert "Verhoeff" in str(err.value) and "Fix:" in str(err.value)

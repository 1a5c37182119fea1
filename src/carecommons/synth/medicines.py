"""dm+d codes for the repeat medicines synth prescribes.

The shipped reference data has only one dm+d codelist (influenza vaccines). Statins and oral anticoagulants are
needed so that case-finding ("AF without anticoagulant", "CHD without statin") has something to find, so a few
real dm+d ids are listed here with their source. Gaps: no antihypertensive, metformin or insulin list is shipped or
listed here, so hypertension and diabetes have no drug rows (add a codelist to reference/data to fill them).

Sources (OpenCodelists downloads vendored in public OpenSAFELY repositories):
- DOACs: opensafely/direct-acting-oral-anticoagulants-doac, in opensafely/doacs-covid19 @ 95a2b0a
  (VMPs Apixaban 2.5mg tablets 703907006, Apixaban 5mg tablets 703908001).
- Statins: opensafely/statin-medication, in opensafely/FLUCATS @ 1897c40 (AMPs of Atorvastatin 20mg/40mg tablets).
"""

from __future__ import annotations

DOACS: tuple[str, ...] = ("703908001", "703907006")  # apixaban 5mg (usual AF dose), 2.5mg (reduced dose)
DOAC_PROBS: tuple[float, ...] = (0.8, 0.2)

STATINS: tuple[str, ...] = (
    "20491911000001107",  # Atorvastatin 20mg tablets (A A H Pharmaceuticals Ltd)
    "20494411000001102",  # Atorvastatin 20mg tablets (Teva UK Ltd)
    "20448411000001102",  # Atorvastatin 20mg tablets (Dexcel-Pharma Ltd)
    "20492311000001102",  # Atorvastatin 40mg tablets (A A H Pharmaceuticals Ltd)
    "20494711000001108",  # Atorvastatin 40mg tablets (Teva UK Ltd)
)
STATIN_PROBS: tuple[float, ...] = (0.3, 0.2, 0.1, 0.25, 0.15)

"""Ethnicity (16 groups, 2001 census categories) consistent with each borough.

The shipped reference data has no ethnicity by borough, so the six groups that vary most between boroughs are
given here per borough as APPROXIMATE 2011 Census shares (ONS KS201EW, rounded to whole percent; quoted from
general knowledge, not from a shipped file: refresh from ONS before any analytical use). The other ten groups
share each borough's remainder in London-wide 2011 proportions (ONS, approximate). Good enough for synthetic
data whose purpose is realistic variation (Tower Hamlets Bangladeshi, Harrow Indian, Havering White British),
not demographic research.

Codes come from the PRIMIS 2001-census ethnicity codelist (shipped), so ingest can map them to 16 and 6 groups
with the opensafely ethnicity codelist.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from carecommons.reference.codelists import shipped

GROUPS_16: tuple[str, ...] = (
    "White - British",
    "White - Irish",
    "White - Any other White background",
    "Mixed - White and Black Caribbean",
    "Mixed - White and Black African",
    "Mixed - White and Asian",
    "Mixed - Any other mixed background",
    "Asian or Asian British - Indian",
    "Asian or Asian British - Pakistani",
    "Asian or Asian British - Bangladeshi",
    "Asian or Asian British - Any other Asian background",
    "Black or Black British - Caribbean",
    "Black or Black British - African",
    "Black or Black British - Any other Black background",
    "Other Ethnic Groups - Chinese",
    "Other Ethnic Groups - Any other ethnic group",
)
#: 6-group of each 16-group (1 White, 2 Mixed, 3 Asian, 4 Black, 5 Chinese or other).
GROUP6_OF_16 = np.array([1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 5, 5])

#: London-wide 2011 shares (%) of the 16 groups, approximate (ONS 2011 Census, London region).
LONDON_16 = np.array([44.9, 2.2, 12.6, 1.5, 0.8, 1.2, 1.5, 6.6, 2.7, 2.7, 4.9, 4.2, 7.0, 2.1, 1.5, 3.4])

#: Borough shares (%) of White British, Indian, Pakistani, Bangladeshi, Black Caribbean, Black African (2011, approx.)
_BOROUGH_MAJOR: dict[str, tuple[float, float, float, float, float, float]] = {
    "Barking and Dagenham": (49, 4, 4, 4, 3, 15),
    "Barnet": (45, 7, 2, 1, 1, 5),
    "Bexley": (77, 3, 0.4, 0.3, 1, 6),
    "Brent": (18, 19, 5, 0.6, 8, 8),
    "Bromley": (77, 2, 0.4, 0.3, 2, 3),
    "Camden": (44, 3, 0.5, 6, 2, 5),
    "City of London": (57, 3, 0.2, 3, 0.6, 1),
    "Croydon": (47, 5, 3, 0.7, 9, 8),
    "Ealing": (30, 14, 4, 0.5, 4, 7),
    "Enfield": (41, 4, 1, 2, 5, 9),
    "Greenwich": (52, 5, 0.5, 0.7, 3, 14),
    "Hackney": (36, 3, 1, 2.5, 8, 11),
    "Hammersmith and Fulham": (45, 2, 1, 0.6, 4, 6),
    "Haringey": (35, 2, 1, 2, 7, 9),
    "Harrow": (31, 26, 3, 0.5, 2, 6),
    "Havering": (83, 2, 1, 0.5, 1, 4),
    "Hillingdon": (52, 13, 4, 1, 2, 6),
    "Hounslow": (38, 19, 5, 1, 2, 4),
    "Islington": (48, 2, 0.4, 2, 4, 7),
    "Kensington and Chelsea": (39, 2, 0.6, 0.7, 2, 4),
    "Kingston upon Thames": (63, 4, 2, 0.5, 0.7, 2),
    "Lambeth": (39, 2, 1, 0.6, 10, 12),
    "Lewisham": (41, 2, 1, 0.7, 11, 12),
    "Merton": (48, 5, 4, 0.6, 4, 6),
    "Newham": (17, 14, 10, 12, 5, 12),
    "Redbridge": (35, 16, 11, 5, 3, 6),
    "Richmond upon Thames": (71, 3, 0.6, 0.5, 0.5, 1),
    "Southwark": (40, 1, 0.5, 1, 6, 16),
    "Sutton": (71, 4, 1.4, 0.4, 1.5, 2.5),
    "Tower Hamlets": (31, 2, 1, 32, 1, 4),
    "Waltham Forest": (36, 4, 10, 1, 8, 6),
    "Wandsworth": (53, 3, 3, 0.8, 4, 6),
    "Westminster": (35, 3, 0.8, 3, 2, 5),
}
_MAJOR_IDX = (0, 7, 8, 9, 11, 12)


def borough_shares(borough: str) -> np.ndarray:
    """Probabilities of the 16 groups in a borough (sums to 1)."""
    major = np.asarray(_BOROUGH_MAJOR[borough], dtype=float)
    shares = np.zeros(16)
    shares[list(_MAJOR_IDX)] = major
    rest = [i for i in range(16) if i not in _MAJOR_IDX]
    remainder = max(100.0 - major.sum(), 1.0)
    shares[rest] = LONDON_16[rest] / LONDON_16[rest].sum() * remainder
    return shares / shares.sum()


@dataclass(frozen=True)
class EthnicityCodes:
    """SNOMED CT codes by 16-group (index 0..15), each with draw probabilities."""

    codes: tuple[np.ndarray, ...]
    probs: tuple[np.ndarray, ...]


@lru_cache(maxsize=1)
def ethnicity_codes() -> EthnicityCodes:
    """2001-census category codes per group; the generic code of a group (e.g. 'White British') is preferred."""
    cl = shipped("primis-covid19-vacc-uptake-eth2001")
    import csv

    with open(cl.source, newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    by_group: list[list[str]] = [[] for _ in range(16)]
    for r in rows:
        by_group[int(r["grouping_16_id"]) - 1].append(r["code"])
    preferred = {
        "494131000000105", "494161000000100", "92411000000108", "92421000000102", "92431000000100",
        "92441000000109", "92451000000107", "110751000000108", "92461000000105", "92471000000103",
        "92481000000101", "107691000000105", "92491000000104", "92501000000105", "92511000000107", "92521000000101",
    }  # fmt: skip
    codes, probs = [], []
    for group in by_group:
        arr = np.array(sorted(group))
        p = np.where(np.isin(arr, list(preferred)), 8.0, 1.0)
        codes.append(arr)
        probs.append(p / p.sum())
    return EthnicityCodes(tuple(codes), tuple(probs))

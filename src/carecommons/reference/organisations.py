"""London's GP practices placed in the hierarchy practice -> PCN -> borough -> ICB, from shipped reference data.

Sources (see reference/data/README.md): `ldn_practices.csv` (ODS epraccur + list sizes, 1 May 2022) gives the
practices, list sizes and coordinates; `gp_pop_data.csv` gives each practice's CCG, which in 2022 was one per ICB
in London; `lsoa_geog_lookup.csv` gives LSOA -> borough -> IMD 2019 decile; `synthetic_london_params.json` gives
each borough's ICB and modelled registered population (April 2020).

Borough assignment (the reference data has no practice -> borough column): each practice goes to a borough of
its own ICB (from the CCG code) by *balanced nearest centre*. Distance is measured from the practice coordinates to
an approximate borough centre (`BOROUGH_CENTRES`, rounded public centroids), divided by a per-borough scale that is
tuned iteratively until each borough's share of its ICB's registered patients is close to its share of the ICB's
modelled registered population. Plain nearest-centre assignment over-fills large central boroughs; the balancing
keeps borough list totals plausible while staying geographic. Practices without a CCG row use the nearest centre
among all boroughs. This is an approximation (a practice near a border can land in the neighbour): it is good for
synthetic data and analytics tests, not for real commissioning.

PCNs: within a borough practices are ordered by bearing around the borough centre, then cut into contiguous groups
of 30-50k registered patients by dynamic programming (groups outside the band only where the order forces it, e.g.
a super-practice above 50k; the City of London's single practice is its own PCN).
Everything is deterministic: same reference data, same output.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache

import numpy as np
import pandas as pd

from carecommons.core.paths import REFERENCE_DATA
from carecommons.core.schema import PRACTICES

REF_DIR = REFERENCE_DATA / "reference"

#: CCG codes of May 2022 (one CCG per ICB in London) -> ICB short name (core.orgs.ICBS).
CCG_TO_ICB: dict[str, str] = {"93C": "NCL", "A3A8R": "NEL", "W2U3Z": "NWL", "72Q": "SEL", "36L": "SWL"}

#: Approximate geographic centres (latitude, longitude) of the 33 London local authorities, rounded to ~0.01 deg.
#: Public knowledge (ONS borough centroids, rounded); used only to place practices, see module docstring.
BOROUGH_CENTRES: dict[str, tuple[float, float]] = {
    "Barking and Dagenham": (51.545, 0.129),
    "Barnet": (51.615, -0.205),
    "Bexley": (51.455, 0.145),
    "Brent": (51.558, -0.268),
    "Bromley": (51.372, 0.051),
    "Camden": (51.546, -0.159),
    "City of London": (51.515, -0.092),
    "Croydon": (51.371, -0.090),
    "Ealing": (51.522, -0.325),
    "Enfield": (51.651, -0.082),
    "Greenwich": (51.472, 0.056),
    "Hackney": (51.549, -0.060),
    "Hammersmith and Fulham": (51.494, -0.221),
    "Haringey": (51.588, -0.107),
    "Harrow": (51.590, -0.337),
    "Havering": (51.557, 0.235),
    "Hillingdon": (51.535, -0.448),
    "Hounslow": (51.466, -0.380),
    "Islington": (51.547, -0.109),
    "Kensington and Chelsea": (51.500, -0.191),
    "Kingston upon Thames": (51.388, -0.286),
    "Lambeth": (51.460, -0.117),
    "Lewisham": (51.446, -0.018),
    "Merton": (51.410, -0.188),
    "Newham": (51.526, 0.030),
    "Redbridge": (51.585, 0.072),
    "Richmond upon Thames": (51.441, -0.325),
    "Southwark": (51.474, -0.073),
    "Sutton": (51.357, -0.173),
    "Tower Hamlets": (51.515, -0.034),
    "Waltham Forest": (51.593, -0.015),
    "Wandsworth": (51.452, -0.200),
    "Westminster": (51.512, -0.153),
}

PCN_MIN = 30_000
PCN_MAX = 50_000
_BALANCE_ITERATIONS = 200


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text.upper()).strip("-").replace("--", "-")


@lru_cache(maxsize=1)
def borough_params() -> dict[str, dict]:
    """Per-borough digest (ICB, modelled registered population, QOF prevalence %, IMD decile counts)."""
    data = json.loads((REF_DIR / "synthetic_london_params.json").read_text(encoding="utf-8"))
    return data["boroughs"]


@lru_cache(maxsize=1)
def _borough_lsoas() -> pd.DataFrame:
    df = pd.read_csv(REF_DIR / "lsoa_geog_lookup.csv", dtype=str)
    df = df[df["REGION"] == "London"]
    out = pd.DataFrame(
        {
            "lsoa": df["LSOA_CODE"].to_numpy(),
            "borough": df["LAD_NAME"].to_numpy(),
            "imd_decile": df["IMD_OVERALL"].astype(int).to_numpy(),
        }
    )
    return out.sort_values(["borough", "lsoa"], ignore_index=True)


def borough_lsoas() -> pd.DataFrame:
    """Every London LSOA (2011) with its borough and IMD 2019 decile (1 = most deprived), sorted by borough, LSOA."""
    return _borough_lsoas().copy()


def _distance_km(lat: np.ndarray, lon: np.ndarray, clat: np.ndarray, clon: np.ndarray) -> np.ndarray:
    """Equirectangular distance, exact enough across a city, broadcast practices x centres."""
    ky = 111.2
    kx = 111.2 * math.cos(math.radians(51.5))
    return np.hypot((lat[:, None] - clat[None, :]) * ky, (lon[:, None] - clon[None, :]) * kx)


def _assign_boroughs(practices: pd.DataFrame) -> np.ndarray:
    params = borough_params()
    names = sorted(BOROUGH_CENTRES)
    clat = np.array([BOROUGH_CENTRES[b][0] for b in names])
    clon = np.array([BOROUGH_CENTRES[b][1] for b in names])
    icb_of = np.array([params[b]["icb"] for b in names])
    target_pop = np.array([float(params[b]["registered_residents_apr2020_modelled"]) for b in names])
    dist = _distance_km(practices["latitude"].to_numpy(), practices["longitude"].to_numpy(), clat, clon)
    icb = practices["icb"].to_numpy()
    allowed = (icb[:, None] == icb_of[None, :]) | (icb[:, None] == "")
    list_size = practices["list_size"].to_numpy(dtype=float)
    # Target share of each borough within its ICB, applied to the ICB's actual list total.
    target = np.zeros(len(names))
    for code in np.unique(icb_of):
        in_icb = icb_of == code
        total_lists = list_size[icb == code].sum()
        target[in_icb] = target_pop[in_icb] / target_pop[in_icb].sum() * total_lists
    scale = np.ones(len(names))
    choice = np.zeros(len(practices), dtype=int)
    for _ in range(_BALANCE_ITERATIONS):
        cost = np.where(allowed, dist / scale[None, :], np.inf)
        choice = np.argmin(cost, axis=1)
        assigned = np.bincount(choice, weights=list_size, minlength=len(names))
        ratio = (target + 1.0) / (assigned + 1.0)
        scale = np.clip(scale * ratio**0.15, 0.2, 5.0)
    # Every borough must own at least one practice: give an empty one its nearest practice of the same ICB.
    for j in range(len(names)):
        if not (choice == j).any():
            cand = np.where(allowed[:, j], dist[:, j], np.inf)
            choice[int(np.argmin(cand))] = j
    return np.array(names)[choice]


def _bearing_order(frame: pd.DataFrame, centre: tuple[float, float]) -> pd.DataFrame:
    ang = np.arctan2(frame["latitude"].to_numpy() - centre[0], frame["longitude"].to_numpy() - centre[1])
    return frame.assign(_ang=ang).sort_values(["_ang", "practice_id"]).drop(columns="_ang")


def _group_cost(size: float) -> float:
    outside = max(PCN_MIN - size, size - PCN_MAX, 0.0)
    middle = (PCN_MIN + PCN_MAX) / 2
    return (outside / 1000.0) ** 2 * 100.0 + ((size - middle) / 10_000.0) ** 2


def _cut_pcns(sizes: list[int]) -> list[int]:
    """Cut an ordered list of list sizes into contiguous groups, returning a group index for each practice.

    Dynamic programming over cut points (n is at most ~60 per borough) minimising a cost that is large outside
    the 30-50k band and small for distance from 40k, so groups stay in the band whenever the order allows.
    """
    n = len(sizes)
    prefix = np.concatenate([[0.0], np.cumsum(np.asarray(sizes, dtype=float))])
    best = np.full(n + 1, np.inf)
    best[0] = 0.0
    back = np.zeros(n + 1, dtype=int)
    for end in range(1, n + 1):
        for start in range(end):
            c = best[start] + _group_cost(prefix[end] - prefix[start])
            if c < best[end]:
                best[end], back[end] = c, start
    cuts = []
    end = n
    while end > 0:
        cuts.append(back[end])
        end = back[end]
    starts = sorted(cuts)
    groups = []
    for g, start in enumerate(starts):
        stop = starts[g + 1] if g + 1 < len(starts) else n
        groups.extend([g] * (stop - start))
    return groups


def _read_practices() -> pd.DataFrame:
    raw = pd.read_csv(REF_DIR / "ldn_practices.csv", dtype=str)
    pop = pd.read_csv(REF_DIR / "gp_pop_data.csv", dtype=str, usecols=["CODE", "CCG_CODE", "POSTCODE"])
    pop = pop.drop_duplicates("CODE").set_index("CODE")
    ods = raw["Organisation Code"].str.strip()
    postcode_from_address = raw["Address"].str.rsplit(",", n=1).str[-1].str.strip()
    df = pd.DataFrame(
        {
            "practice_id": ods.to_numpy(),
            "name": raw["Name"].str.strip().to_numpy(),
            "postcode": pop["POSTCODE"]
            .reindex(ods)
            .fillna(pd.Series(postcode_from_address.to_numpy(), index=ods))
            .to_numpy(),
            "list_size": pd.to_numeric(raw["Number of patients registered at the GP practice"]).to_numpy(),
            "latitude": pd.to_numeric(raw["Latitude"]).to_numpy(),
            "longitude": pd.to_numeric(raw["Longitude"]).to_numpy(),
            "icb": pop["CCG_CODE"].reindex(ods).map(CCG_TO_ICB).fillna("").to_numpy(),
        }
    )
    df = df.drop_duplicates("practice_id").dropna(subset=["latitude", "longitude", "list_size"])
    df = df[df["list_size"] > 0]
    return df.sort_values("practice_id", ignore_index=True)


@lru_cache(maxsize=1)
def _london_practices() -> pd.DataFrame:
    df = _read_practices()
    df["borough"] = _assign_boroughs(df)
    params = borough_params()
    df["icb"] = df["borough"].map(lambda b: params[b]["icb"])
    parts = []
    for borough, frame in df.groupby("borough", sort=True):
        ordered = _bearing_order(frame, BOROUGH_CENTRES[str(borough)])
        groups = _cut_pcns(ordered["list_size"].astype(int).tolist())
        slug = _slug(str(borough))
        ordered = ordered.assign(
            pcn_id=[f"PCN-{slug}-{g + 1:02d}" for g in groups],
            pcn_name=[f"{borough} PCN {g + 1}" for g in groups],
        )
        parts.append(ordered)
    out = pd.concat(parts, ignore_index=True).sort_values("practice_id", ignore_index=True)
    out["list_size"] = out["list_size"].astype("int64")
    return out[PRACTICES.column_names]


def london_practices() -> pd.DataFrame:
    """The London practices with PCN, borough and ICB (columns of core.schema.PRACTICES), sorted by ODS code."""
    return _london_practices().copy()

"""The web app's door for aggregates: every count on a planning page passes through governance's `publish`.

Pages show parts and their total together (children of an organisation and the organisation; IMD quintiles
and everyone), so the total is published in the same call as its parts: that is what lets governance's
secondary suppression stop a suppressed part being recovered by subtraction.
"""

from __future__ import annotations

import pandas as pd

from carecommons.governance.disclosure import Hierarchy
from carecommons.governance.disclosure import publish as governance_publish


def publish(df: pd.DataFrame, count_columns: list[str]) -> pd.DataFrame:
    """Independent counts (no additive relation between rows), e.g. one organisation's register sizes."""
    return governance_publish(df, count_columns)


def publish_parts(
    df: pd.DataFrame, key: str, count_columns: list[str], breakdown: bool = False
) -> tuple[pd.DataFrame, pd.Series]:
    """Publish rows keyed by `key` together with their total; returns (published parts, published total).

    `breakdown=False` treats the rows as child organisations (a level); True as a demographic breakdown.
    """
    total = pd.DataFrame([{key: None, **{c: int(df[c].sum()) for c in count_columns}}])
    frame = pd.concat([df[[key, *count_columns]], total], ignore_index=True)
    frame[key] = frame[key].astype(object)
    hierarchy = Hierarchy(breakdowns=[key]) if breakdown else Hierarchy(levels=[key])
    out = governance_publish(frame, count_columns, hierarchy)
    parts = out[out[key].notna()].reset_index(drop=True)
    return parts, out[out[key].isna()].iloc[0]

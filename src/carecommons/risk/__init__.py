"""risk layer (see DESIGN.md): eFI, QRISK3, CHA2DS2-VASc, ORBIT, case finding and care gaps.

`qrisk3(...)` is the published QRISK3-2017 algorithm for one person; the `*_for_store` / per-module functions run
vectorised over the canonical record store.
"""

from carecommons.risk.qrisk import qrisk3, qrisk3_detailed

__all__ = ["qrisk3", "qrisk3_detailed"]

"""synth layer: a seeded, column-wise synthetic London written in the source formats (see DESIGN.md).

Public API: `generate(out_dir, patients, seed=42, format="mixed", faults=frozenset(), extract_date=None,
progress=True) -> SynthSummary`; `FAULTS` names the switchable data-quality faults.
"""

from carecommons.synth.config import FAULTS, OPT_OUT_TYPE1_CODE
from carecommons.synth.generate import FORMATS, SynthSummary, generate

__all__ = ["FAULTS", "FORMATS", "OPT_OUT_TYPE1_CODE", "SynthSummary", "generate"]

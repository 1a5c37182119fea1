"""ingest layer (see DESIGN.md): source adapters, validation, quarantine, load manifests.

Public API: `ingest(store, sources, progress=True) -> IngestSummary` and
`carecommons.ingest.quality.practice_quality(con, practice_id=None)`.
"""

from carecommons.ingest.run import ingest
from carecommons.ingest.summary import ExtractResult, FileResult, IngestSummary

__all__ = ["ExtractResult", "FileResult", "IngestSummary", "ingest"]

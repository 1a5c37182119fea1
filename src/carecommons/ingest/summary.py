"""What an ingest run did, per extract and per file: the load manifest as the caller sees it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from carecommons.core.errors import CarecommonsError
from carecommons.store.clustering import TableClustering


@dataclass(frozen=True)
class FileResult:
    """One source file: received = loaded + quarantined, always."""

    name: str
    sha256: str
    received: int
    loaded: int
    quarantined: int


@dataclass
class ExtractResult:
    """One extract (or reference file). status: loaded, skipped (with a note saying why) or failed."""

    path: str
    feed: str
    org: str | None
    extract_date: dt.date | None
    load_id: str | None
    status: str
    note: str = ""
    seconds: float = 0.0
    files: list[FileResult] = field(default_factory=list)
    error: CarecommonsError | None = None

    @property
    def received(self) -> int:
        return sum(f.received for f in self.files)

    @property
    def loaded(self) -> int:
        return sum(f.loaded for f in self.files)

    @property
    def quarantined(self) -> int:
        return sum(f.quarantined for f in self.files)


@dataclass
class IngestSummary:
    """The result of `ingest()`; `ok` is False only when some extract could not be loaded at all."""

    extracts: list[ExtractResult] = field(default_factory=list)
    seconds: float = 0.0
    clustering: list[TableClustering] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(e.status == "failed" for e in self.extracts)

    @property
    def received(self) -> int:
        return sum(e.received for e in self.extracts if e.status == "loaded")

    @property
    def loaded(self) -> int:
        return sum(e.loaded for e in self.extracts if e.status == "loaded")

    @property
    def quarantined(self) -> int:
        return sum(e.quarantined for e in self.extracts if e.status == "loaded")

    def by_status(self, status: str) -> list[ExtractResult]:
        return [e for e in self.extracts if e.status == status]

    def rows(self) -> list[dict[str, object]]:
        """One plain dict per extract, for tables, JSON and the web app (no patient values)."""
        return [
            {
                "feed": e.feed,
                "org": e.org,
                "extract_date": e.extract_date.isoformat() if e.extract_date else None,
                "status": e.status,
                "received": e.received,
                "loaded": e.loaded,
                "quarantined": e.quarantined,
                "seconds": round(e.seconds, 3),
                "note": e.note if e.error is None else str(e.error),
                "load_id": e.load_id,
                "path": e.path,
            }
            for e in self.extracts
        ]

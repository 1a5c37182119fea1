"""Finding extracts under the paths a user names, and checking them against their manifests.

An *extract* is the unit of loading: one directory holding `manifest.json` (a practice's GP
extract, a local authority's social-care extract, a trust's hospital extract). It loads in one
transaction, so it is also the unit of idempotency (its content hash) and of supersession
(a newer extract date for the same feed and organisation replaces the older one).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from carecommons.core.errors import CarecommonsError, InvalidInput

FEEDS = ("gp", "social_care", "hospital")
_HASH_CHUNK = 8 << 20


@dataclass(frozen=True)
class SourceFile:
    """One file of an extract: where it is, how it is named in the store, and its checksum."""

    path: Path
    name: str  # path relative to the source root, as stored in load_manifest/quarantine
    sha256: str
    size: int
    declared_rows: int | None = None
    physical_lines: int | None = None


@dataclass
class Extract:
    """One extract directory, ready to load."""

    directory: Path
    feed: str  # gp, social_care, hospital
    org: str  # practice ODS, local-authority code or trust ODS
    extract_date: dt.date
    system: str | None  # gp only: fhir or csv
    files: list[SourceFile] = field(default_factory=list)

    @property
    def load_id(self) -> str:
        """Content-derived id: the same extract always gets the same id, so re-loading it is a no-op."""
        h = hashlib.sha256()
        h.update(f"{self.feed}|{self.org}|{self.extract_date.isoformat()}".encode())
        for f in sorted(self.files, key=lambda f: f.name):
            h.update(f"|{f.path.relative_to(self.directory).as_posix()}={f.sha256}".encode())
        return f"{self.feed}-{self.org}-{self.extract_date.isoformat()}-{h.hexdigest()[:12]}"

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, read in large chunks (hashlib releases the GIL, so files hash in parallel)."""
    return hash_and_count(path)[0]


def hash_and_count(path: Path) -> tuple[str, int]:
    """(SHA-256, physical line count) in one read: the count lets the NDJSON fast path prove that no
    line was skipped (blank lines would shift line numbers), at no extra I/O."""
    h = hashlib.sha256()
    lines = 0
    last = b""
    with path.open("rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            h.update(chunk)
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    if last and last != b"\n":
        lines += 1
    return h.hexdigest(), lines


@dataclass(frozen=True)
class Discovered:
    """What a set of source paths holds: extracts to load, practice reference files, and extracts refused."""

    extracts: list[Extract]
    practice_files: list[Path]
    refused: list[tuple[str, CarecommonsError]]


def discover(sources: Sequence[Path], hash_files: bool = True) -> Discovered:
    """Find every extract (directory with manifest.json) and reference/practices.csv under `sources`.

    Extracts come back oldest first per organisation, so a run over several dates of one practice
    ends with the newest loaded. A source that does not exist or holds nothing loadable is an error:
    a typo in a path must not look like a successful, empty load. An extract whose manifest is
    broken or whose checksums do not match is refused on its own; the others still load.

    With `hash_files=False` the files are not read yet: the caller must call :func:`hash_extract` on each
    extract before loading it (ingest does so in its workers, so hashing one extract overlaps loading another).
    """
    manifests: list[tuple[Path, Path]] = []  # (manifest path, root used for relative names)
    practice_files: list[Path] = []
    for src in sources:
        src = Path(src)
        if not src.exists():
            raise InvalidInput(str(src), "source path does not exist", "check the path given to ingest")
        if src.is_file():
            if src.name == "manifest.json":
                manifests.append((src, _root_for(src.parent)))
            elif src.name == "practices.csv":
                practice_files.append(src)
            elif (src.parent / "manifest.json").exists():
                manifests.append((src.parent / "manifest.json", _root_for(src.parent)))
            else:
                raise InvalidInput(
                    str(src),
                    "a single file without a manifest.json beside it cannot be loaded",
                    "point ingest at the extract directory (the one holding manifest.json)",
                )
            continue
        found = sorted(src.rglob("manifest.json"))
        manifests.extend((m, _root_for(m.parent, src)) for m in found)
        refs = sorted(p for p in src.rglob("practices.csv") if p.parent.name == "reference")
        practice_files.extend(refs)
        if not found and not refs:
            raise InvalidInput(
                str(src),
                "no extract (directory with manifest.json) or reference/practices.csv found",
                "point ingest at the directory that synth or a feed wrote (see docs/source-formats.md)",
            )
    seen: set[Path] = set()
    extracts: list[Extract] = []
    refused: list[tuple[str, CarecommonsError]] = []
    for manifest, root in manifests:
        if manifest.resolve() in seen:
            continue
        seen.add(manifest.resolve())
        try:
            extracts.append(read_extract(manifest, root))
        except CarecommonsError as err:
            refused.append((str(manifest.parent), err))
    if hash_files:
        refused.extend(_hash_all(extracts))
    bad = {name for name, _ in refused}
    extracts = [e for e in extracts if str(e.directory) not in bad]
    extracts.sort(key=lambda e: (e.feed != "gp", e.feed, e.org, e.extract_date, str(e.directory)))
    return Discovered(extracts=extracts, practice_files=sorted(set(practice_files)), refused=refused)


def _root_for(extract_dir: Path, given: Path | None = None) -> Path:
    """The source root for relative names: the parent of the feed directory (gp/, hospital/...)."""
    d = extract_dir.resolve()
    for parent in [d, *d.parents]:
        if parent.name in FEEDS:
            return parent.parent
    return (given or extract_dir).resolve()


def read_extract(manifest: Path, root: Path) -> Extract:
    """Parse one manifest.json and list its files (hashes filled in later, in parallel)."""
    name = str(manifest)
    try:
        meta = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InvalidInput(
            name, f"manifest is not readable JSON ({type(err).__name__})", "re-send the extract"
        ) from err
    if not isinstance(meta, dict):
        raise InvalidInput(name, "manifest is not a JSON object", "re-send the extract")
    directory = manifest.parent
    parts = directory.resolve().parts
    feed = meta.get("feed") or next((p for p in parts if p in FEEDS), None)
    if feed not in FEEDS:
        raise InvalidInput(name, f"feed {feed!r} is not one of {FEEDS}", 'set "feed" in the manifest')
    org = meta.get("practice_id") or meta.get("org") or meta.get("local_authority") or meta.get("trust")
    org = org or directory.parent.name
    date_text = meta.get("extract_date") or directory.name
    try:
        extract_date = dt.date.fromisoformat(str(date_text))
    except ValueError as err:
        raise InvalidInput(name, "extract_date is not a YYYY-MM-DD date", 'set "extract_date" in the manifest') from err
    declared = meta.get("files")
    files: list[SourceFile] = []
    if isinstance(declared, dict) and declared:
        for rel, info in sorted(declared.items()):
            path = directory / rel
            if not path.is_file():
                raise InvalidInput(
                    name, f"lists {rel} but that file is missing", "re-send the complete extract directory"
                )
            info = info if isinstance(info, dict) else {}
            files.append(_source_file(path, root, info.get("sha256"), info.get("rows")))
    else:
        for path in sorted(p for p in directory.rglob("*") if p.is_file() and p.name != "manifest.json"):
            files.append(_source_file(path, root, None, None))
    if not files:
        raise InvalidInput(name, "the extract has no data files", "re-send the extract with its files")
    system = meta.get("system")
    if feed == "gp" and system not in ("fhir", "csv"):
        system = "fhir" if any(Path(f.name).suffix in (".ndjson", ".json") for f in files) else "csv"
    return Extract(directory=directory, feed=feed, org=str(org), extract_date=extract_date, system=system, files=files)


def _source_file(path: Path, root: Path, declared_sha: str | None, rows: object) -> SourceFile:
    try:
        rel = path.resolve().relative_to(root).as_posix()
    except ValueError:
        rel = path.name
    return SourceFile(
        path=path,
        name=rel,
        sha256=declared_sha or "",
        size=path.stat().st_size,
        declared_rows=rows if isinstance(rows, int) else None,
    )


def hash_extract(extract: Extract) -> CarecommonsError | None:
    """Hash the files of one extract (filling in checksums and line counts); the error if one does not match.

    A mismatch means the extract was corrupted or is still being written: loading it would store
    data nobody sent, so the extract is refused with a fix rather than quarantined row by row.
    """
    error = None
    for i, f in enumerate(extract.files):
        digest, lines = hash_and_count(f.path)
        if f.sha256 and f.sha256.lower() != digest and error is None:
            error = _mismatch(f.name)
        extract.files[i] = SourceFile(f.path, f.name, digest, f.size, f.declared_rows, lines)
    return error


def _mismatch(name: str) -> CarecommonsError:
    return InvalidInput(
        name,
        "SHA-256 checksum does not match the manifest (file corrupted or still being written)",
        "re-send the extract; do not edit files after the manifest is written",
    )


def _hash_all(extracts: Iterable[Extract]) -> list[tuple[str, CarecommonsError]]:
    """Hash every file (two threads: hashing is I/O and C-bound) and check declared checksums (see
    :func:`hash_extract` for why a mismatch refuses the whole extract)."""
    jobs = [(e, i, f) for e in extracts for i, f in enumerate(e.files)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        digests = list(pool.map(lambda j: hash_and_count(j[2].path), jobs))
    refused: list[tuple[str, CarecommonsError]] = []
    for (extract, i, f), (digest, lines) in zip(jobs, digests, strict=True):
        if f.sha256 and f.sha256.lower() != digest:
            refused.append((str(extract.directory), _mismatch(f.name)))
        extract.files[i] = SourceFile(f.path, f.name, digest, f.size, f.declared_rows, lines)
    return refused

"""Per-purpose secret keys for pseudonyms, held in files outside the data.

Layout: `<keys_dir>/<purpose>/v<N>.key`, each holding 32 random bytes as hex; the directory is 0700 and the
files 0600 so only the platform's service account can read them. The highest N is the current version.
Rotation adds v<N+1> and never deletes the old file: whoever holds both keys (the platform, not the analyst)
can build an old-to-new crosswalk, so a planning data set survives a key change without re-extraction.
The key directory is CARECOMMONS_KEYS_DIR, else <CARECOMMONS_HOME>/keys: keep it off the analytics volume.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

from carecommons.core import paths
from carecommons.core.errors import ConfigurationError, InvalidInput

KEY_BYTES = 32
_PURPOSE_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_KEY_FILE_RE = re.compile(r"^v([1-9][0-9]*)\.key$")


def keys_dir(override: Path | None = None) -> Path:
    """The key directory: the argument, else CARECOMMONS_KEYS_DIR, else <home>/keys."""
    if override is not None:
        return Path(override)
    env = os.environ.get("CARECOMMONS_KEYS_DIR")
    return Path(env) if env else paths.home() / "keys"


def check_purpose(purpose: str) -> str:
    """Reject purpose names that could escape the key directory or clash with file names."""
    if not isinstance(purpose, str) or not _PURPOSE_RE.match(purpose):
        raise InvalidInput(
            "purpose",
            f"{purpose!r} is not a purpose name (lower-case letters, digits, underscore; starts with a letter)",
            "use a purpose such as planning, research or direct_care",
        )
    return purpose


def versions(purpose: str, directory: Path | None = None) -> list[int]:
    """Key versions held for `purpose`, oldest first (empty when the purpose has no key yet)."""
    pdir = keys_dir(directory) / check_purpose(purpose)
    if not pdir.is_dir():
        return []
    found = []
    for entry in pdir.iterdir():
        m = _KEY_FILE_RE.match(entry.name)
        if m:
            found.append(int(m.group(1)))
    return sorted(found)


def current_version(purpose: str, directory: Path | None = None) -> int:
    """The newest key version of `purpose`; ConfigurationError when there is none."""
    held = versions(purpose, directory)
    if not held:
        raise ConfigurationError(
            f"key for purpose {purpose}",
            f"no pseudonymisation key exists in {keys_dir(directory)} for this purpose",
            f"create one with `carecommons keys create {purpose}` (or check CARECOMMONS_KEYS_DIR)",
        )
    return held[-1]


def load_key(purpose: str, version: int | None = None, directory: Path | None = None) -> tuple[int, bytes]:
    """(version, key bytes) for `purpose`; the current version when `version` is None.

    The key bytes never appear in errors or logs; only the file path does.
    """
    ver = current_version(purpose, directory) if version is None else version
    path = keys_dir(directory) / purpose / f"v{ver}.key"
    if not path.is_file():
        raise ConfigurationError(
            f"key for purpose {purpose}",
            f"key version {ver} is not in {path.parent}",
            "restore the key file from the key backup, or use a version listed by `carecommons keys list`",
        )
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise ConfigurationError(
            str(path),
            f"key file is readable by other users (mode {mode:o})",
            f"run `chmod 600 {path}`",
        )
    try:
        key = bytes.fromhex(path.read_text(encoding="ascii").strip())
    except ValueError as err:
        raise ConfigurationError(str(path), "key file is not hex text", "restore it from the key backup") from err
    if len(key) != KEY_BYTES:
        raise ConfigurationError(str(path), f"key is {len(key)} bytes, not {KEY_BYTES}", "restore it from backup")
    return ver, key


def create_key(purpose: str, directory: Path | None = None) -> int:
    """Add a new key version for `purpose` (the first, or a rotation) and return its number.

    Written with O_EXCL and mode 0600 from the start, so there is no moment when the key is world-readable
    and two concurrent rotations cannot overwrite each other.
    """
    pdir = keys_dir(directory) / check_purpose(purpose)
    pdir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(pdir, 0o700)
    held = versions(purpose, directory)
    ver = (held[-1] if held else 0) + 1
    path = pdir / f"v{ver}.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(secrets.token_hex(KEY_BYTES) + "\n")
    return ver


def list_keys(directory: Path | None = None) -> dict[str, list[int]]:
    """Every purpose with its key versions, for `carecommons keys list` and the IG lead."""
    root = keys_dir(directory)
    if not root.is_dir():
        return {}
    out = {}
    for entry in sorted(root.iterdir()):
        if entry.is_dir() and _PURPOSE_RE.match(entry.name):
            out[entry.name] = versions(entry.name, directory)
    return out

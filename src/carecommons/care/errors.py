"""Errors particular to shared editing in the care layer."""

from __future__ import annotations

from carecommons.core.errors import CarecommonsError


class EditConflict(CarecommonsError):
    """Someone else changed the care plan or task after you opened it.

    Raised instead of silently overwriting their change (optimistic concurrency); the web page shows it
    and reloads the current version so the user can re-apply their edit.
    """

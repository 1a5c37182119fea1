"""Shared fixtures. Layer-specific fixtures live in tests/<layer>/conftest.py."""

from __future__ import annotations

import pytest


@pytest.fixture
def carecommons_home(tmp_path, monkeypatch):
    """An isolated CARECOMMONS_HOME so tests never touch a developer's var/ directory."""
    monkeypatch.setenv("CARECOMMONS_HOME", str(tmp_path / "home"))
    return tmp_path / "home"

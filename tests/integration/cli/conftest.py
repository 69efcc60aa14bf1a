"""Fixtures for the CLI tests: a clean environment with a keyring in the test's directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The process environment without tigerseal settings, a development keyring in tmp_path."""
    e = {k: v for k, v in os.environ.items() if not k.startswith(("TIGERSEAL_", "ENCRYPTION_"))}
    e["TIGERSEAL_KEYRING_PATH"] = str(tmp_path / "keyring.json")
    e["ENVIRONMENT"] = "development"
    return e

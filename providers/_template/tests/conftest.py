"""Register the plugin in a fresh registry for each test, installed or not.

Registering in code (rather than through the entry point) lets the tests run from a checkout
without installing the distribution; when it is installed, the result is the same.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

try:
    import tigerseal_template
except ImportError:  # not installed: use the source next to these tests
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    import tigerseal_template

from tigerseal.plugins import PluginRegistry, set_registry


@pytest.fixture(autouse=True)
def template_registered() -> Iterator[PluginRegistry]:
    registry = PluginRegistry(autoload=False)
    registry.register(tigerseal_template, name="tigerseal-template")
    previous = set_registry(registry)
    yield registry
    set_registry(previous)


@pytest.fixture
def kek_var(monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh environment variable holding a random KEK; returns its name."""
    name = f"TEMPLATE_KEK_{secrets.token_hex(4).upper()}"
    monkeypatch.setenv(name, secrets.token_hex(32))
    return name

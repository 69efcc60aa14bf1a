"""Run a test with none of tigerseal's variables set, no .env, and fresh process-wide state.

Shared by the config, passwords, tokens, apikeys and cli_security test packages.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


def setting_names() -> list[str]:
    """Every variable a setting is read from: ``TIGERSEAL_<NAME>`` and the seed's fallbacks."""
    from tigerseal.config import Settings, variable_names

    return [name for field in Settings.model_fields for name in variable_names(field)]


def reset_all() -> None:
    from tigerseal import reset_defaults

    reset_defaults()


def isolate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """Clear every setting from the environment and chdir to an empty directory."""
    for name in setting_names():
        for variant in {name, name.lower()}:
            monkeypatch.delenv(variant, raising=False)
    for name in [k for k in os.environ if k.startswith("TIGERSEAL_")]:
        monkeypatch.delenv(name, raising=False)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    reset_all()
    yield workdir
    reset_all()

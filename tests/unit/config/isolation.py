"""Run a test with none of tigerseal's variables set, no .env, and fresh process-wide state.

Shared by the config, passwords, tokens, apikeys and cli_security test packages.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


def setting_names() -> list[str]:
    from tigerseal.config import Settings

    return [str(f.validation_alias) for f in Settings.model_fields.values()]


def reset_all() -> None:
    from tigerseal.config import reset_settings
    from tigerseal.passwords._context import set_password_context
    from tigerseal.tokens._default import set_token_manager

    reset_settings()
    set_password_context(None)
    set_token_manager(None)


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

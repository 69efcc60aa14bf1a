"""generate_env_template: every setting, fresh secrets, mode 0600, never overwrites silently."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from tigerseal import generate_env_template
from tigerseal.config import Settings, master_key_weakness
from tigerseal.errors import ConfigError

from .isolation import setting_names


def values(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            out[name] = value
    return out


def test_seed_call_writes_a_0600_template(clean_env: Path) -> None:
    path = generate_env_template(".env.template")
    assert path == Path(".env.template")
    mode = stat.S_IMODE(os.stat(path).st_mode)
    assert mode == 0o600


def test_template_lists_every_setting_with_a_comment(clean_env: Path) -> None:
    text = generate_env_template(clean_env / "t.env").read_text()
    for name in setting_names():
        assert f"{name}=" in text, name
    assert "# 256-bit master key" in text


def test_secrets_are_fresh_and_strong(clean_env: Path) -> None:
    a = values(generate_env_template(clean_env / "a.env"))
    b = values(generate_env_template(clean_env / "b.env"))
    assert a["TIGERSEAL_ENCRYPTION_MASTER_KEY"] != b["TIGERSEAL_ENCRYPTION_MASTER_KEY"]
    assert a["TIGERSEAL_JWT_SECRET"] != b["TIGERSEAL_JWT_SECRET"]
    assert master_key_weakness(a["TIGERSEAL_ENCRYPTION_MASTER_KEY"]) is None
    assert len(a["TIGERSEAL_JWT_SECRET"]) >= 32


def test_template_loads_and_passes_production_checks(clean_env: Path) -> None:
    path = generate_env_template(clean_env / "prod.env", environment="production")
    settings = Settings(_env_file=path)  # type: ignore[call-arg]
    assert settings.is_production
    assert settings.encryption_master_key is not None


def test_existing_file_is_not_overwritten(clean_env: Path) -> None:
    path = clean_env / ".env.template"
    path.write_text("KEEP=1\n")
    with pytest.raises(ConfigError, match="already exists; pass overwrite=True"):
        generate_env_template(path)
    assert path.read_text() == "KEEP=1\n"


def test_overwrite_replaces_atomically_with_0600(clean_env: Path) -> None:
    path = clean_env / ".env.template"
    path.write_text("OLD=1\n")
    path.chmod(0o644)
    generate_env_template(path, overwrite=True)
    assert "OLD=1" not in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in clean_env.iterdir()] == [".env.template"]  # no temp file left


def test_unknown_environment_is_refused(clean_env: Path) -> None:
    with pytest.raises(ConfigError):
        generate_env_template(clean_env / "x.env", environment="prodution")

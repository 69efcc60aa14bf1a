"""``tigerseal keygen`` / ``rotate`` and the KeyManager behind them."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from tigerseal import KeyManager
from tigerseal.cli import cli
from tigerseal.config import reset_settings
from tigerseal.errors import ConfigError
from tigerseal.providers.env import EnvKeyProvider
from tigerseal.providers.file import FileKeyProvider


@pytest.fixture(autouse=True)
def clean_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for var in ("TIGERSEAL_KEY_PROVIDERS", "TIGERSEAL_KEYRING_PATH", "ENCRYPTION_MASTER_KEY"):
        monkeypatch.delenv(var, raising=False)
    reset_settings()
    yield
    reset_settings()


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_key_manager_formats() -> None:
    km = KeyManager()
    master = km.generate_master_key()
    assert re.fullmatch(r"[0-9a-f]{64}", master)
    assert master != KeyManager.generate_master_key()
    jwt_secret = km.generate_jwt_secret()
    assert len(jwt_secret) >= 43
    assert re.fullmatch(r"[A-Za-z0-9_-]+", jwt_secret)
    assert re.fullmatch(r"[0-9a-f]{64}", km.generate_api_key_pepper())
    assert re.fullmatch(r"[0-9a-f]{32}", km.generate_salt())
    EnvKeyProvider("K", environ={"K": master})  # accepted by the env provider


def test_key_manager_keyring_and_env_rotation_plan(tmp_path: Path) -> None:
    provider = KeyManager.create_keyring(tmp_path / "k.json")
    assert KeyManager.rotate_keyring(tmp_path / "k.json") == 2
    assert FileKeyProvider(tmp_path / "k.json").key_id == provider.key_id
    current = KeyManager.generate_master_key()
    env = {"MK": current, "MK_VERSION": "3"}
    old = EnvKeyProvider("MK", environ=env).wrap(b"k" * 32, {})
    plan = KeyManager.plan_env_rotation("MK", env)
    assert plan["MK_V3"] == current
    assert plan["MK_VERSION"] == "4"
    assert plan["MK"] != current
    rotated = EnvKeyProvider("MK", environ=plan)
    assert rotated.key_version == 4
    assert rotated.unwrap(old, {}) == b"k" * 32
    with pytest.raises(ConfigError):
        KeyManager.plan_env_rotation("MISSING", {})


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        ((), r"[0-9a-f]{64}"),
        (("--env",), r"ENCRYPTION_MASTER_KEY=[0-9a-f]{64}"),
        (("--kind", "jwt-secret", "--env"), r"JWT_SECRET=[A-Za-z0-9_-]{43}"),
        (("--kind", "salt"), r"[0-9a-f]{32}"),
        (("--kind", "api-key-pepper"), r"[0-9a-f]{64}"),
    ],
)
def test_keygen_print(tmp_path: Path, args: tuple[str, ...], pattern: str) -> None:
    code, output = invoke("keygen", "--print", *args)
    assert code == 0
    assert re.fullmatch(pattern, output.strip())
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_keygen_creates_keyring_0600(tmp_path: Path) -> None:
    code, output = invoke("keygen", "keys/ring.json")
    assert code == 0, output
    path = tmp_path / "keys" / "ring.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key_id = FileKeyProvider(path).key_id
    assert key_id in output
    assert "TIGERSEAL_KEY_PROVIDERS=file://keys/ring.json" in output
    assert json.loads(path.read_text())["keys"][0]["key"] not in output

    code, output = invoke("keygen", "keys/ring.json")
    assert code == 1
    assert "already exists" in output
    assert FileKeyProvider(path).key_id == key_id
    code, _ = invoke("keygen", "keys/ring.json", "--force")
    assert code == 0
    assert FileKeyProvider(path).key_id != key_id


def test_keygen_default_path_from_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TIGERSEAL_KEYRING_PATH", "custom/dev.json")
    code, output = invoke("keygen")
    assert code == 0, output
    assert (tmp_path / "custom" / "dev.json").is_file()


@pytest.mark.parametrize(
    "args", [("--print", "x.json"), ("--print", "--force"), ("--kind", "salt"), ("--env",)]
)
def test_keygen_usage_errors(args: tuple[str, ...]) -> None:
    code, output = invoke("keygen", *args)
    assert code == 2
    assert "Error" in output


def test_rotate_keyring_option_and_json(tmp_path: Path) -> None:
    KeyManager.create_keyring(tmp_path / "k.json")
    code, output = invoke("rotate", "--keyring", "k.json")
    assert code == 0, output
    assert "version 1 -> 2" in output
    code, output = invoke("rotate", "--uri", "file://k.json", "--json")
    assert code == 0, output
    assert json.loads(output) == {"uri": "file://k.json", "previous": 2, "version": 3}


def test_rotate_configured_primary(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    KeyManager.create_keyring(tmp_path / "a.json")
    KeyManager.create_keyring(tmp_path / "b.json")
    monkeypatch.setenv("TIGERSEAL_KEY_PROVIDERS", "file://a.json file://b.json")
    code, output = invoke("rotate")
    assert code == 0, output
    assert FileKeyProvider(tmp_path / "a.json").key_version == 2
    assert FileKeyProvider(tmp_path / "b.json").key_version == 1


def test_rotate_default_dev_keyring(tmp_path: Path) -> None:
    code, output = invoke("rotate")
    assert code == 1
    assert "tigerseal keygen" in output  # no keyring yet: says how to create one
    invoke("keygen")
    code, output = invoke("rotate")
    assert code == 0, output
    assert "version 1 -> 2" in output


def test_rotate_env_explains(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROT_KEY", KeyManager.generate_master_key())
    code, output = invoke("rotate", "--uri", "env://ROT_KEY")
    assert code == 1
    assert "ROT_KEY_V1" in output
    assert "ROT_KEY_VERSION=2" in output


def test_rotate_rejects_both_options() -> None:
    code, _ = invoke("rotate", "--uri", "fake://x", "--keyring", "k.json")
    assert code == 2


def test_rotate_fake_uri(fake_provider_registered: None) -> None:
    code, output = invoke("rotate", "--uri", "fake://cli-rotate-test", "--json")
    assert code == 0, output
    assert json.loads(output)["version"] == json.loads(output)["previous"] + 1


def test_rotate_with_only_the_master_key_explains_env_rotation(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """ENCRYPTION_MASTER_KEY is the configured key: rotate must not touch a stray keyring."""
    invoke("keygen")  # a development keyring left over from earlier work
    keyring = tmp_path / ".tigerseal" / "keyring.json"
    before = keyring.read_bytes()
    monkeypatch.setenv("ENCRYPTION_MASTER_KEY", KeyManager.generate_master_key())
    reset_settings()
    code, output = invoke("rotate")
    assert code == 1, output
    assert keyring.read_bytes() == before
    for step in (
        "ENCRYPTION_MASTER_KEY_V1",
        "ENCRYPTION_MASTER_KEY_VERSION=2",
        "tigerseal rewrap",
        "ENCRYPTION_MASTER_KEY_MIN_VERSION=2",
    ):
        assert step in output

"""The env:// provider: contract, variable naming, versions, passphrase mode, errors."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from tigerseal.errors import (
    ConfigError,
    DecryptionError,
    KeyNotFound,
    KeyVersionRetired,
    UnsupportedOperation,
)
from tigerseal.plugins import key_provider_from_uri
from tigerseal.providers.env import EnvKeyProvider, from_uri, read_environment
from tigerseal.spi import KeyProvider, rewrap
from tigerseal.testing.contract import ProviderContract

KEY = secrets.token_hex(32)
OTHER_KEY = secrets.token_hex(32)
SALT = secrets.token_hex(16)


class TestEnvContract(ProviderContract):
    @pytest.fixture
    def provider(self) -> KeyProvider:
        return EnvKeyProvider("TS_KEY", environ={"TS_KEY": KEY})

    @pytest.fixture
    def other_provider(self) -> KeyProvider:
        # Same variable name (so the same key id), another key: must fail by authentication.
        return EnvKeyProvider("TS_KEY", environ={"TS_KEY": OTHER_KEY})

    @pytest.fixture
    def provider_secrets(self) -> list[str | bytes]:
        return [KEY, OTHER_KEY]


class TestEnvPassphraseContract(TestEnvContract):
    @pytest.fixture
    def provider(self) -> KeyProvider:
        env = {"TS_PASS": "correct horse battery staple", "TS_PASS_SALT": SALT}
        return EnvKeyProvider("TS_PASS", environ=env, kdf="pbkdf2", iterations=100_000)

    @pytest.fixture
    def other_provider(self) -> KeyProvider:
        env = {"TS_PASS": "another long passphrase!", "TS_PASS_SALT": SALT}
        return EnvKeyProvider("TS_PASS", environ=env, kdf="pbkdf2", iterations=100_000)

    @pytest.fixture
    def provider_secrets(self) -> list[str | bytes]:
        return ["correct horse battery staple", "another long passphrase!"]


def versioned_env() -> dict[str, str]:
    return {
        "MK": secrets.token_hex(32),
        "MK_VERSION": "3",
        "MK_V1": secrets.token_hex(32),
        "MK_V2": secrets.token_hex(32),
    }


def test_default_variable_and_uri(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ENCRYPTION_MASTER_KEY", KEY)
    for uri in ("env://", "env://ENCRYPTION_MASTER_KEY"):
        provider = key_provider_from_uri(uri)
        assert isinstance(provider, EnvKeyProvider)
        assert provider.key_id == "ENCRYPTION_MASTER_KEY"
        assert provider.key_version == 1
        assert provider.uri == "env://ENCRYPTION_MASTER_KEY"
        assert KEY not in repr(provider)


def test_versions_from_variables() -> None:
    env = versioned_env()
    old = EnvKeyProvider("MK", environ={"MK": env["MK_V1"]})
    wrapped_v1 = old.wrap(b"k" * 32, {"a": "b"})
    assert wrapped_v1.key_version == 1

    provider = EnvKeyProvider("MK", environ=env)
    assert provider.key_version == 3
    assert provider.versions == [1, 2, 3]
    assert provider.unwrap(wrapped_v1, {"a": "b"}) == b"k" * 32
    assert rewrap(provider, wrapped_v1, {"a": "b"}).key_version == 3


def test_min_version_from_variable_and_query() -> None:
    env = versioned_env() | {"MK_MIN_VERSION": "2"}
    old = EnvKeyProvider("MK", environ={"MK": env["MK_V1"]}).wrap(b"k" * 32, {})
    provider = EnvKeyProvider("MK", environ=env)
    assert provider.min_decryption_version == 2
    with pytest.raises(KeyVersionRetired, match="version 1 is retired"):
        provider.unwrap(old, {})
    # The URI wins over the variable.
    relaxed = from_uri("env://MK?min_version=0", environ=env)
    assert relaxed.unwrap(old, {}) == b"k" * 32


def test_unknown_version_names_it() -> None:
    env = versioned_env()
    wrapped = EnvKeyProvider("MK", environ=env).wrap(b"k" * 32, {})
    newer_only = {"MK": secrets.token_hex(32), "MK_VERSION": "4"}
    with pytest.raises(KeyNotFound, match="version 3 is not in the keyring"):
        EnvKeyProvider("MK", environ=newer_only).unwrap(wrapped, {})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "MK is not set"),
        ({"MK": "   "}, "MK is not set"),
        ({"MK": "abc"}, "MK must be 64 hex characters"),
        ({"MK": "zz" * 32}, "MK must be 64 hex characters"),
        ({"MK": KEY + "00"}, "MK must be 64 hex characters"),
        ({"MK": "0123456789abcdef" * 4}, "published example"),
        ({"MK": "0" * 64}, "published example or trivial"),
        ({"MK": KEY, "MK_VERSION": "two"}, "MK_VERSION must be a whole number"),
        ({"MK": KEY, "MK_VERSION": "0"}, "MK_VERSION must be >= 1"),
        ({"MK": KEY, "MK_V1": "nothex"}, "MK_V1 must be 64 hex"),
        ({"MK": KEY, "MK_V2": OTHER_KEY}, "MK_V2 is newer than the current version 1"),
        ({"MK": KEY, "MK_V1": OTHER_KEY}, "both claim version 1"),
        ({"MK": KEY, "MK_MIN_VERSION": "2"}, "above the current version"),
        ({"MK": KEY, "MK_MIN_VERSION": "x"}, "MK_MIN_VERSION must be a whole number"),
    ],
)
def test_bad_configuration_is_config_error(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        EnvKeyProvider("MK", environ=env)
    for value in env.values():
        if len(value) > 8:
            assert value not in str(info.value), "the variable's value must never be echoed"


def test_same_key_in_current_and_versioned_variable_is_fine() -> None:
    provider = EnvKeyProvider("MK", environ={"MK": KEY, "MK_V1": KEY})
    assert provider.versions == [1]


@pytest.mark.parametrize(
    "uri", ["env://1BAD", "env://has-dash", "env://MK?unknown=1", "env://MK?kdf=scrypt"]
)
def test_bad_uris(uri: str) -> None:
    with pytest.raises(ConfigError):
        from_uri(uri, environ={"MK": KEY})


def test_rotate_explains_the_remedy() -> None:
    provider = EnvKeyProvider("MK", environ={"MK": KEY, "MK_VERSION": "4"})
    with pytest.raises(UnsupportedOperation) as info:
        provider.rotate()
    message = str(info.value)
    assert "MK_V4" in message
    assert "MK_VERSION=5" in message
    assert "tigerseal keygen --print" in message


def test_reads_dotenv_file_under_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DOTENV_MK", raising=False)
    (tmp_path / ".env").write_text(f"DOTENV_MK={KEY}\nDOTENV_MK_VERSION=2\n")
    with pytest.raises(ConfigError, match="DOTENV_MK is not set"):  # never read implicitly
        key_provider_from_uri("env://DOTENV_MK")
    monkeypatch.setenv("TIGERSEAL_ENV_FILE", str(tmp_path / ".env"))
    provider = key_provider_from_uri("env://DOTENV_MK")
    assert provider.key_version == 2
    monkeypatch.setenv("DOTENV_MK_VERSION", "5")
    assert key_provider_from_uri("env://DOTENV_MK").key_version == 5  # environment wins
    assert read_environment(tmp_path / "missing.env").get("DOTENV_MK") is None


# -- passphrase mode ---------------------------------------------------------------------------
def passphrase_env(**extra: str) -> dict[str, str]:
    return {"PP": "a sufficiently long passphrase", "PP_SALT": SALT, **extra}


def test_passphrase_is_deterministic_for_same_salt_and_iterations() -> None:
    one = EnvKeyProvider("PP", environ=passphrase_env(), kdf="pbkdf2", iterations=100_000)
    two = from_uri(
        f"env://PP?kdf=pbkdf2&iterations=100000&salt={SALT}",
        environ={"PP": "a sufficiently long passphrase"},
    )
    wrapped = one.wrap(b"d" * 32, {"x": "y"})
    assert two.unwrap(wrapped, {"x": "y"}) == b"d" * 32


@pytest.mark.parametrize(
    "change",
    [
        {"iterations": 100_001},
        {"salt": bytes.fromhex(SALT)[::-1]},
    ],
)
def test_passphrase_parameters_are_part_of_the_key(change: dict[str, object]) -> None:
    base = EnvKeyProvider("PP", environ=passphrase_env(), kdf="pbkdf2", iterations=100_000)
    kwargs: dict[str, object] = {"iterations": 100_000, **change}
    other = EnvKeyProvider("PP", environ=passphrase_env(), kdf="pbkdf2", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(DecryptionError):
        other.unwrap(base.wrap(b"d" * 32, {}), {})


def test_passphrase_iterations_default_to_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from tigerseal.config import reset_settings

    monkeypatch.setenv("PBKDF2_ITERATIONS", "100000")
    reset_settings()
    try:
        implicit = EnvKeyProvider("PP", environ=passphrase_env(), kdf="pbkdf2")
    finally:
        reset_settings()
    explicit = EnvKeyProvider("PP", environ=passphrase_env(), kdf="pbkdf2", iterations=100_000)
    assert explicit.unwrap(implicit.wrap(b"d" * 32, {}), {}) == b"d" * 32


@pytest.mark.parametrize(
    ("env", "kwargs", "message"),
    [
        ({"PP": "a sufficiently long passphrase"}, {}, "needs a salt"),
        (passphrase_env(PP_SALT="nothex"), {}, "PP_SALT must be hex"),
        (passphrase_env(PP_SALT="00" * 8), {}, "at least 16 bytes"),
        (passphrase_env(), {"iterations": 99_999}, "at least 100,000"),
        (passphrase_env(PP="short"), {}, "too short"),
    ],
)
def test_passphrase_errors(env: dict[str, str], kwargs: dict[str, int], message: str) -> None:
    kwargs = {"iterations": 100_000, **kwargs}
    with pytest.raises(ConfigError, match=message) as info:
        EnvKeyProvider("PP", environ=env, kdf="pbkdf2", **kwargs)
    assert "sufficiently" not in str(info.value)
    assert "short'" not in str(info.value)


def test_passphrase_versions() -> None:
    old = EnvKeyProvider("PP", environ=passphrase_env(), kdf="pbkdf2", iterations=100_000)
    wrapped = old.wrap(b"d" * 32, {})
    env = passphrase_env(
        PP="the new passphrase, longer", PP_VERSION="2", PP_V1="a sufficiently long passphrase"
    )
    new = EnvKeyProvider("PP", environ=env, kdf="pbkdf2", iterations=100_000)
    assert new.key_version == 2
    assert new.unwrap(wrapped, {}) == b"d" * 32
    assert new.uri == "env://PP?kdf=pbkdf2"

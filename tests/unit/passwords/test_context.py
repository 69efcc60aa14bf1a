"""PasswordContext and the module functions: defaults from settings, upgrades, plugins."""

from __future__ import annotations

import pytest
from tigerseal.config import reset_settings
from tigerseal.errors import PasswordError, UnknownProviderError
from tigerseal.hookspecs import hookimpl
from tigerseal.passwords import (
    BcryptHasher,
    PasswordContext,
    get_password_context,
    hash_password,
    identify_hash,
    needs_update,
    set_password_context,
    verify_and_update,
    verify_password,
)
from tigerseal.plugins import get_registry, password_hasher
from tigerseal.spi import HasherSpec, PasswordHasher

from tests.unit.passwords.conftest import make_context


def test_default_scheme_is_argon2id_with_rfc9106_parameters() -> None:
    stored = hash_password("user_password")
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert verify_password("user_password", stored)
    assert not verify_password("User_password", stored)
    assert identify_hash(stored) == "argon2"


@pytest.mark.parametrize(
    ("setting", "prefix"),
    [("bcrypt", "$2b$12$"), ("pbkdf2-sha256", "$pbkdf2-sha256$600000$")],
)
def test_password_hash_algorithm_picks_the_default(
    monkeypatch: pytest.MonkeyPatch, setting: str, prefix: str
) -> None:
    monkeypatch.setenv("PASSWORD_HASH_ALGORITHM", setting)
    assert get_password_context().default.name == setting
    assert get_password_context().hash("pw-for-test").startswith(prefix)


def test_pbkdf2_iterations_setting_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PASSWORD_HASH_ALGORITHM", "pbkdf2")
    monkeypatch.setenv("PBKDF2_ITERATIONS", "20000")
    assert hash_password("pw").startswith("$pbkdf2-sha256$20000$")


def test_context_follows_settings_resets(monkeypatch: pytest.MonkeyPatch) -> None:
    first = get_password_context()
    assert get_password_context() is first
    monkeypatch.setenv("PASSWORD_HASH_ALGORITHM", "scrypt")
    reset_settings()
    assert get_password_context().default.name == "scrypt"


def test_set_password_context_overrides_settings() -> None:
    ctx = make_context("bcrypt")
    set_password_context(ctx)
    try:
        assert hash_password("pw").startswith("$2b$04$")
    finally:
        set_password_context(None)
    assert get_password_context() is not ctx


def test_verify_and_update_outcomes() -> None:
    ctx = make_context("argon2")
    current = ctx.hash("pw-1")
    assert ctx.verify_and_update("pw-1", current) == (True, None)
    assert ctx.verify_and_update("wrong", current) == (False, None)
    legacy = ctx.hasher("bcrypt").hash("pw-1")
    ok, new = ctx.verify_and_update("pw-1", legacy)
    assert ok
    assert new is not None
    assert new.startswith("$argon2id$")
    assert ctx.verify("pw-1", new)
    assert ctx.verify_and_update("wrong", legacy) == (False, None)


def test_module_verify_and_update_upgrades_to_the_configured_default() -> None:
    legacy = (
        "$pbkdf2-sha256$1212$4vjV83LKPjQzk31VI4E0Vw$hsYF68OiOUPdDZ1Fg.fJPeq1h/gXXY7acBp9/6c.tmQ"
    )
    assert needs_update(legacy)
    ok, new = verify_and_update("password", legacy)
    assert ok
    assert new is not None
    assert new.startswith("$argon2id$")


def test_unknown_user_verifies_a_dummy_hash_and_fails() -> None:
    ctx = make_context()
    assert ctx.verify("anything", None) is False
    assert ctx._dummy is not None  # the work was really done


def test_unknown_default_scheme_is_a_config_error() -> None:
    with pytest.raises(UnknownProviderError, match="Did you mean 'bcrypt'"):
        PasswordContext("bcript")


def test_aliases_resolve_through_the_registry() -> None:
    assert password_hasher("argon2id").name == "argon2"
    assert password_hasher("pbkdf2", iterations=1000).name == "pbkdf2-sha256"


def test_non_str_stored_hash_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        make_context().verify("pw", b"$2b$...")  # type: ignore[arg-type]


def test_repr_shows_no_secret() -> None:
    assert "argon2" in repr(make_context())


class RotHasher(PasswordHasher):
    """A toy scheme registered as a plugin (never use: it is not a hash)."""

    name = "rot13-test"

    def identify(self, stored_hash: str) -> bool:
        return stored_hash.startswith("$rot13$")

    def hash(self, password: str) -> str:
        import codecs

        return "$rot13$" + codecs.encode(password, "rot13")

    def verify(self, password: str, stored_hash: str) -> bool:
        return self.hash(password) == stored_hash

    def needs_update(self, stored_hash: str) -> bool:
        return False


class RotPlugin:
    @hookimpl
    def register_password_hashers(self) -> list[HasherSpec]:
        return [HasherSpec(name="rot13-test", factory=RotHasher)]


def test_plugin_hashers_are_identified_and_selectable() -> None:
    registry = get_registry()
    name = registry.register(RotPlugin(), name="test-rot13")
    try:
        ctx = PasswordContext("argon2", hashers={"argon2": make_context().default})
        assert ctx.verify("abc", "$rot13$nop")
        ok, new = ctx.verify_and_update("abc", "$rot13$nop")
        assert ok
        assert new is not None
        assert new.startswith("$argon2id$")
        assert PasswordContext("rot13-test").hash("abc") == "$rot13$nop"
    finally:
        registry.unregister(name)


def test_bcrypt_default_context_keeps_bcrypt_hashes() -> None:
    ctx = PasswordContext("bcrypt", hashers={"bcrypt": BcryptHasher(rounds=4)})
    stored = ctx.hash("pw")
    assert ctx.verify_and_update("pw", stored) == (True, None)


def test_malformed_hash_message_has_no_secret() -> None:
    with pytest.raises(PasswordError) as info:
        make_context().verify("hunter2", "$2b$04$broken")
    assert "hunter2" not in str(info.value)
    assert "$2b$04$broken" not in str(info.value)

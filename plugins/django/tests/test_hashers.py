"""TigerSealPasswordHasher in PASSWORD_HASHERS: new hashes, Django's old ones upgraded at login."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.usefixtures("django_setup", "tigerseal_env")


def test_make_password_uses_tigerseal_argon2() -> None:
    from django.contrib.auth.hashers import check_password, identify_hasher, make_password

    encoded = make_password("correct horse battery staple")
    assert encoded.startswith("tigerseal$argon2id$v=19$")
    assert len(encoded) <= 128  # auth_user.password
    assert identify_hasher(encoded).algorithm == "tigerseal"
    assert check_password("correct horse battery staple", encoded)
    assert not check_password("wrong", encoded)


@pytest.mark.parametrize("name", ["pbkdf2_sha256", "argon2", "bcrypt_sha256"])
def test_django_hash_is_verified_and_upgraded_on_login(name: str) -> None:
    from django.contrib.auth.hashers import check_password, get_hasher, make_password

    assert get_hasher("default").algorithm == "tigerseal"
    old = make_password("s3cret-pw", hasher=name)
    assert old.startswith(name + "$")
    upgraded: list[str] = []

    def setter(password: str) -> None:
        upgraded.append(make_password(password))

    # A wrong password never upgrades.
    assert not check_password("nope", old, setter)
    assert upgraded == []
    assert check_password("s3cret-pw", old, setter)
    assert len(upgraded) == 1
    assert upgraded[0].startswith("tigerseal$argon2id$")
    # The upgraded hash is current: no further upgrade.
    assert check_password("s3cret-pw", upgraded[0], setter)
    assert len(upgraded) == 1


def test_user_login_upgrades_stored_hash(db: str) -> None:
    """Through the real User model and authenticate(): the row is rewritten on login."""
    from django.contrib.auth import authenticate
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import User

    User.objects.create(username="ada", password=make_password("pw-of-ada", hasher="pbkdf2_sha256"))
    assert authenticate(username="ada", password="wrong") is None
    assert User.objects.get(username="ada").password.startswith("pbkdf2_sha256$")
    user = authenticate(username="ada", password="pw-of-ada")
    assert user is not None
    stored = User.objects.get(username="ada").password
    assert stored.startswith("tigerseal$argon2id$")
    assert authenticate(username="ada", password="pw-of-ada") is not None


def test_must_update_when_parameters_or_scheme_change() -> None:
    from django.contrib.auth.hashers import get_hasher
    from tigerseal.passwords import Argon2Hasher, PasswordContext

    hasher = get_hasher("tigerseal")
    cheaper = PasswordContext(
        "argon2", hashers={"argon2": Argon2Hasher(time_cost=1, memory_cost=512, parallelism=1)}
    )
    weak = "tigerseal" + cheaper.hash("pw")
    current = hasher.encode("pw", hasher.salt())
    assert hasher.must_update(weak)
    assert not hasher.must_update(current)
    assert hasher.verify("pw", weak)
    # A malformed value never verifies and is reported outdated (never an exception).
    assert not hasher.verify("pw", "tigerseal$argon2id$garbage")
    assert hasher.must_update("tigerseal$argon2id$garbage")


def test_safe_summary_hides_the_hash() -> None:
    from django.contrib.auth.hashers import get_hasher

    hasher = get_hasher("tigerseal")
    encoded = hasher.encode("pw", hasher.salt())
    summary = hasher.safe_summary(encoded)
    tag = encoded.rsplit("$", 1)[1]
    assert summary["algorithm"] == "tigerseal"
    assert summary["scheme"] == "argon2"
    assert summary["parameters"] == "m=1024,t=1,p=1"
    assert tag not in str(summary)
    assert str(summary["hash"]).startswith(tag[:6])


def test_harden_runtime_spends_a_current_verification() -> None:
    from django.contrib.auth.hashers import get_hasher
    from tigerseal.passwords import Argon2Hasher, PasswordContext

    hasher = get_hasher("tigerseal")
    calls: list[object] = []
    real = hasher.context.verify

    def spy(password: str, stored: str | None) -> bool:
        calls.append(stored)
        return real(password, stored)

    cheaper = PasswordContext(
        "argon2", hashers={"argon2": Argon2Hasher(time_cost=1, memory_cost=512, parallelism=1)}
    )
    weak = "tigerseal" + cheaper.hash("pw")
    hasher.context.verify = spy  # type: ignore[method-assign]
    try:
        hasher.harden_runtime("wrong", weak)
        assert calls == [None]  # the dummy hash at the current parameters
        hasher.harden_runtime("wrong", hasher.encode("pw", "x"))
        assert calls == [None]
    finally:
        del hasher.context.verify


def test_pepper_from_settings_tigerseal(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """TIGERSEAL["PASSWORD_PEPPER_FILE"]: hashes are peppered, fit 128 chars, and verify."""
    from django.contrib.auth.hashers import check_password, make_password
    from django.test import override_settings
    from tigerseal.envelope import get_encryption_service
    from tigerseal.passwords import add_pepper

    pepper_file = tmp_path / "peppers.json"
    add_pepper(pepper_file, get_encryption_service().providers[0], pepper_id="p1")
    with override_settings(TIGERSEAL={"PASSWORD_PEPPER_FILE": str(pepper_file)}):
        encoded = make_password("pw")
        assert encoded.startswith("tigerseal$p=p1$argon2id$")
        assert len(encoded) <= 128
        assert check_password("pw", encoded)
        assert not check_password("pw2", encoded)
    # Without the pepper, the peppered hash cannot verify.
    assert not check_password("pw", encoded)

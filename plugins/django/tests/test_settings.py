"""settings.TIGERSEAL: tigerseal's settings and the integration's own, typos refused."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.usefixtures("django_setup", "tigerseal_env")


def test_tigerseal_setting_maps_onto_settings() -> None:
    from django.test import override_settings
    from tigerseal_django.conf import get_option, get_services

    with override_settings(
        TIGERSEAL={
            "PASSWORD_HASH_ALGORITHM": "pbkdf2-sha256",
            "tigerseal_rate_limit_algorithm": "gcra",
            "TRUSTED_PROXIES": ["10.0.0.1"],
        }
    ):
        services = get_services()
        assert services.settings is not None
        assert services.settings.password_hash_algorithm == "pbkdf2-sha256"
        assert services.passwords.default.name == "pbkdf2-sha256"
        assert services.limiter.algorithm == "gcra"
        assert get_option("TRUSTED_PROXIES") == ["10.0.0.1"]
    # Back to the process-wide defaults once the override ends.
    assert get_services().settings is None


def test_unknown_key_is_refused_with_a_hint() -> None:
    from django.core.exceptions import ImproperlyConfigured
    from django.test import override_settings
    from tigerseal_django.conf import get_services

    with (
        override_settings(TIGERSEAL={"JWT_SECRT": "x" * 40}),
        pytest.raises(ImproperlyConfigured, match=r"JWT_SECRT.*did you mean 'JWT_SECRET'"),
    ):
        get_services()


def test_invalid_value_names_the_setting_not_the_value() -> None:
    from django.core.exceptions import ImproperlyConfigured
    from django.test import override_settings
    from tigerseal_django.conf import get_services

    with (
        override_settings(TIGERSEAL={"JWT_SECRET": "short-secret-value"}),
        pytest.raises(ImproperlyConfigured, match="JWT_SECRET") as info,
    ):
        get_services()
    assert "short-secret-value" not in str(info.value)


def test_keys_and_jwt_secret_come_from_settings_tigerseal(db: str) -> None:
    """TIGERSEAL's master key and JWT secret win over the environment's."""
    import secrets

    from django.test import override_settings
    from tigerseal.envelope import get_encryption_service
    from tigerseal.errors import DecryptionError, TokenInvalidError
    from tigerseal_django.conf import get_services
    from tsdj_app.models import Note

    key, jwt_secret = secrets.token_hex(32), secrets.token_urlsafe(48)
    config = {"ENCRYPTION_MASTER_KEY": key, "JWT_SECRET": jwt_secret}
    with override_settings(TIGERSEAL=config):
        note = Note.objects.create(body="under the settings key")
        token = get_services().tokens.create("ada")
        stored = Note.objects.values_list("body", flat=True).get(pk=note.pk).text
        context = {"model": "tsdj_app.note", "column": "body", "pk": str(note.pk)}
        assert get_services().encryption.decrypt_to_string(stored, context) == (
            "under the settings key"
        )
        assert Note.objects.get(pk=note.pk).body == "under the settings key"
    # The process-wide service (the environment's key) cannot read it; nor verify the token.
    with pytest.raises(DecryptionError):
        get_encryption_service().decrypt(stored, context)
    with pytest.raises(TokenInvalidError):
        get_services().tokens.verify(token)
    with override_settings(TIGERSEAL=dict(config)):  # rebuilt from equal settings: same keys
        assert get_services().tokens.verify(token).sub == "ada"
        assert Note.objects.get(pk=note.pk).body == "under the settings key"

"""Django for the tigerseal-django tests: configured per test module, never process-wide.

``settings.configure`` happens in the module-scoped ``django_setup`` fixture (not at import),
and its teardown unconfigures the settings again, closes every connection and forgets the
tigerseal services built from ``settings.TIGERSEAL``; nothing is set in ``os.environ`` beyond
what ``monkeypatch`` undoes. Each test gets an empty database: a SQLite file, or a fresh
database on the suite's PostgreSQL (``db`` is parametrised over both).
"""

from __future__ import annotations

import contextlib
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.cheap_hashing import cheap_hashing
from tests.unit.config.isolation import isolate

HERE = Path(__file__).parent

HASHERS = [
    "tigerseal_django.hashers.TigerSealPasswordHasher",
    # Django's own, at test cost (tsdj_app.hashers: same algorithm names).
    "tsdj_app.hashers.FastPBKDF2",
    "tsdj_app.hashers.FastArgon2",
    "tsdj_app.hashers.FastBCryptSHA256",
]


def cheap_argon2() -> Any:
    from tigerseal.passwords import Argon2Hasher

    return Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1)


def django_settings(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "SECRET_KEY": secrets.token_urlsafe(32),
        "DEBUG": False,
        "ALLOWED_HOSTS": ["*"],
        "USE_TZ": True,
        "DEFAULT_AUTO_FIELD": "django.db.models.AutoField",
        "INSTALLED_APPS": [
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "tsdj_app",
        ],
        "DATABASES": {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        "PASSWORD_HASHERS": HASHERS,
        "MIDDLEWARE": [],
        "ROOT_URLCONF": "tsdj_app.urls",
    }
    values.update(overrides)
    return values


@pytest.fixture(scope="module")
def django_setup() -> Iterator[None]:
    """Configure Django for one test module; unconfigure it afterwards."""
    import django
    from django.conf import settings
    from django.utils.functional import empty

    if settings.configured:
        pytest.fail("Django is already configured: another module leaked its settings")
    added = str(HERE) not in sys.path
    if added:
        sys.path.insert(0, str(HERE))
    settings.configure(**django_settings())
    django.setup()
    try:
        yield
    finally:
        from django.db import connections
        from tigerseal_django import conf

        connections.close_all()
        conf.reset()
        settings._wrapped = empty
        if added:
            sys.path.remove(str(HERE))


@pytest.fixture
def tigerseal_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No tigerseal variable but a fresh master key; fresh process-wide services."""
    from tigerseal.envelope import reset_encryption_service
    from tigerseal.passwords import PasswordContext, set_password_context

    for workdir in isolate(monkeypatch, tmp_path):
        monkeypatch.setenv("ENCRYPTION_MASTER_KEY", secrets.token_hex(32))
        reset_encryption_service()
        # Contexts built from settings (settings.TIGERSEAL) and Django's PBKDF2 too.
        cheap_hashing(monkeypatch)
        # argon2id at test cost (isolate() puts the settings-built context back afterwards).
        set_password_context(PasswordContext("argon2", hashers={"argon2": cheap_argon2()}))
        try:
            yield workdir
        finally:
            reset_encryption_service()


def _use_database(config: dict[str, Any]) -> None:
    from django.db import connections

    connections.close_all()
    connections.settings = connections.configure_settings({"default": config})
    with contextlib.suppress(AttributeError):  # no connection opened yet in this thread
        del connections["default"]


def create_tables() -> None:
    from django.apps import apps
    from django.db import connection

    with connection.schema_editor() as editor:
        for model in apps.get_models():
            editor.create_model(model)


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=[pytest.mark.integration, pytest.mark.postgres]),
    ]
)
def db(
    request: pytest.FixtureRequest, django_setup: None, tigerseal_env: Path, tmp_path: Path
) -> Iterator[str]:
    """An empty database with the test app's tables; yields the vendor name."""
    if request.param == "sqlite":
        config = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "db.sqlite3")}
    else:
        from urllib.parse import urlsplit

        url = urlsplit(request.getfixturevalue("pg_url"))
        config = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": url.path.lstrip("/"),
            "USER": url.username,
            "HOST": url.hostname,
            "PORT": str(url.port),
        }
    _use_database(config)
    create_tables()
    try:
        yield request.param
    finally:
        _use_database(django_settings()["DATABASES"]["default"])


@pytest.fixture
def blind_index_keys(db: str) -> Iterator[dict[str, str]]:
    """``TIGERSEAL["BLIND_INDEX_KEYS"]`` with a fresh key for the test app's index."""
    from django.test import override_settings
    from tigerseal_django.fields import generate_blind_index_key

    keys = {"customers": generate_blind_index_key("customers")}
    with override_settings(TIGERSEAL={"BLIND_INDEX_KEYS": keys}):
        yield keys

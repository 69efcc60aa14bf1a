"""Root conftest: service fixtures for every test directory (tests/, providers/*, plugins/*)."""

from __future__ import annotations

pytest_plugins = [
    "tests.services.moto",
    "tests.services.vault",
    "tests.services.softhsm",
    "tests.services.redis",
    "tests.services.postgres",
    # fake:// is opt-in: tests that configure fake:// URIs request fake_provider_registered.
    "tigerseal.testing.pytest_plugin",
]

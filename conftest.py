"""Root conftest: service fixtures for every test directory (tests/, providers/*, plugins/*)."""

from __future__ import annotations

# providers/_template runs from a copy (tests/unit/plugins/test_template.py), as its users would.
collect_ignore = ["providers/_template"]

pytest_plugins = [
    "tests.services.moto",
    "tests.services.vault",
    "tests.services.softhsm",
    "tests.services.redis",
    "tests.services.postgres",
    # fake:// is opt-in: tests that configure fake:// URIs request fake_provider_registered.
    "tigerseal.testing.pytest_plugin",
]

"""pytest fixtures for applications and provider authors: ``fake://`` on demand.

Enable in the top-level ``conftest.py`` (pytest reads ``pytest_plugins`` only there)::

    pytest_plugins = ["tigerseal.testing.pytest_plugin"]

then request ``fake_provider_registered`` in the tests (or fixtures) that configure
``fake://`` URIs, e.g. ``TIGERSEAL_KEY_PROVIDERS=fake://orders``. Tests that build
:class:`~tigerseal.testing.FakeKeyProvider` objects directly need nothing.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tigerseal.testing.fake import register_fake_provider, unregister_fake_provider

__all__ = ["fake_provider_registered"]


@pytest.fixture
def fake_provider_registered() -> Iterator[None]:
    """Register ``fake://`` in the process-wide plugin registry for one test."""
    from tigerseal.plugins import get_registry

    registry = get_registry()
    added = register_fake_provider(registry)
    yield
    if added:
        unregister_fake_provider(registry)

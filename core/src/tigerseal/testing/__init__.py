"""Test helpers for applications and for authors of third-party providers.

* :class:`FakeKeyProvider` (``fake://name``): in-memory keys with fault injection and call
  counts. Not built in: call :func:`register_fake_provider` (or use the
  ``fake_provider_registered`` fixture from ``tigerseal.testing.pytest_plugin``) so that
  ``TIGERSEAL_KEY_PROVIDERS=fake://test`` works; it is refused with ``ENVIRONMENT=production``.
* :class:`ProviderContract`: the pytest contract suite every key provider must pass; subclass it
  in your provider's tests (see :mod:`tigerseal.testing.contract`).

Names are imported on first access, so ``import tigerseal.testing`` does not import pytest.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from tigerseal._lazy import lazy_exports

if TYPE_CHECKING:
    from tigerseal.testing.contract import ProviderContract
    from tigerseal.testing.fake import (
        FakeKeyProvider,
        register_fake_provider,
        reset_fake_keys,
        unregister_fake_provider,
    )

__all__ = [
    "FakeKeyProvider",
    "ProviderContract",
    "register_fake_provider",
    "reset_fake_keys",
    "unregister_fake_provider",
]

# Under pytest, rewrite the contract's asserts so failures show values (before it is imported).
if "pytest" in sys.modules and "tigerseal.testing.contract" not in sys.modules:
    sys.modules["pytest"].register_assert_rewrite("tigerseal.testing.contract")

_LAZY = {
    "FakeKeyProvider": "tigerseal.testing.fake",
    "reset_fake_keys": "tigerseal.testing.fake",
    "register_fake_provider": "tigerseal.testing.fake",
    "unregister_fake_provider": "tigerseal.testing.fake",
    "ProviderContract": "tigerseal.testing.contract",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)

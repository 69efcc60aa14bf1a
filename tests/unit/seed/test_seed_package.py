"""The seed's facades live in ``tigerseal.seed`` and stay importable from ``tigerseal``."""

from __future__ import annotations

import importlib

import pytest
import tigerseal
import tigerseal.seed

FACADE_NAMES = [
    "KeyManager",
    "SecurityService",
    "get_security_service",
    "encrypt_tiger_credentials",
    "decrypt_tiger_credentials",
    "encrypt_tiger_account_data",
    "decrypt_tiger_account_data",
]


@pytest.mark.parametrize("name", FACADE_NAMES)
def test_facade_is_the_same_object_from_tigerseal_and_tigerseal_seed(name: str) -> None:
    assert getattr(tigerseal, name) is getattr(tigerseal.seed, name)
    assert name in tigerseal.__all__
    assert name in tigerseal.seed.__all__


@pytest.mark.parametrize("old", ["tigerseal.security", "tigerseal.keymanager", "tigerseal.tiger"])
def test_old_top_level_facade_modules_are_gone(old: str) -> None:
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(old)

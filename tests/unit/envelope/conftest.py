from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from tigerseal.envelope import EncryptionService
from tigerseal.testing.fake import FakeKeyProvider, reset_fake_keys


@pytest.fixture
def name() -> Iterator[str]:
    n = "env-test-" + secrets.token_hex(4)
    yield n
    reset_fake_keys(n)


@pytest.fixture
def provider(name: str) -> FakeKeyProvider:
    return FakeKeyProvider(name)


@pytest.fixture
def svc(provider: FakeKeyProvider) -> EncryptionService:
    return EncryptionService(provider)

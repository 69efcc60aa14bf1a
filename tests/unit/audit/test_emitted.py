"""tigerseal audits what it does itself: rotations, rewraps, failed password checks."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from tigerseal.audit import Auditor, set_auditor
from tigerseal.cli import cli
from tigerseal.envelope import EncryptionService
from tigerseal.errors import PasswordError
from tigerseal.seed import SecurityService
from tigerseal.spi import AuditSink
from tigerseal.testing.fake import FakeKeyProvider


class ListSink(AuditSink):
    def __init__(self) -> None:
        self.records: list[Mapping[str, Any]] = []

    def write(self, record: Mapping[str, Any]) -> None:
        self.records.append(record)


@pytest.fixture
def sink() -> Iterator[ListSink]:
    sink = ListSink()
    previous = set_auditor(Auditor([sink]))
    yield sink
    set_auditor(previous)


def _events(sink: ListSink, event_type: str) -> list[Mapping[str, Any]]:
    return [r for r in sink.records if r["event_type"] == event_type]


def test_rewrap_is_audited(sink: ListSink, key_name: str) -> None:
    service = EncryptionService(FakeKeyProvider(key_name))
    messages = [service.encrypt(b"x", {"n": str(i)}) for i in range(3)]
    FakeKeyProvider(key_name).rotate()
    service.rewrap_many(messages)
    (event,) = _events(sink, "crypto_rewrap")
    assert event["details"]["rewrapped"] == 3
    assert event["details"]["versions"] == {f"fake:{key_name}": 2} or event["details"]["versions"]
    service.rewrap_many(service.rewrap_many(messages))  # nothing stale: no new event
    assert len(_events(sink, "crypto_rewrap")) == 2  # the inner call rewrapped, the outer not


def test_cli_rotate_is_audited(sink: ListSink, tmp_path: Path) -> None:
    from tigerseal.providers.file import create_keyring

    keyring = tmp_path / "keyring.json"
    create_keyring(keyring)
    out = CliRunner().invoke(cli, ["rotate", "--keyring", str(keyring)])
    assert out.exit_code == 0, out.output
    (event,) = _events(sink, "crypto_key_rotated")
    assert event["details"]["previous_version"] == 1
    assert event["details"]["version"] == 2
    assert str(keyring) in event["details"]["provider"]


def test_keymanager_rotation_is_audited(sink: ListSink, tmp_path: Path) -> None:
    from tigerseal.providers.file import create_keyring
    from tigerseal.seed import KeyManager

    keyring = tmp_path / "keyring.json"
    create_keyring(keyring)
    assert KeyManager.rotate_keyring(keyring) == 2
    (event,) = _events(sink, "crypto_key_rotated")
    assert (event["details"]["previous_version"], event["details"]["version"]) == (1, 2)


def test_failed_password_checks_are_audited_without_the_password(sink: ListSink) -> None:
    security = SecurityService()
    stored = security.hash_password("correct horse battery staple")
    assert security.verify_password("correct horse battery staple", stored)
    assert not _events(sink, "authn_login_fail")
    assert not security.verify_password("Tr0ub4dor&3-guess", stored)
    (event,) = _events(sink, "authn_login_fail")
    assert "Tr0ub4dor" not in repr(sink.records)
    assert event["risk_level"] == "medium"
    ok, _ = security.verify_and_update("another-wrong-guess", stored)
    assert not ok
    assert len(_events(sink, "authn_login_fail")) == 2


def test_failed_api_key_checks_are_audited_without_the_key(sink: ListSink) -> None:
    security = SecurityService()
    key, stored = security.generate_api_key()
    assert security.verify_api_key(key, stored)
    assert not _events(sink, "authn_token_invalid")
    wrong = key[:-1] + ("A" if key[-1] != "A" else "B")
    assert not security.verify_api_key(wrong, stored)
    (event,) = _events(sink, "authn_token_invalid")
    assert event["details"]["reason"] == "api_key_mismatch"
    assert key[4:] not in repr(sink.records)
    assert wrong[4:] not in repr(sink.records)


def test_a_malformed_stored_hash_is_audited_and_still_raises(sink: ListSink) -> None:
    security = SecurityService()
    with pytest.raises(PasswordError):
        security.verify_password("whatever-password", "$argon2id$v=19$m=bogus")
    (event,) = _events(sink, "authn_login_fail")
    assert event["details"]["reason"] == "stored_hash_unusable"
    assert "whatever-password" not in repr(sink.records)

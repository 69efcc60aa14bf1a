"""Credential helpers: each field bound to its name and account."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tigerseal import (
    ContextMismatchError,
    DecryptionError,
    EncryptedData,
    EncryptionError,
    decrypt_tiger_account_data,
    decrypt_tiger_credentials,
    encrypt_tiger_account_data,
    encrypt_tiger_credentials,
    get_security_metrics,
)
from tigerseal.audit import reset_auditor
from tigerseal.envelope import EncryptionService
from tigerseal.seed import credential_context
from tigerseal.testing.fake import FakeKeyProvider, reset_fake_keys

PEM = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"


def test_round_trip_with_and_without_account() -> None:
    plain = encrypt_tiger_credentials("20150001", PEM, "at", "rt")
    assert decrypt_tiger_credentials(plain) == {
        "tiger_id": "20150001",
        "private_key": PEM,
        "access_token": "at",
        "refresh_token": "rt",
    }
    bound = encrypt_tiger_account_data(tiger_id="1", private_key=PEM, account_id=42)
    assert set(bound) == {"tiger_id", "private_key"}  # None fields are left out
    assert bound["private_key"].context == {
        "purpose": "tiger-credentials",
        "field": "private_key",
        "account": "42",
    }
    assert decrypt_tiger_account_data(bound, account_id=42) == {"tiger_id": "1", "private_key": PEM}
    assert decrypt_tiger_account_data(bound, account_id="42")["tiger_id"] == "1"


def test_a_ciphertext_moved_to_another_field_fails() -> None:
    enc = encrypt_tiger_account_data(tiger_id="1", private_key=PEM, access_token="at")
    swapped = {"tiger_id": enc["access_token"], "private_key": enc["private_key"]}
    with pytest.raises(ContextMismatchError):
        decrypt_tiger_account_data(swapped)


def test_a_ciphertext_moved_to_another_account_fails() -> None:
    alice = encrypt_tiger_account_data(tiger_id="1", private_key=PEM, account_id=1)
    with pytest.raises(ContextMismatchError):
        decrypt_tiger_account_data({"private_key": alice["private_key"]}, account_id=2)
    with pytest.raises(ContextMismatchError):
        decrypt_tiger_account_data({"private_key": alice["private_key"]})  # account not given
    unbound = encrypt_tiger_account_data(tiger_id="1", private_key=PEM)
    with pytest.raises(ContextMismatchError):
        decrypt_tiger_account_data(unbound, account_id=1)


def test_stored_forms_decrypt() -> None:
    enc = encrypt_tiger_account_data(tiger_id="7", private_key=PEM, account_id="acct-7")
    for form in (str, lambda e: e.json(), bytes):
        stored = {k: form(v) for k, v in enc.items()}
        assert decrypt_tiger_account_data(stored, account_id="acct-7")["tiger_id"] == "7"
    assert json.loads(enc["tiger_id"].json())  # the seed's "store as JSON"
    assert decrypt_tiger_account_data({"tiger_id": None, "private_key": str(enc["private_key"])},
                                      account_id="acct-7") == {"private_key": PEM}  # fmt: skip


def test_tampering_fails_and_is_audited(fresh_clone: Path) -> None:
    enc = encrypt_tiger_account_data(tiger_id="9", private_key=PEM, account_id=9)
    raw = bytearray(bytes(enc["private_key"]))
    raw[-5] ^= 1
    with pytest.raises(DecryptionError):
        decrypt_tiger_account_data({"private_key": bytes(raw)}, account_id=9)
    with pytest.raises(ContextMismatchError):
        decrypt_tiger_account_data({"tiger_id": enc["private_key"]}, account_id=9)
    summary = get_security_metrics()["security_summary"]
    assert summary["failed_decryptions"] == 2
    assert summary["events_by_type"]["crypto_decrypt_fail"] == 2
    reset_auditor()
    trail = (fresh_clone / ".tigerseal" / "audit.jsonl").read_text()
    assert "tiger-credentials/private_key" in trail
    assert PEM.splitlines()[1] not in trail


def test_custom_service_and_extra_fields() -> None:
    name = "tiger-test-key"
    try:
        svc = EncryptionService(FakeKeyProvider(name))
        enc = encrypt_tiger_account_data(
            tiger_id="1", private_key=PEM, service=svc, license="LIC-123"
        )
        assert isinstance(enc["license"], EncryptedData)
        assert enc["license"].context == credential_context("license")
        assert decrypt_tiger_account_data(enc, service=svc)["license"] == "LIC-123"
        with pytest.raises(DecryptionError):  # not under the default service's keys
            decrypt_tiger_account_data(enc)
    finally:
        reset_fake_keys(name)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tiger_id": "", "private_key": PEM}, "tiger_id is required"),
        ({"tiger_id": "1", "private_key": None}, "private_key is required"),
        ({"tiger_id": 12345, "private_key": PEM}, "tiger_id must be text"),
        ({"tiger_id": "1", "private_key": PEM, "access_token": b"x"}, "access_token must be text"),
        ({"tiger_id": "1", "private_key": PEM, "account_id": 1.5}, "account_id"),
        ({"tiger_id": "1", "private_key": PEM, "account_id": ""}, "account_id"),
        ({"tiger_id": "1", "private_key": PEM, "account_id": True}, "account_id"),
    ],
)
def test_bad_input(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(EncryptionError, match=match):
        encrypt_tiger_account_data(**kwargs)  # type: ignore[arg-type]


def test_decrypt_needs_a_mapping() -> None:
    with pytest.raises(DecryptionError, match="mapping"):
        decrypt_tiger_account_data("ts1.abc")  # type: ignore[arg-type]
    with pytest.raises(DecryptionError):
        decrypt_tiger_account_data({"tiger_id": "not a message"})


def test_failed_row_decrypt_leaves_no_plaintext_of_other_fields_in_frames() -> None:
    # One tampered field of a row must not leave the fields decrypted before it in the
    # traceback's frame locals (error reporters capture them).
    import secrets as _secrets

    from tigerseal.envelope import EncryptionService
    from tigerseal.testing.fake import FakeKeyProvider, reset_fake_keys

    name = "tiger-leak-" + _secrets.token_hex(4)
    svc = EncryptionService(FakeKeyProvider(name))
    try:
        enc = encrypt_tiger_account_data(
            tiger_id="AKIA-first-field-secret", private_key="second", service=svc
        )
        tampered = bytearray(bytes(enc["private_key"]))
        tampered[-1] ^= 1
        rows = {"tiger_id": enc["tiger_id"], "private_key": bytes(tampered)}
        with pytest.raises(DecryptionError) as e:
            decrypt_tiger_account_data(rows, service=svc)
        tb = e.value.__traceback__.tb_next  # past this test's own frame
        while tb is not None:
            for local, value in tb.tb_frame.f_locals.items():
                assert "first-field-secret" not in repr(value), local
            tb = tb.tb_next
    finally:
        reset_fake_keys(name)

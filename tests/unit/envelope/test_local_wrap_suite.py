"""Issue 11 item 15: the env/file wrap records its cipher, so messages move between hosts.

A host whose OpenSSL lacks AES-GCM-SIV wraps with AES-GCM. Before the fix the blob did not say
which, and a message from such a host read as "not authentic" on a GCM-SIV host (and the other
way round). Hosts are simulated by choosing the ciphers the module may use.
"""

from __future__ import annotations

import os
import struct

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESGCMSIV
from tigerseal.envelope import EncryptionService
from tigerseal.errors import DecryptionError
from tigerseal.providers import _local
from tigerseal.providers._local import LocalKeyring, encode_context
from tigerseal.providers.env import EnvKeyProvider
from tigerseal.spi import WrappedKey

KEK = bytes.fromhex("5c" * 16 + "a3" * 16)


def _gcm_only_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_local, "_CIPHER", AESGCM)
    monkeypatch.setattr(_local, "SUITE", "AES-256-GCM")
    if hasattr(_local, "_CIPHERS"):
        monkeypatch.setattr(_local, "_CIPHERS", {2: AESGCM})


def _ring() -> LocalKeyring:
    return LocalKeyring("env", "ENCRYPTION_MASTER_KEY", {1: KEK}, current=1)


def test_gcm_host_message_reads_on_a_gcm_siv_host(monkeypatch: pytest.MonkeyPatch) -> None:
    dek = os.urandom(32)
    with monkeypatch.context() as m:
        _gcm_only_host(m)
        wrapped = _ring().wrap(dek, {"a": "b"})
    assert _ring().unwrap(wrapped, {"a": "b"}) == dek


def test_whole_message_moves_between_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"ENCRYPTION_MASTER_KEY": KEK.hex()}
    with monkeypatch.context() as m:
        _gcm_only_host(m)
        ed = EncryptionService(EnvKeyProvider(environ=env)).encrypt(b"moved", {"k": "v"})
    assert EncryptionService(EnvKeyProvider(environ=env)).decrypt(ed, {"k": "v"}) == b"moved"


def test_gcm_siv_message_on_a_gcm_only_host_says_what_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wrapped = _ring().wrap(os.urandom(32), {})
    _gcm_only_host(monkeypatch)
    with pytest.raises(DecryptionError, match="AES-256-GCM-SIV") as e:
        _ring().unwrap(wrapped, {})
    assert "OpenSSL" in str(e.value)


def _legacy_blob(cipher: type[AESGCM] | type[AESGCMSIV], dek: bytes, ctx: dict[str, str]) -> bytes:
    """A blob as tigerseal wrote it before the fix: 60 bytes, the v1 AAD, the cipher unrecorded."""
    aad = (
        b"tigerseal/local-wrap/v1\x00"
        + struct.pack(">I", 3)
        + b"env"
        + struct.pack(">I", 21)
        + b"ENCRYPTION_MASTER_KEY"
        + struct.pack(">I", 1)
        + encode_context(ctx)
    )
    nonce = os.urandom(12)
    return nonce + cipher(KEK).encrypt(nonce, dek, aad)


@pytest.mark.parametrize("cipher", [AESGCMSIV, AESGCM])
def test_blobs_written_before_the_fix_still_unwrap(
    cipher: type[AESGCM] | type[AESGCMSIV],
) -> None:
    dek = os.urandom(32)
    blob = _legacy_blob(cipher, dek, {"a": "b"})
    assert len(blob) == 60
    wrapped = WrappedKey("env", "ENCRYPTION_MASTER_KEY", 1, blob)
    assert _ring().unwrap(wrapped, {"a": "b"}) == dek
    with pytest.raises(DecryptionError, match="not authentic"):
        _ring().unwrap(wrapped, {"a": "c"})


def test_recorded_suite_is_authenticated() -> None:
    wrapped = _ring().wrap(os.urandom(32), {})
    blob = bytearray(wrapped.blob)
    blob[0] ^= 3  # GCM-SIV (1) <-> GCM (2)
    with pytest.raises(DecryptionError):
        _ring().unwrap(WrappedKey(wrapped.provider, wrapped.key_id, 1, bytes(blob)), {})
    blob[0] = 9
    with pytest.raises(DecryptionError, match="suite"):
        _ring().unwrap(WrappedKey(wrapped.provider, wrapped.key_id, 1, bytes(blob)), {})

"""The envelope (EncryptionService) on top of the pkcs11 provider and SoftHSM2."""

from __future__ import annotations

import io
import secrets
from collections.abc import Callable, Iterator

import pytest
from tigerseal.config import reset_settings
from tigerseal.envelope import (
    CachePolicy,
    EncryptedData,
    EncryptionService,
    get_encryption_service,
    reset_encryption_service,
)
from tigerseal.errors import ContextMismatchError, DecryptionError, KeyVersionRetired
from tigerseal.testing.fake import FakeKeyProvider
from tigerseal_pkcs11._options import parse_uri
from tigerseal_pkcs11._provider import Pkcs11Provider

from tests.services.softhsm import SoftHSM

pytestmark = [pytest.mark.integration, pytest.mark.pkcs11]

MakeProvider = Callable[..., Pkcs11Provider]


@pytest.mark.parametrize("usage", ["both", "wrap"])
def test_encrypt_decrypt_rotate_rewrap(make_provider: MakeProvider, usage: str) -> None:
    hsm = make_provider(usage=usage)
    svc = EncryptionService([hsm])
    context = {"table": "accounts", "row": "42", "column": "private_key"}
    ed = svc.encrypt("broker secret", context)
    assert ed.key_version == 1
    assert svc.decrypt_to_string(ed, context) == "broker secret"
    assert svc.decrypt(str(ed), context) == b"broker secret"
    assert svc.decrypt(EncryptedData.parse(ed.json()), context) == b"broker secret"
    with pytest.raises(ContextMismatchError):
        svc.decrypt(ed, {**context, "row": "43"})
    (described,) = svc.inspect(ed)["wrapped_keys"]
    assert described == {
        "provider": "pkcs11",
        "key_id": hsm.key_id,
        "key_version": 1,
        "wrapped_size": 61 if usage == "both" else 41,
    }

    hsm.rotate()
    moved = svc.rewrap(ed)
    assert moved.key_version == 2
    assert svc.decrypt(moved, context) == b"broker secret"
    assert [m.key_version for m in svc.rewrap_many([ed, ed])] == [2, 2]
    hsm.retire_below(2)
    with pytest.raises((KeyVersionRetired, DecryptionError)):
        svc.decrypt(ed, context)
    assert svc.decrypt(moved, context) == b"broker secret"


def test_tampered_message_fails(make_provider: MakeProvider) -> None:
    svc = EncryptionService([make_provider()])
    raw = bytearray(bytes(svc.encrypt(b"x" * 100, {"a": "b"})))
    raw[len(raw) // 2] ^= 1
    with pytest.raises(DecryptionError):
        svc.decrypt(bytes(raw), {"a": "b"})


def test_hsm_primary_with_backup_provider(make_provider: MakeProvider) -> None:
    hsm = make_provider()
    backup = FakeKeyProvider(f"backup-{secrets.token_hex(4)}")
    ed = EncryptionService([hsm, backup]).encrypt(b"payload", {"k": "v"})
    assert len(ed.wrapped_keys) == 2
    assert EncryptionService([backup]).decrypt(ed, {"k": "v"}) == b"payload"
    assert EncryptionService([hsm]).decrypt(ed, {"k": "v"}) == b"payload"


def test_streams(make_provider: MakeProvider) -> None:
    svc = EncryptionService([make_provider()], frame_size=4096)
    data = secrets.token_bytes(100_000)
    sealed, opened = io.BytesIO(), io.BytesIO()
    svc.encrypt_stream(io.BytesIO(data), sealed, {"file": "f"})
    sealed.seek(0)
    svc.decrypt_stream(sealed, opened, {"file": "f"})
    assert opened.getvalue() == data


def test_cache_makes_one_hsm_call_per_window(make_provider: MakeProvider) -> None:
    hsm = make_provider()
    svc = EncryptionService([hsm], cache=CachePolicy(max_age=3600, max_messages=500))
    context = {"tenant": "t-1"}
    messages = [svc.encrypt(f"secret {i}", context) for i in range(1000)]
    # Two windows of 500 messages: one data key (one HSM call) each.
    assert svc.metrics["generate"] == 2
    assert svc.metrics["provider_calls"] == 2
    reader = EncryptionService([hsm], cache=CachePolicy())
    for i, ed in enumerate(messages):
        assert reader.decrypt_to_string(ed, context) == f"secret {i}"
    assert reader.metrics["unwrap"] == 2, "one unwrap per distinct data key"


@pytest.fixture
def configured(softhsm: SoftHSM, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from tigerseal_pkcs11._admin import init_key

    uri = softhsm.uri(softhsm.new_label("configured"))
    init_key(uri)
    monkeypatch.setenv("TIGERSEAL_KEY_PROVIDERS", uri)
    reset_settings()
    reset_encryption_service()
    yield uri
    reset_encryption_service()
    monkeypatch.delenv("TIGERSEAL_KEY_PROVIDERS")
    reset_settings()


def test_configured_from_environment(configured: str) -> None:
    svc = get_encryption_service()
    (provider,) = svc.providers
    assert isinstance(provider, Pkcs11Provider)
    assert provider.key_id == parse_uri(configured).key_id
    ed = svc.encrypt("from env config")
    assert svc.decrypt_to_string(ed) == "from env config"

"""Issue 11 item 17: header text is escaped in errors; no key material is left in tracebacks."""

from __future__ import annotations

import io
from types import TracebackType

import pytest
from tigerseal.envelope import EncryptedData, EncryptionService
from tigerseal.envelope._format import derive, encode_key_section
from tigerseal.errors import DecryptionError, NoMatchingKeyError
from tigerseal.providers._local import LocalKeyring
from tigerseal.spi import WrappedKey
from tigerseal.testing.fake import FakeKeyProvider

HOSTILE_PROVIDER = "evil\x1b[2J\nINFO forged"
HOSTILE_KEY_ID = "kid\r\nERROR forged line\x1b]0;title\x07"


def _relabel(ed: EncryptedData, provider: str, key_id: str) -> bytes:
    w = ed.wrapped_keys[0]
    section = encode_key_section(
        (WrappedKey(provider, key_id, w.key_version, w.blob),), ed.header.manifest
    )
    return ed.header.aad + section + bytes(ed)[ed.header.size :]


def _assert_clean(text: str) -> None:
    for ch in ("\n", "\r", "\x1b", "\x07"):
        assert ch not in text


def test_no_matching_key_error_escapes_header_text(svc: EncryptionService) -> None:
    forged = _relabel(svc.encrypt(b"x"), HOSTILE_PROVIDER, HOSTILE_KEY_ID)
    with pytest.raises(NoMatchingKeyError) as e:
        svc.decrypt(forged)
    _assert_clean(str(e.value))
    assert "\\x1b" in str(e.value)  # shown escaped, not dropped


def test_repr_escapes_header_text(svc: EncryptionService) -> None:
    ed = EncryptedData.parse(_relabel(svc.encrypt(b"x"), HOSTILE_PROVIDER, HOSTILE_KEY_ID))
    _assert_clean(repr(ed))


def test_local_unwrap_escapes_header_text() -> None:
    ring = LocalKeyring("fake", "kid", {1: bytes(range(1, 33))}, current=1)
    w = ring.wrap(bytes(32), {})
    with pytest.raises(NoMatchingKeyError) as e:
        ring.unwrap(WrappedKey(HOSTILE_PROVIDER, HOSTILE_KEY_ID, 1, w.blob), {})
    _assert_clean(str(e.value))


# -- key material in traceback frames ----------------------------------------------------------
def _secrets_of(provider: FakeKeyProvider, ed: EncryptedData) -> set[bytes]:
    dek = provider.unwrap(ed.wrapped_keys[0], ed.context)
    key, _ = derive(dek, ed.message_id)
    return {dek, key}


def _leaks(tb: TracebackType | None, secrets: set[bytes]) -> list[str]:
    found = []
    while tb is not None:
        frame = tb.tb_frame
        for name, value in frame.f_locals.items():
            if not isinstance(value, (bytes, bytearray, memoryview)):
                continue
            try:
                raw = bytes(value)
            except ValueError:  # a released memoryview holds nothing
                continue
            if raw in secrets:
                found.append(f"{frame.f_code.co_name}.{name}")
        tb = tb.tb_next
    return found


def _all_leaks(exc: BaseException, secrets: set[bytes]) -> list[str]:
    found: list[str] = []
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        found += _leaks(e.__traceback__, secrets)
        todo += [e.__cause__, e.__context__]
    return found


def _tamper_body(data: bytes) -> bytes:
    out = bytearray(data)
    out[-1] ^= 1
    return bytes(out)


def test_failed_decrypt_leaves_no_key_in_frames(
    svc: EncryptionService, provider: FakeKeyProvider
) -> None:
    ed = svc.encrypt(b"secret payload", {"a": "b"})
    keys = _secrets_of(provider, ed)
    with pytest.raises(DecryptionError) as e:
        svc.decrypt(_tamper_body(bytes(ed)), {"a": "b"})
    assert _all_leaks(e.value, keys) == []


def test_failed_framed_decrypt_leaves_no_key_in_frames(
    svc: EncryptionService, provider: FakeKeyProvider
) -> None:
    out = io.BytesIO()
    svc.encrypt_stream(io.BytesIO(b"z" * 100), out, {"a": "b"}, frame_size=16)
    ed = EncryptedData.parse(out.getvalue())
    keys = _secrets_of(provider, ed)
    bad = _tamper_body(out.getvalue())
    with pytest.raises(DecryptionError) as e:
        svc.decrypt(bad, {"a": "b"})
    assert _all_leaks(e.value, keys) == []
    with pytest.raises(DecryptionError) as e:
        svc.decrypt_stream(io.BytesIO(bad), io.BytesIO(), {"a": "b"})
    assert _all_leaks(e.value, keys) == []


def test_failed_single_shot_stream_decrypt_leaves_no_key_in_frames(
    svc: EncryptionService, provider: FakeKeyProvider
) -> None:
    ed = svc.encrypt(b"secret payload")
    keys = _secrets_of(provider, ed)
    with pytest.raises(DecryptionError) as e:
        svc.decrypt_stream(io.BytesIO(_tamper_body(bytes(ed))), io.BytesIO())
    assert _all_leaks(e.value, keys) == []


def test_commitment_mismatch_leaves_no_key_in_frames(
    svc: EncryptionService, provider: FakeKeyProvider
) -> None:
    a, b = svc.encrypt(b"a"), svc.encrypt(b"b")
    forged = a.header.aad + bytes(b)[len(b.header.aad) : b.header.size] + bytes(a)[a.header.size :]
    keys = _secrets_of(provider, b)
    keys.add(derive(provider.unwrap(b.wrapped_keys[0], {}), a.message_id)[0])
    with pytest.raises(DecryptionError, match="commitment") as e:
        svc.decrypt(forged)
    assert _all_leaks(e.value, keys) == []
    with pytest.raises(DecryptionError, match="commitment") as e:
        svc.decrypt_stream(io.BytesIO(forged), io.BytesIO())
    assert _all_leaks(e.value, keys) == []


# -- plaintext in traceback frames (review of item 17) -----------------------------------------
def _holds(value: object, needle: bytes) -> bool:
    if isinstance(value, str):
        return needle in value.encode("utf-8", "surrogatepass")
    if isinstance(value, (bytes, bytearray)):
        return needle in bytes(value)
    if isinstance(value, memoryview):
        try:
            return needle in bytes(value)
        except ValueError:
            return False
    if isinstance(value, dict):
        return any(_holds(v, needle) for v in value.values())
    if isinstance(value, BaseException):
        return any(_holds(a, needle) for a in value.args) or _holds(
            getattr(value, "object", b""), needle
        )
    return False


def _plaintext_leaks(exc: BaseException, needle: bytes) -> list[str]:
    """Frame locals and chained exceptions of ``exc`` that still hold ``needle``."""
    found: list[str] = []
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if e is not exc and _holds(e, needle):
            found.append(f"chained {type(e).__name__}")
        tb = e.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == __file__:  # the test's own frame
                tb = tb.tb_next
                continue
            for name, value in tb.tb_frame.f_locals.items():
                if _holds(value, needle):
                    found.append(f"{tb.tb_frame.f_code.co_name}.{name}")
            tb = tb.tb_next
        todo += [e.__cause__, e.__context__]
    return found


def test_decrypt_to_string_failure_leaves_no_plaintext(svc: EncryptionService) -> None:
    secret = b"card 4111-1111 \xff not utf-8"
    with pytest.raises(DecryptionError, match="not UTF-8") as e:
        svc.decrypt_to_string(svc.encrypt(secret))
    assert _plaintext_leaks(e.value, b"4111-1111") == []


def test_failed_stream_decrypt_leaves_no_verified_plaintext_in_frames(
    svc: EncryptionService,
) -> None:
    out = io.BytesIO()
    plain = b"".join(b"frame%02d-secret!#" % i for i in range(4))  # 16 bytes a frame
    svc.encrypt_stream(io.BytesIO(plain), out, frame_size=16)
    bad = bytearray(out.getvalue())
    bad[-1] ^= 1  # the last (empty) frame fails after four verified ones
    dst = io.BytesIO()
    with pytest.raises(DecryptionError) as e:
        svc.decrypt_stream(io.BytesIO(bytes(bad)), dst)
    assert dst.getvalue() == plain  # a verified prefix, as documented
    assert _plaintext_leaks(e.value, b"-secret!") == []

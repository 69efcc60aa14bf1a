"""Regenerate ``envelope-v1.json`` (run from the repository root with the project's venv).

    .venv/bin/python docs/vectors/generate.py

The output is random (message ids, nonces) but every case is checked by
``tests/unit/envelope/test_published_vectors.py`` against tigerseal and against the independent
reader of ``test_format_spec.py``. The keys below are public test keys, derived from labels:
never use them for anything else.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import sys
import tempfile
from pathlib import Path
from typing import Any

# Key providers emit audit events; recording them would create an audit log and a development
# key in the working directory. Generating vectors is not an event worth recording.
os.environ.setdefault("TIGERSEAL_AUDIT_SINKS", "")

from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESGCMSIV
from tigerseal.envelope import EncryptedData, EncryptionService
from tigerseal.envelope._format import (
    CONTENT_SINGLE,
    build_aad,
    derive,
    encode_context,
    encode_key_section,
    header_bytes,
    nonce,
)
from tigerseal.providers import _local
from tigerseal.providers.env import EnvKeyProvider
from tigerseal.providers.file import FileKeyProvider
from tigerseal.spi import WrappedKey

OUT = Path(__file__).with_name("envelope-v1.json")
ENV_VAR = "TIGERSEAL_VECTORS_KEK"
KEYRING_ID = "kr-" + hashlib.sha256(b"tigerseal test vectors keyring id").hexdigest()[:32]


def kek(label: str) -> bytes:
    """A public test KEK derived from a label."""
    return hashlib.sha256(b"tigerseal test vectors " + label.encode()).digest()


KEYS = [
    {"provider": "env", "key_id": ENV_VAR, "version": 1, "kek": kek("env v1").hex()},
    {"provider": "file", "key_id": KEYRING_ID, "version": 1, "kek": kek("file v1").hex()},
    {"provider": "file", "key_id": KEYRING_ID, "version": 2, "kek": kek("file v2").hex()},
]


def env_provider() -> EnvKeyProvider:
    """The env:// provider of the vectors."""
    return EnvKeyProvider(ENV_VAR, environ={ENV_VAR: kek("env v1").hex()})


def file_provider(directory: Path, current: int = 1) -> FileKeyProvider:
    """A file:// keyring with versions 1..current of the vectors' keyring."""
    path = directory / f"keyring-{current}.json"
    doc = {
        "format": "tigerseal-keyring",
        "format_version": 1,
        "keyring_id": KEYRING_ID,
        "suite": _local.SUITE,
        "current_version": current,
        "min_decryption_version": 0,
        "keys": [
            {"version": v, "created": "2026-01-01T00:00:00Z", "key": kek(f"file v{v}").hex()}
            for v in range(1, current + 1)
        ],
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f)
    return FileKeyProvider(path)


def framed(svc: EncryptionService, data: bytes, ctx: dict[str, str], fs: int) -> bytes:
    """A framed message."""
    out = io.BytesIO()
    svc.encrypt_stream(io.BytesIO(data), out, ctx, frame_size=fs)
    return out.getvalue()


def legacy(cipher: Any, data: bytes, ctx: dict[str, str]) -> bytes:
    """A message as tigerseal wrote it before the manifest and the wrap's suite byte."""
    dek, message_id = os.urandom(32), os.urandom(32)
    aad_wrap = (
        b"tigerseal/local-wrap/v1\x00"
        + struct.pack(">I", 3)
        + b"env"
        + struct.pack(">I", len(ENV_VAR))
        + ENV_VAR.encode()
        + struct.pack(">I", 1)
        + _local.encode_context(ctx)
    )
    n = os.urandom(12)
    blob = n + cipher(kek("env v1")).encrypt(n, dek, aad_wrap)
    key, commitment = derive(dek, message_id)
    aad = build_aad(CONTENT_SINGLE, 0, message_id, encode_context(ctx), commitment)
    head = header_bytes(aad, encode_key_section((WrappedKey("env", ENV_VAR, 1, blob),)))
    return head + AESGCM(key).encrypt(nonce(0, True), data, aad)


def with_keys(data: bytes, keys: list[WrappedKey], manifest: WrappedKey | None) -> bytes:
    """``data`` with another key section."""
    h = EncryptedData.parse(data).header
    return h.aad + encode_key_section(tuple(keys), manifest) + data[h.size :]


def flip(data: bytes, index: int, mask: int = 1) -> bytes:
    """``data`` with bits of one byte flipped."""
    out = bytearray(data)
    out[index] ^= mask
    return bytes(out)


def main() -> None:
    """Write envelope-v1.json."""
    tests: list[dict[str, Any]] = []

    def add(
        comment: str,
        msg: bytes | str,
        ctx: dict[str, str],
        plaintext: bytes | None,
        error: str | None = None,
    ) -> None:
        case: dict[str, Any] = {"id": len(tests) + 1, "comment": comment, "context": ctx}
        if isinstance(msg, str):
            case["message_text"] = msg
        else:
            case["message_hex"] = msg.hex()
        if plaintext is None:
            case.update(result="invalid", error=error)
        else:
            case.update(result="valid", plaintext_hex=plaintext.hex())
        tests.append(case)

    with tempfile.TemporaryDirectory() as tmp:
        env, file1 = env_provider(), file_provider(Path(tmp))
        svc_env = EncryptionService(env)
        svc_two = EncryptionService([env, file1])
        ctx = {"table": "accounts", "column": "tiger_id", "id": "42", "ünï": "çødé ✓"}

        # -- valid ---------------------------------------------------------------------------
        empty = svc_env.encrypt(b"")
        add("single-shot, env, no context, empty plaintext", bytes(empty), {}, b"")
        one = svc_env.encrypt(b"attack at dawn", ctx)
        add("single-shot, env, context with non-ASCII", bytes(one), ctx, b"attack at dawn")
        add("the same message in text form", str(one), ctx, b"attack at dawn")
        two = svc_two.encrypt(b"two copies", {"k": "v"})
        add("two wrapped keys (env, file) and a manifest", bytes(two), {"k": "v"}, b"two copies")
        body = bytes(range(40))
        add("framed, frame size 16, 40 bytes (3 frames)", framed(svc_env, body, {}, 16), {}, body)
        add(
            "framed, frame size 16, 32 bytes (empty final frame)",
            framed(svc_env, body[:32], {}, 16),
            {},
            body[:32],
        )
        add(
            "framed, empty plaintext (one empty final frame)", framed(svc_env, b"", {}, 16), {}, b""
        )
        orig_cipher, orig_suite, orig_ciphers = _local._CIPHER, _local.SUITE, _local._CIPHERS
        _local._CIPHER, _local.SUITE, _local._CIPHERS = AESGCM, "AES-256-GCM", {2: AESGCM}
        try:
            gcm = EncryptionService(env_provider()).encrypt(b"wrapped with AES-GCM", {})
        finally:
            _local._CIPHER, _local.SUITE, _local._CIPHERS = orig_cipher, orig_suite, orig_ciphers
        add(
            "env wrap suite 02 (AES-256-GCM, a host without GCM-SIV)",
            bytes(gcm),
            {},
            b"wrapped with AES-GCM",
        )
        add(
            "written before the manifest, 60-byte GCM-SIV wrap (no suite byte)",
            legacy(AESGCMSIV, b"old message", {"a": "b"}),
            {"a": "b"},
            b"old message",
        )
        add(
            "written before the manifest, 60-byte GCM wrap (no suite byte)",
            legacy(AESGCM, b"old message", {}),
            {},
            b"old message",
        )
        rotated = EncryptionService([env, file_provider(Path(tmp), current=2)]).rewrap(two)
        assert rotated.wrapped_keys[1].key_version == 2
        add(
            "after rewrap: file key on version 2, manifest unchanged",
            bytes(rotated),
            {"k": "v"},
            b"two copies",
        )

        # -- invalid -------------------------------------------------------------------------
        data = bytes(one)
        h = one.header
        add("last byte of the tag flipped", flip(data, len(data) - 1), ctx, None, "authentication")
        add(
            "context value changed in the header",
            data.replace(b"42", b"43", 1),
            {**ctx, "id": "43"},
            None,
            "authentication",
        )
        add("decryptor presents another context", data, {**ctx, "id": "43"}, None, "context")
        add("decryptor presents no context", data, {}, None, "context")
        other = svc_env.encrypt(b"other", ctx)
        add(
            "wrapped key taken from another message",
            with_keys(data, list(other.wrapped_keys), other.header.manifest),
            ctx,
            None,
            "commitment",
        )
        add("message id changed", flip(data, 10), ctx, None, "commitment")
        add("commitment changed", flip(data, len(h.aad) - 1), ctx, None, "commitment")
        t = two.header
        add(
            "recovery copy removed, manifest kept",
            with_keys(bytes(two), [two.wrapped_keys[0]], t.manifest),
            {"k": "v"},
            None,
            "key-section",
        )
        add(
            "recovery copy and manifest removed",
            with_keys(bytes(two), [two.wrapped_keys[0]], None),
            {"k": "v"},
            None,
            "key-section",
        )
        assert t.manifest is not None
        edited = WrappedKey(t.manifest.provider, "", 1, t.manifest.blob)
        add(
            "recovery copy removed, manifest count edited to match",
            with_keys(bytes(two), [two.wrapped_keys[0]], edited),
            {"k": "v"},
            None,
            "key-section",
        )
        add(
            "wrapped keys reordered",
            with_keys(bytes(two), list(reversed(two.wrapped_keys)), t.manifest),
            {"k": "v"},
            None,
            "key-section",
        )
        w = one.wrapped_keys[0]
        add(
            "wrap suite byte changed 01 -> 02",
            with_keys(
                data,
                [WrappedKey(w.provider, w.key_id, w.key_version, flip(w.blob, 0, 3))],
                h.manifest,
            ),
            ctx,
            None,
            "wrap",
        )
        add(
            "wrap nonce changed",
            with_keys(
                data, [WrappedKey(w.provider, w.key_id, w.key_version, flip(w.blob, 1))], h.manifest
            ),
            ctx,
            None,
            "wrap",
        )
        add(
            "wrapped key relabelled to version 2 (no such key)",
            with_keys(data, [WrappedKey(w.provider, w.key_id, 2, w.blob)], h.manifest),
            ctx,
            None,
            "wrap",
        )
        f = framed(svc_env, body, {}, 16)
        size = EncryptedData.parse(f).header.size
        frame = 4 + 16 + 16
        add("framed: final frame dropped", f[: size + 2 * frame], {}, None, "truncated")
        add("framed: byte appended after the final frame", f + b"\x00", {}, None, "extended")
        add(
            "framed: first two frames swapped",
            f[:size]
            + f[size + frame : size + 2 * frame]
            + f[size : size + frame]
            + f[size + 2 * frame :],
            {},
            None,
            "authentication",
        )
        big = framed(svc_env, b"tiny", {}, 64 * 1024 * 1024)
        bsize = EncryptedData.parse(big).header.size
        add(
            "64 MiB frames declared, a 64 MiB - 1 frame claimed, 10 bytes present",
            big[:bsize] + struct.pack(">I", 64 * 1024 * 1024 - 1) + bytes(10),
            {},
            None,
            "truncated",
        )
        text = str(one)
        add(
            "text form with '=' padding",
            text + "=" * (-(len(text) - 4) % 4 or 4),
            ctx,
            None,
            "text",
        )
        add("text form with a space", text[:20] + " " + text[20:], ctx, None, "text")
        add(
            "text form with '+' and '/'",
            text.replace("-", "+").replace("_", "/")
            if ("-" in text or "_" in text)
            else "ts1.+" + text[5:],
            ctx,
            None,
            "text",
        )
        # Only a text form whose length is not a multiple of 4 has unused bits: `one`'s never
        # has (its length is fixed), the empty message's always does (217 bytes).
        b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        spare = str(empty)
        assert (len(spare) - 4) % 4 in (2, 3)
        bits = b64[b64.index(spare[-1]) | 1]
        add("text form with a non-zero unused trailing bit", spare[:-1] + bits, {}, None, "text")
        add("algorithm suite byte changed 01 -> 02", flip(data, 4, 3), ctx, None, "header")

    doc = {
        "format": "tigerseal/1",
        "description": "tigerseal envelope test vectors; see README.md in this directory",
        "keys": KEYS,
        "tests": tests,
    }
    OUT.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {len(tests)} tests to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()

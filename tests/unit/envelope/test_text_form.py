"""Issue 11 item 16: only the canonical spelling of the text form is accepted."""

from __future__ import annotations

import json

import pytest
from tigerseal.envelope import EncryptedData, EncryptionService
from tigerseal.errors import DecryptionError

_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _flip_unused_bits(text: str) -> str | None:
    """The same bytes with a non-zero unused trailing bit (None when no bits are unused)."""
    body = text[4:]
    rem = len(body) % 4
    if rem == 0:
        return None
    unused = 4 if rem == 2 else 2  # 2 chars carry 8 bits of 12, 3 chars carry 16 of 18
    last = _B64.index(body[-1])
    assert last % (1 << unused) == 0
    return text[:-1] + _B64[last | 1]


@pytest.mark.parametrize("payload", [b"", b"a", b"ab", b"abc"])
def test_non_canonical_spellings_are_rejected(svc: EncryptionService, payload: bytes) -> None:
    for pad in range(3):  # messages of each length mod 3
        ed = svc.encrypt(payload + b"x" * pad)
        text = str(ed)
        assert EncryptedData.parse(text) == ed
        variants = [
            " " + text,
            text + " ",
            text + "\n\n",
            text + "\r\n",
            "\n" + text,
            text[:10] + "\n" + text[10:],
            text[:10] + " " + text[10:],
            text + "=" * (-(len(text) - 4) % 4 or 4),
            text + "==",
            text.replace("-", "+").replace("_", "/"),
        ]
        flipped = _flip_unused_bits(text)
        if flipped is not None:
            variants.append(flipped)
        for variant in variants:
            if variant == text:
                continue
            with pytest.raises(DecryptionError):
                EncryptedData.parse(variant)
            with pytest.raises(DecryptionError):
                EncryptedData.parse(variant.encode())
            with pytest.raises(DecryptionError):
                EncryptedData.parse(json.dumps({"message": variant}))


def test_one_trailing_newline_is_the_line_terminator(svc: EncryptionService) -> None:
    # `tigerseal encrypt --text` writes the text form plus one newline; reading that file back
    # is the one accepted variation.
    ed = svc.encrypt(b"x")
    assert EncryptedData.parse(str(ed) + "\n") == ed
    assert EncryptedData.parse((str(ed) + "\n").encode()) == ed


def test_json_with_a_repeated_member_is_rejected(svc: EncryptionService) -> None:
    # Two "message" members: Python's json keeps the last, many parsers (and a validator or
    # WAF in front of the database) the first. A reader must not decrypt something other
    # than what another reader of the same JSON sees.
    a, b = svc.encrypt(b"what the validator saw"), svc.encrypt(b"what gets decrypted")
    doubled = f'{{"format":"tigerseal/1","message":"{a}","message":"{b}"}}'
    with pytest.raises(DecryptionError, match="repeated"):
        EncryptedData.parse(doubled)
    # Nested objects (the informational context) are checked the same way.
    inner = json.loads(a.json())
    text = json.dumps(inner)[:-1] + ', "context": {"k": "1", "k": "2"}}'
    with pytest.raises(DecryptionError, match="repeated"):
        EncryptedData.parse(text)
    assert EncryptedData.parse(a.json()) == a

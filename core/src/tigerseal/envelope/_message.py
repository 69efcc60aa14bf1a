"""``EncryptedData``: one tigerseal message in its binary, text and JSON forms."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from tigerseal._text import escape_control
from tigerseal.envelope._format import MAGIC, Header, parse_header
from tigerseal.errors import DecryptionError
from tigerseal.spi._provider import WrappedKey

__all__ = ["TEXT_PREFIX", "EncryptedData"]

#: Prefix of the text form (``str(ed)``); the digit is the format version.
TEXT_PREFIX = "ts1."
_JSON_FORMAT = "tigerseal/1"


class EncryptedData:
    """An encrypted message: header (context, wrapped keys) and ciphertext.

    Three interchangeable forms, all accepted by :meth:`parse`:

    * ``bytes(ed)``: the binary format of ``docs/format.md`` (``LargeBinary``/``bytea`` columns);
    * ``str(ed)``: ``"ts1."`` + base64url without padding (text columns, URLs, env files);
    * ``ed.json()``: a JSON object whose ``message`` member is the text form (the seed's
      ``.json()``), with informational ``key_version``, ``providers`` and ``context``.

    Instances are immutable. Nothing secret is in them or in their repr: the context is
    non-secret by definition and the wrapped keys are ciphertexts.
    """

    __slots__ = ("_data", "_header")

    def __init__(self, data: bytes, header: Header | None = None) -> None:
        self._data = bytes(data)
        self._header: Header | None = header if header is not None else parse_header(self._data)

    @classmethod
    def _written(cls, data: bytes) -> EncryptedData:
        """A message this process has just written: its header is parsed only when asked for.

        For ``EncryptionService.encrypt``, whose callers mostly store the bytes; never for
        bytes from outside, which :meth:`parse` validates at once.
        """
        ed = cls.__new__(cls)
        ed._data = data
        ed._header = None
        return ed

    # -- forms -------------------------------------------------------------------------------
    @classmethod
    def parse(cls, value: EncryptedData | bytes | bytearray | memoryview | str) -> EncryptedData:
        """Read a message from any of its forms.

        Raises:
            DecryptionError: the value is not a tigerseal message in any form.
        """
        if isinstance(value, EncryptedData):
            return value
        if isinstance(value, (bytes, bytearray, memoryview)):
            raw = bytes(value)
            if raw[:3] == MAGIC:
                return cls(raw)
            try:
                value = raw.decode("ascii")
            except UnicodeDecodeError:
                raise DecryptionError(
                    "not a tigerseal message: expected bytes starting with 'TSL', text starting "
                    "with 'ts1.' or a JSON object"
                ) from None
        if not isinstance(value, str):
            raise DecryptionError(
                f"cannot read a tigerseal message from a {type(value).__name__}; pass bytes, "
                "str or EncryptedData"
            )
        if value.startswith(TEXT_PREFIX):
            # Only the canonical spelling is accepted (so one message has one text form): no
            # whitespace, no padding, no standard-alphabet characters, zero unused bits. One
            # trailing newline is the line terminator of a text file (`tigerseal encrypt
            # --text` writes one) and is the only thing tolerated.
            text = value[:-1] if value.endswith("\n") else value
            return cls(_b64decode(text[len(TEXT_PREFIX) :]))
        if value.lstrip().startswith("{"):
            return cls._from_json(value)
        raise DecryptionError(
            "not a tigerseal message: text must start with 'ts1.' or be the JSON written by "
            "EncryptedData.json()"
        )

    @classmethod
    def _from_json(cls, text: str) -> EncryptedData:
        try:
            obj = json.loads(text, object_pairs_hook=_unique_members)
        except _RepeatedMember:
            raise DecryptionError(
                "malformed tigerseal JSON: a member is repeated (JSON parsers disagree on which "
                "one counts); store ed.json() as written"
            ) from None
        except ValueError:
            raise DecryptionError("malformed tigerseal JSON: not valid JSON") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("message"), str):
            raise DecryptionError(
                "malformed tigerseal JSON: expected an object with a 'message' string"
            )
        if obj.get("format", _JSON_FORMAT) != _JSON_FORMAT:
            raise DecryptionError(
                f"unsupported tigerseal JSON format {obj.get('format')!r}; upgrade tigerseal"
            )
        message: str = obj["message"]
        if not message.startswith(TEXT_PREFIX):
            raise DecryptionError("malformed tigerseal JSON: 'message' must start with 'ts1.'")
        return cls(_b64decode(message[len(TEXT_PREFIX) :]))

    def __bytes__(self) -> bytes:
        return self._data

    def to_bytes(self) -> bytes:
        """The binary form."""
        return self._data

    def __str__(self) -> str:
        return TEXT_PREFIX + base64.urlsafe_b64encode(self._data).rstrip(b"=").decode("ascii")

    def to_text(self) -> str:
        """The compact text form, ``"ts1." + base64url``."""
        return str(self)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object as a dict."""
        return {
            "format": _JSON_FORMAT,
            "message": str(self),
            "key_version": self.key_version,
            "providers": [w.provider for w in self.header.wrapped_keys],
            "context": dict(self.header.context),
        }

    def json(self) -> str:
        """The JSON form (the seed's ``EncryptedData.json()``)."""
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True)

    # -- header facts ------------------------------------------------------------------------
    @property
    def header(self) -> Header:
        """The parsed header."""
        header = self._header
        if header is None:
            header = self._header = parse_header(self._data)
        return header

    @property
    def key_version(self) -> int:
        """Key version of the primary wrapped key (the first provider's KEK version)."""
        return self.header.wrapped_keys[0].key_version

    @property
    def key_versions(self) -> dict[str, int]:
        """``"provider:key_id" -> version`` for every wrapped key."""
        return {f"{w.provider}:{w.key_id}": w.key_version for w in self.header.wrapped_keys}

    @property
    def context(self) -> dict[str, str]:
        """The encryption context bound to the message (a copy)."""
        return dict(self.header.context)

    @property
    def wrapped_keys(self) -> tuple[WrappedKey, ...]:
        """The wrapped copies of the data key, primary first."""
        return self.header.wrapped_keys

    @property
    def message_id(self) -> bytes:
        """The 32-byte random message id."""
        return self.header.message_id

    @property
    def framed(self) -> bool:
        """Whether the body is framed (written by ``encrypt_stream``)."""
        return self.header.frame_size != 0

    def __len__(self) -> int:
        return len(self._data)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, EncryptedData):
            return self._data == other._data
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._data)

    def __repr__(self) -> str:
        providers = ",".join(
            f"{escape_control(w.provider)}:v{w.key_version}" for w in self.wrapped_keys
        )
        return f"<EncryptedData {len(self._data)} bytes keys={providers}>"


class _RepeatedMember(Exception):
    pass


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refused if a member name repeats (parsers differ on which one wins)."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _RepeatedMember
    return obj


_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# Bits of the last character that carry no data, by the text length mod 4 (RFC 4648 3.5).
_UNUSED_BITS = {2: 0x0F, 3: 0x03}


def _b64decode(text: str) -> bytes:
    """Decode canonical unpadded base64url; every other spelling of the same bytes is refused."""
    rem = len(text) % 4
    # b64decode maps "-_" onto "+/" and then accepts both alphabets, and accepts padding.
    if rem == 1 or "=" in text or "+" in text or "/" in text:
        raise _not_canonical()
    try:
        raw = base64.b64decode(text + "=" * (-rem % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise _not_canonical() from None
    if rem and _ALPHABET.index(text[-1]) & _UNUSED_BITS[rem]:
        raise _not_canonical()
    if raw[:3] != MAGIC:
        raise DecryptionError("malformed tigerseal text: the decoded bytes are not a message")
    return raw


def _not_canonical() -> DecryptionError:
    return DecryptionError(
        "malformed tigerseal text: after 'ts1.' expected unpadded base64url exactly as "
        "str(EncryptedData) writes it (no whitespace, '=' padding, '+' or '/')"
    )

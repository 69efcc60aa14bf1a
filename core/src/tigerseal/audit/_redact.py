"""Redaction of secret-looking values before an audit record is written anywhere.

The rules (which names and shapes are secrets) are those of :mod:`tigerseal._redact`, shared with
the log redactor; here a secret becomes a keyed hash ``"[HMAC:<16 hex>]"`` (the same token seen
twice can be correlated without being revealed), or ``"[REDACTED]"`` for passwords, PINs,
one-time codes and private keys. Shapes are found anywhere inside a string: a JWT in a URL, a
``?password=`` in a query string, an API key or AWS key id in a sentence.

The keyed hash uses a per-process random key unless one is configured, so the hashes correlate
within a process (or across processes sharing the key) and cannot be brute-forced offline.
Bytes are never written (``"[bytes N]"``), strings are cut at 2048 characters, key names at 128,
nesting at 8 levels and collections at 200 items, so an audit record cannot flood the trail
(the auditor also bounds the whole record: :data:`MAX_RECORD`).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from collections.abc import Mapping
from typing import Any

from tigerseal._redact import DROP, HASH, Kind, name_rule, scrub

__all__ = ["BUDGET", "MAX_RECORD", "REDACTED", "Redactor"]

REDACTED = "[REDACTED]"
MAX_STRING = 2048
MAX_NAME = 128
MAX_DEPTH = 8
MAX_ITEMS = 200
#: Largest encoded record (bytes); bigger ones are cut down by the auditor.
MAX_RECORD = 64 * 1024
# Strings shorter than this cannot hold a secret shape ("pw=12345" is 8).
_SHORT = 8
# Dropped from a string's end when the cut at MAX_STRING falls inside a word (see value()).
_CUT_WORD = 512
_NOT_SPACE = "".join(chr(c) for c in range(33, 127))
#: Characters one redaction walk may produce (about; names, strings and 8 per item).
BUDGET = 2 * MAX_RECORD


def _cut(value: str, limit: int, drop: int) -> str:
    """``value`` cut at ``limit`` characters, with a note of how many were cut.

    If the cut falls inside a word, the word is dropped too (up to ``drop`` characters of it):
    a secret cut short would no longer match its shape and its first part would stay.
    """
    head = value[:limit]
    if not value[limit].isspace():
        word = len(head) - len(head.rstrip(_NOT_SPACE))
        head = head[: limit - min(word, drop)]
    return head + f"...[truncated {len(value) - len(head)} chars]"


class Redactor:
    """Applies the rules above. Thread-safe (its caches only grow to a bound).

    Args:
        key: HMAC key of the keyed hashes; default: random for this process.
    """

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key if key is not None else secrets.token_bytes(32)
        self._names: dict[str, int] = {}
        self._render = self._replacement

    def keyed_hash(self, value: str) -> str:
        """``[HMAC:<16 hex>]`` of ``value`` under this redactor's key."""
        digest = hmac.new(self._key, value.encode("utf-8", "surrogatepass"), hashlib.sha256)
        return f"[HMAC:{digest.hexdigest()[:16]}]"

    def name_rule(self, name: str) -> int:
        """0: keep the value, 1: replace it by a keyed hash, 2: drop it."""
        rule = self._names.get(name)
        if rule is None:
            rule = name_rule(name)
            if len(self._names) < 10_000:
                self._names[name] = rule
        return rule

    def _replacement(self, kind: Kind, secret: str) -> str:
        if kind in ("pem", "url_password", "param_drop"):
            return REDACTED
        return self.keyed_hash(secret)

    def value(self, value: str) -> str:
        """``value`` with every secret-shaped part replaced (cut at 2048 characters first)."""
        n = len(value)
        if n < _SHORT:
            return value
        if n > MAX_STRING:
            value = _cut(value, MAX_STRING, _CUT_WORD)
        return scrub(value, self._render)

    def field(self, name: str, value: Any, depth: int = 0, budget: list[int] | None = None) -> Any:
        """Redact ``value`` found under the key ``name`` (``budget``: see :meth:`any`)."""
        return self._field(name, value, depth, budget if budget is not None else [BUDGET])

    def any(self, value: Any, depth: int = 0, budget: list[int] | None = None) -> Any:
        """Redact a JSON-like value recursively; anything else becomes a string first.

        The walk stops at :data:`MAX_DEPTH` levels, :data:`MAX_ITEMS` items per collection and
        about :data:`BUDGET` characters in all, whatever the value's size. ``budget`` (a
        one-item list, decremented by the characters produced) lets several calls share one.
        """
        return self._any(value, depth, budget if budget is not None else [BUDGET])

    def _field(self, name: str, value: Any, depth: int, budget: list[int]) -> Any:
        rule = self.name_rule(name)
        if rule == DROP:
            return REDACTED
        if rule == HASH:
            if value is None or isinstance(value, bool):
                return value
            if isinstance(value, str):
                return self.keyed_hash(value)
            if isinstance(value, Mapping | list | tuple):
                return self._any(value, depth, budget)
            return REDACTED
        return self._any(value, depth, budget)

    def _any(self, value: Any, depth: int, budget: list[int]) -> Any:
        cls = value.__class__
        if cls is str:
            budget[0] -= len(value)
            return value if len(value) < _SHORT else self.value(value)
        if value is None or cls is int or cls is bool:
            return value
        if cls is float:
            return value if math.isfinite(value) else str(value)
        if depth >= MAX_DEPTH:
            return "[nested too deep]"
        if isinstance(value, Mapping):
            return self._mapping(value, depth, budget)
        if isinstance(value, list | tuple | set | frozenset):
            items: list[Any] = value if isinstance(value, list) else list(value)
            result = []
            for n, v in enumerate(items[:MAX_ITEMS]):
                budget[0] -= 8
                if budget[0] < 0:
                    result.append(f"[record too large: {len(items) - n} more items]")
                    return result
                result.append(
                    v if v.__class__ is str and len(v) < _SHORT else self._any(v, depth + 1, budget)
                )
            if len(items) > MAX_ITEMS:
                result.append(f"[truncated {len(items) - MAX_ITEMS} more items]")
            return result
        if isinstance(value, bytes | bytearray | memoryview):
            return f"[bytes {len(value)}]"
        if isinstance(value, bool | int):
            return bool(value) if isinstance(value, bool) else int(value)
        if isinstance(value, float):
            return self._any(float(value), depth, budget)
        # str subclasses, enums, UUIDs, datetimes, exceptions...: their text, redacted.
        text = str(value)
        budget[0] -= len(text)
        return self.value(text)

    def _mapping(self, value: Mapping[Any, Any], depth: int, budget: list[int]) -> dict[str, Any]:
        # The hot path of every audit event's details: name rules and short strings inline.
        names = self._names
        out: dict[str, Any] = {}
        for i, (k, v) in enumerate(value.items()):
            if i >= MAX_ITEMS:
                out["[truncated]"] = f"{len(value) - MAX_ITEMS} more items"
                break
            name = k if k.__class__ is str else str(k)
            if len(name) > MAX_NAME:
                name = _cut(name, MAX_NAME, MAX_NAME // 2)
            budget[0] -= 8 + len(name)
            if budget[0] < 0:
                out["[record too large]"] = f"{len(value) - i} more items"
                break
            rule = names.get(name)
            if rule is None:
                if len(name) >= _SHORT:
                    # A key can be a secret itself (a map of token -> user): redact its
                    # secret-shaped parts too. Only clean names reach the rule cache.
                    name = scrub(name, self._render)
                rule = self.name_rule(name)
            if rule:
                out[name] = self._field(name, v, depth + 1, budget)
            elif v.__class__ is str and len(v) < _SHORT:
                out[name] = v
            else:
                out[name] = self._any(v, depth + 1, budget)
        return out

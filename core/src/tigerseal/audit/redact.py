"""Redaction of secret-looking values before an audit record is written anywhere.

Two rules, applied to every field an application supplies (nested mappings and lists too):

* **By name.** A key whose words include password, passphrase, pin, otp, secret, private key
  or credential is replaced by ``"[REDACTED]"``; one naming a token, API key, session, cookie,
  authorization or another ``*_key`` by ``"[HMAC:<16 hex>]"``, a keyed hash, so the same token
  seen twice can be correlated without being revealed. Names that only *describe* a secret
  (``api_key_id``, ``token_type``, ``key_version``, ``public_key``) are kept.
* **By shape.** Strings that look like JWTs, ``Bearer``/``Basic`` credentials, PEM private
  keys, prefixed API keys (``tk_...``, ``ghp_...``, ``sk_live_...``), AWS access keys or long
  high-entropy tokens are replaced the same way wherever they appear; a password inside a URL
  (``postgresql://user:pw@host``) is masked and the rest kept.

The keyed hash uses a per-process random key unless one is configured, so the hashes correlate
within a process (or across processes sharing the key) and cannot be brute-forced offline.
Bytes are never written (``"[bytes N]"``), long strings are cut at 2048 characters and nesting
at 8 levels, so an audit record cannot be used to flood the trail.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
from collections import Counter
from collections.abc import Mapping
from typing import Any

__all__ = ["REDACTED", "Redactor"]

REDACTED = "[REDACTED]"
MAX_STRING = 2048
MAX_DEPTH = 8
MAX_ITEMS = 200

# Words (after splitting a key on '_', '-', '.', spaces and camelCase) whose value is dropped.
_DROP_WORDS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "pin",
        "otp",
        "secret",
        "secrets",
        "privatekey",
        "credential",
        "credentials",
        "cvv",
        "ssn",
    }
)
# Words whose value is replaced by a keyed hash (correlatable, not revealed).
_HASH_WORDS = frozenset(
    {
        "token",
        "tokens",
        "apikey",
        "accesskey",
        "secretkey",
        "authorization",
        "auth",
        "cookie",
        "cookies",
        "session",
        "sessionid",
        "jwt",
        "bearer",
        "signature",
        "key",
    }
)
# A last word that says the value only describes a secret.
_DESCRIPTIVE = frozenset(
    {
        "id",
        "ids",
        "type",
        "types",
        "count",
        "version",
        "versions",
        "prefix",
        "name",
        "names",
        "length",
        "len",
        "algorithm",
        "alg",
        "kid",
        "expires",
        "expiry",
        "expired",
        "scope",
        "scopes",
        "provider",
        "status",
        "policy",
        "format",
        "size",
        "fingerprint",
        "hint",
        "uri",
        "ttl",
        "created",
        "age",
        "rotated",
        "strength",
        "valid",
        "required",
        "changed",
        "method",
        "mode",
        "scheme",
        "result",
        "outcome",
        "source",
        "level",
        "reason",
        "error",
        "used",
    }
)
_PUBLIC = frozenset({"public", "pub"})

_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*")
_AUTH_SCHEME = re.compile(r"(?i)(?:bearer|basic|digest|token|apikey)\s+\S{8,}")
_PREFIXED_KEY = re.compile(
    r"(?:[A-Za-z]{2,10}_(?:live_|test_)?[A-Za-z0-9]{20,}[A-Za-z0-9_]*"
    r"|AKIA[0-9A-Z]{16}|ASIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}|xox[abpr]-[A-Za-z0-9-]{10,})"
)
_URL_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:)([^@/\s]+)(@)")
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9+/=_.~-]+")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HEX = re.compile(r"[0-9a-fA-F]+")


def _entropy(value: str) -> float:
    """Shannon entropy in bits per character."""
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


def _looks_random(value: str) -> bool:
    """Whether a token-shaped string is long and random enough to be a secret."""
    n = len(value)
    if n < 20 or not _TOKEN_CHARS.fullmatch(value) or _UUID.fullmatch(value):
        return False
    if "/" in value and value.startswith("/"):
        return False  # a path
    if _HEX.fullmatch(value):
        return n >= 32 and _entropy(value) >= 3.0
    classes = (
        any(c.islower() for c in value)
        + any(c.isupper() for c in value)
        + any(c.isdigit() for c in value)
    )
    return classes >= 2 and _entropy(value) >= 3.5 and not value.isalpha()


class Redactor:
    """Applies the rules above. Thread-safe (its caches only grow to a bound).

    Args:
        key: HMAC key of the keyed hashes; default: random for this process.
    """

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key if key is not None else secrets.token_bytes(32)
        self._names: dict[str, int] = {}

    def keyed_hash(self, value: str) -> str:
        """``[HMAC:<16 hex>]`` of ``value`` under this redactor's key."""
        digest = hmac.new(self._key, value.encode("utf-8", "surrogatepass"), hashlib.sha256)
        return f"[HMAC:{digest.hexdigest()[:16]}]"

    def name_rule(self, name: str) -> int:
        """0: keep the value, 1: replace it by a keyed hash, 2: drop it."""
        rule = self._names.get(name)
        if rule is None:
            rule = self._classify(name)
            if len(self._names) < 10_000:
                self._names[name] = rule
        return rule

    @staticmethod
    def _classify(name: str) -> int:
        words = [w.lower() for w in _SPLIT.split(name) if w]
        if not words:
            return 0
        joined = "".join(words)
        if joined in ("sessionid", "sessionids", "sid", "csrftoken"):
            return 1  # a session id *is* a bearer credential (OWASP: never log it raw)
        if words[-1] in _DESCRIPTIVE or _PUBLIC.intersection(words):
            return 0
        if _DROP_WORDS.intersection(words) or joined in _DROP_WORDS:
            return 2
        if "private" in words and "key" in words:
            return 2
        if _HASH_WORDS.intersection(words) or joined in _HASH_WORDS:
            return 1
        return 0

    def value(self, value: str) -> str:
        """Redact a string that looks like a secret; return it unchanged otherwise."""
        n = len(value)
        if n < 16:
            return value
        if n > MAX_STRING:
            value = value[:MAX_STRING] + f"...[truncated {n - MAX_STRING} chars]"
        if "-----BEGIN" in value and "PRIVATE KEY" in value:
            return REDACTED
        if "://" in value and "@" in value:
            value = _URL_PASSWORD.sub(r"\1" + REDACTED + r"\3", value)
        if " " in value:
            if _AUTH_SCHEME.search(value) or _JWT.search(value):
                return self.keyed_hash(value)
            return value
        if value.startswith("eyJ") and _JWT.fullmatch(value):
            return self.keyed_hash(value)
        if _PREFIXED_KEY.fullmatch(value) or _looks_random(value):
            return self.keyed_hash(value)
        return value

    def field(self, name: str, value: Any, depth: int = 0) -> Any:
        """Redact ``value`` found under the key ``name``."""
        rule = self.name_rule(name)
        if rule == 2:
            return REDACTED
        if rule == 1:
            if value is None or isinstance(value, bool):
                return value
            if isinstance(value, str):
                return self.keyed_hash(value)
            if isinstance(value, Mapping | list | tuple):
                return self.any(value, depth)
            return REDACTED
        return self.any(value, depth)

    def any(self, value: Any, depth: int = 0) -> Any:
        """Redact a JSON-like value recursively; anything else becomes a string first."""
        cls = value.__class__
        if cls is str:
            return value if len(value) < 16 else self.value(value)
        if value is None or cls is int or cls is bool:
            return value
        if cls is float:
            return value if math.isfinite(value) else str(value)
        if depth >= MAX_DEPTH:
            return "[nested too deep]"
        if isinstance(value, Mapping):
            return self._mapping(value, depth)
        if isinstance(value, list | tuple | set | frozenset):
            items: list[Any] = value if isinstance(value, list) else list(value)
            result = [
                v if v.__class__ is str and len(v) < 16 else self.any(v, depth + 1)
                for v in items[:MAX_ITEMS]
            ]
            if len(items) > MAX_ITEMS:
                result.append(f"[truncated {len(items) - MAX_ITEMS} more items]")
            return result
        if isinstance(value, bytes | bytearray | memoryview):
            return f"[bytes {len(value)}]"
        if isinstance(value, bool | int):
            return bool(value) if isinstance(value, bool) else int(value)
        if isinstance(value, float):
            return self.any(float(value), depth)
        # str subclasses, enums, UUIDs, datetimes, exceptions...: their text, redacted.
        return self.value(str(value))

    def _mapping(self, value: Mapping[Any, Any], depth: int) -> dict[str, Any]:
        # The hot path of every audit event's details: name rules and short strings inline.
        names = self._names
        out: dict[str, Any] = {}
        for i, (k, v) in enumerate(value.items()):
            if i >= MAX_ITEMS:
                out["[truncated]"] = f"{len(value) - MAX_ITEMS} more items"
                break
            name = k if k.__class__ is str else str(k)
            rule = names.get(name)
            if rule is None:
                rule = self.name_rule(name)
            if rule:
                out[name] = self.field(name, v, depth + 1)
            elif v.__class__ is str and len(v) < 16:
                out[name] = v
            else:
                out[name] = self.any(v, depth + 1)
        return out

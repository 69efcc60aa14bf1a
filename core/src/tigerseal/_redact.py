"""Which values are secrets: one set of rules for audit records and for logs.

Two rules, applied to field names and to every string (anywhere inside it, not only when the
whole string is a secret):

* **By name.** A name whose words include password/pass/pw, passphrase, passcode, PIN, OTP,
  TOTP, MFA, secret, pepper, private key or credential is *dropped*; one naming a token, API
  key, session, cookie, authorization, JWT, signature or another ``*_key`` is *hashed*
  (correlatable without being revealed). Names that only describe a secret (``api_key_id``,
  ``token_type``, ``key_version``, ``public_key``, ``mfa_enabled``) are kept.
* **By shape.** PEM private keys, passwords in URLs, ``Bearer``/``Basic``/``Digest``
  credentials, JWTs, prefixed API keys (``tk_...``, ``ghp_...``, ``sk_live_...``), AWS access
  key ids, ``name=value`` / ``"name": "value"`` pairs whose name is secret (query strings, form
  bodies, JSON in a message) and long high-entropy tokens, wherever they appear in a string.

:func:`redact_uri` hides the password and the secret-named query values of a URI (provider,
storage, sink and database URIs shown in messages, reprs and ``tigerseal doctor``).

:func:`scrub` finds them and asks a renderer what to put instead: the audit trail puts keyed
hashes (:class:`tigerseal.audit._redact.Redactor`), logs put ``[REDACTED]`` markers
(:func:`tigerseal.config.redact_text`).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from typing import Literal
from urllib.parse import unquote_plus

from tigerseal._text import escape_control

__all__ = ["DROP", "HASH", "KEEP", "Kind", "looks_random", "name_rule", "redact_uri", "scrub"]

KEEP, HASH, DROP = 0, 1, 2

#: What was found: ``pem`` (a private key), ``url_password``, ``param_drop`` /
#: ``param_hash`` (the value of a secret-named pair), ``auth`` (scheme and credential),
#: ``jwt``, ``prefixed`` (an API key with a vendor prefix, or an AWS key id), ``random``.
Kind = Literal[
    "pem", "url_password", "param_drop", "param_hash", "auth", "jwt", "prefixed", "random"
]

# Words (after splitting a name on '_', '-', '.', spaces and camelCase) whose value is dropped.
_DROP_WORDS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "pass",
        "pw",
        "pword",
        "passphrase",
        "passcode",
        "pin",
        "otp",
        "totp",
        "hotp",
        "mfa",
        "2fa",
        "secret",
        "secrets",
        "pepper",
        "privatekey",
        "credential",
        "credentials",
        "cvv",
        "cvc",
        "ssn",
        "privkey",
    }
)
# Names that contain one of these anywhere are dropped (newpassword, userpasswd).
_DROP_STEMS = ("password", "passwd", "passphrase", "passcode")
# "<word> code(s)": one-time and backup codes (recovery_codes, sms_code, verification_code).
_CODE_WORDS = frozenset(
    {"recovery", "backup", "verification", "verify", "sms", "email", "reset", "login", "security"}
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
        "enabled",
        "disabled",
        "enrolled",
        "attempts",
        "failures",
    }
)
_PUBLIC = frozenset({"public", "pub"})
# Separators, camelCase, and an acronym before a word (TOTPCode -> TOTP, Code).
_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SESSION_NAMES = frozenset({"sessionid", "sessionids", "sid", "csrftoken"})
_NAME_CACHE: dict[str, int] = {}


def _classify(name: str) -> int:
    # Trailing digits do not change what a field holds (Django's password1 / password2).
    words = [w.lower().rstrip("0123456789") or w.lower() for w in _SPLIT.split(name) if w]
    if not words:
        return KEEP
    joined = "".join(words)
    if joined in _SESSION_NAMES:
        return HASH  # a session id *is* a bearer credential (OWASP: never log it raw)
    if words[-1] in _DESCRIPTIVE or _PUBLIC.intersection(words):
        return KEEP
    if _DROP_WORDS.intersection(words) or joined in _DROP_WORDS:
        return DROP
    if any(stem in joined for stem in _DROP_STEMS):
        return DROP
    if words[-1] in ("code", "codes") and _CODE_WORDS.intersection(words):
        return DROP
    if ("private" in words or "priv" in words) and "key" in words:
        return DROP
    if _HASH_WORDS.intersection(words) or joined in _HASH_WORDS:
        return HASH
    return KEEP


def name_rule(name: str) -> int:
    """:data:`KEEP`, :data:`HASH` or :data:`DROP` for a value found under ``name``."""
    rule = _NAME_CACHE.get(name)
    if rule is None:
        rule = _classify(name)
        if len(_NAME_CACHE) < 10_000:
            _NAME_CACHE[name] = rule
    return rule


_TOKEN_CHARS = re.compile(r"[A-Za-z0-9+/=_.~-]+")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HEX = re.compile(r"[0-9a-fA-F]+")


def _entropy(value: str) -> float:
    """Shannon entropy in bits per character."""
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


def looks_random(value: str) -> bool:
    """Whether a token-shaped string is long and random enough to be a secret."""
    n = len(value)
    if n < 20 or not _TOKEN_CHARS.fullmatch(value) or _UUID.fullmatch(value):
        return False
    if value.startswith("/") or value.count("/") > 2 or value.count(".") > 2:
        return False  # a path, a host name or a dotted identifier
    if _HEX.fullmatch(value):
        return n >= 32 and _entropy(value) >= 3.0
    classes = (
        any(c.islower() for c in value)
        + any(c.isupper() for c in value)
        + any(c.isdigit() for c in value)
    )
    return classes >= 2 and _entropy(value) >= 3.5 and not value.isalpha()


_PEM = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
    re.DOTALL,
)
# The password runs to the authority's last '@' (people write a raw '@' in passwords).
_URL_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:)([^/\s]+)(@)")
_AUTH = re.compile(r"(?i)\b(?:bearer|basic|digest|token|apikey)\s+[A-Za-z0-9+/=._~-]{8,}")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*")
_PREFIXED = re.compile(
    r"(?<![A-Za-z0-9])(?:[A-Za-z]{2,10}_(?:live_|test_)?[A-Za-z0-9]{20,}[A-Za-z0-9_]*"
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}|xox[abpr]-[A-Za-z0-9-]{10,})"
    r"(?![A-Za-z0-9])"
)
# name=value, name: value, "name": "value" (query strings, form bodies, JSON, headers), also
# as escaped JSON inside a JSON string (\"name\": \"value\"): a value stops before \" there.
_PAIR = re.compile(
    r"(?<![A-Za-z0-9_.-])(?P<q>\\?[\"']|)(?P<name>[A-Za-z][A-Za-z0-9_.-]{0,40})(?P=q)"
    r"(?P<sep>[ \t]*[:=][ \t]*)(?P<vq>\\?[\"']?)(?!\[)"
    r"(?P<val>(?:(?!\\[\"'])[^\"'&\s,;}<>\]])+)"
)
# The same, URL-encoded (a query string inside a query parameter: next=%2Flogin%3Fpassword%3D...):
# the separator is %3D or %3A, the name may follow %3F or %26, the value ends at %26 or %20.
_PAIR_ENCODED = re.compile(
    r"(?:(?<=%[0-9A-Fa-f]{2})|(?<![A-Za-z0-9_.%-]))(?P<name>[A-Za-z][A-Za-z0-9_.-]{0,40})"
    r"(?P<sep>%3[DdAa])(?P<val>(?:(?!%2[026])[^\"'&\s,;}<>\]])+)"
)
_TOKEN = re.compile(r"[A-Za-z0-9+/=_.~-]{20,}")
# One cheap search first: a string with none of these cannot hold any of the shapes above.
_MAYBE = re.compile(
    r"[:=]|%3[DdAa]|eyJ|PRIVATE KEY|xox[abpr]-|(?i:bearer|basic|digest|token|apikey)\s"
    r"|[A-Za-z0-9+/=_.~-]{20}"
)

Render = Callable[[Kind, str], str]


def scrub(text: str, render: Render) -> str:
    """``text`` with every secret-shaped part replaced by ``render(kind, secret)``.

    For ``url_password`` and ``param_*`` kinds ``secret`` is only the password or value (the
    rest of the URL or pair is kept); for the others it is the whole match.
    """
    if len(text) < 8 or not _MAYBE.search(text):
        return text
    if "PRIVATE KEY-----" in text:
        text = _PEM.sub(lambda m: render("pem", m.group()), text)
    if "://" in text and "@" in text:
        text = _URL_PASSWORD.sub(
            lambda m: m.group(1) + render("url_password", m.group(2)) + m.group(3), text
        )
    text = _AUTH.sub(lambda m: render("auth", m.group()), text)
    if "eyJ" in text:
        text = _JWT.sub(lambda m: render("jwt", m.group()), text)
    text = _PREFIXED.sub(lambda m: render("prefixed", m.group()), text)
    if "=" in text or ":" in text:
        text = _PAIR.sub(lambda m: _pair(m, render), text)
    if "%3" in text:
        text = _PAIR_ENCODED.sub(lambda m: _pair(m, render), text)
    return _TOKEN.sub(
        lambda m: render("random", m.group()) if looks_random(m.group()) else m.group(), text
    )


def _pair(m: re.Match[str], render: Render) -> str:
    rule = name_rule(m.group("name"))
    if rule == KEEP:
        return m.group()
    kind: Kind = "param_drop" if rule == DROP else "param_hash"
    start = m.start("val") - m.start()
    end = m.end("val") - m.start()
    whole = m.group()
    return whole[:start] + render(kind, m.group("val")) + whole[end:]


def redact_uri(uri: str) -> str:
    """``uri`` with the password of ``user:password@`` and secret-named query values hidden.

    A query value is secret when its name says so by :func:`name_rule` (``password``,
    ``token``, ``secret``...). The fragment is dropped and control characters are escaped.
    The one URI redaction: ``tigerseal.spi.ParsedURI``, ``tigerseal doctor``, database URLs
    and the plugins' messages use it.
    """
    text = uri.partition("#")[0]
    head, sep, query = text.partition("?")
    scheme, colon, rest = head.partition(":")
    if colon and rest.startswith("//"):
        authority, slash, path = rest[2:].partition("/")
        if "@" in authority:
            userinfo, _, host = authority.rpartition("@")
            user, has_pw, _ = userinfo.partition(":")
            authority = f"{user}{':***' if has_pw else ''}@{host}"
        head = f"{scheme}://{authority}{slash}{path}"
    elif colon and "=" in rest:
        # An opaque URI with name=value path attributes (RFC 7512 pkcs11:token=..;pin-value=..).
        # There "token" is a token's label, so only names that must be dropped (a PIN) hide.
        head = f"{scheme}:{_redact_pairs(rest, ';', hide=(DROP,))}"
    if sep:
        head += "?" + _redact_pairs(query, "&", hide=(HASH, DROP))
    return escape_control(head)


def _redact_pairs(text: str, sep: str, *, hide: tuple[int, ...]) -> str:
    items = []
    for item in text.split(sep):
        name, eq, _value = item.partition("=")
        decoded = unquote_plus(name)
        items.append(f"{name}=***" if eq and name_rule(decoded) in hide else item)
    return sep.join(items)

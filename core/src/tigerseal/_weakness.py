"""Is a key or secret visibly not random? One check for every place a secret enters.

Production refuses keys and secrets that are public (printed in docs and templates), marked as
development values, or hand-made patterns. Used for master keys in every form (``env://`` any
variable and version, keyring files) and for JWT secrets. These are heuristics that only catch
what a person typed or copied; a key from :mod:`secrets` passes with overwhelming probability.
"""

from __future__ import annotations

import functools
import re

__all__ = ["jwt_secret_weakness", "key_weakness", "master_key_weakness", "secret_weakness"]

# Values that appear in the seed README, in tigerseal's docs and in common templates. A key
# equal to one of these is public knowledge, whatever it looks like.
_EXAMPLE_MASTER_KEYS = frozenset(
    {
        "0123456789abcdef" * 4,
        "fedcba9876543210" * 4,
        "deadbeef" * 8,
    }
)
_EXAMPLE_JWT_SECRETS = frozenset(
    {
        "your-jwt-secret-key-here-minimum-32-characters",
        "your-secret-key-here-minimum-32-characters",
        "change-me-to-a-long-random-secret-of-32-chars",
        # jwt.io's debugger pre-fills its HS256 secret with this; it is copied into .env files.
        "a-string-secret-at-least-256-bits-long",
    }
)
# A secret that says what it is for: "dev-...", "test_...", "...-change-me", "your-...".
_DEV_MARKERS = re.compile(
    r"^(dev|devel|development|test|testing|example|sample|demo|local|insecure|dummy)[-_.:]"
    r"|change[-_]?(me|this|it)|replace[-_]?(me|this|it)|change[-_]?(in|for|before)[-_]?"
    r"|your[-_]|[-_]here\b|insecure|not[-_]?secret|placeholder"
    r"|example",
    re.IGNORECASE,
)


# -- checks ---------------------------------------------------------------------------------
def _periodic(data: bytes | str) -> bool:
    """Whether ``data`` is a short unit repeated (``abab...``, ``0000...``)."""
    n = len(data)
    return any(n % p == 0 and data == data[:p] * (n // p) for p in range(1, n // 2 + 1))


def master_key_weakness(hex_key: str) -> str | None:
    """Why a 64-hex master key must not be used in production, or ``None`` if it may be.

    Args:
        hex_key: the key as 64 hex characters (already validated).

    Returns:
        A short reason (never the key), or ``None``.
    """
    key = hex_key.lower()
    if key in _EXAMPLE_MASTER_KEYS:
        return "it is an example value printed in documentation"
    raw = bytes.fromhex(key)
    if _periodic(raw):
        return "it is a short pattern repeated"
    # 32 random bytes have ~28 distinct values; fewer than 16 happens with probability far
    # below 2^-100, so this only catches hand-made keys.
    if len(set(raw)) < 16:
        return "it has too few distinct bytes to be random"
    return None


# Sequences and keyboard walks: any 4 characters in a row of one of these strings (either
# direction) are typed, not random. Digits wrap (7890123), keyboards are US QWERTY rows,
# their shifted forms, and the columns (1qaz2wsx...).
_WALKS = (
    "abcdefghijklmnopqrstuvwxyz",
    "01234567890123",
    "`1234567890-=",
    "qwertyuiop[]\\",
    "asdfghjkl;'",
    "zxcvbnm,./",
    "~!@#$%^&*()_+",
    "qwertyuiop{}|",
    'asdfghjkl:"',
    "zxcvbnm<>?",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik,9ol.0p;/-['=]",
    "!qaz@wsx#edc$rfv%tgb^yhn&ujm*ik<(ol>)p:?",
)
_GRAM = 4
_WALK_GRAMS = frozenset(
    w[i : i + _GRAM] for walk in _WALKS for w in (walk, walk[::-1]) for i in range(len(w) - 3)
)
# Arithmetic runs: 4 characters at a fixed stride (up to this) whose code points step by a
# constant of at most _MAX_STEP ("aceg", "aaaa"; "a1b2c3" and "a-b-c-" at stride 2, "1,2,3,"
# and "10,11,12" at stride 3). In a random secret a given window is one with probability
# ~2e-5 (urlsafe) or ~1e-3 (hex), so a random secret stays far below the share that counts.
_MAX_STRIDE, _MAX_STEP = 3, 2
# Leetspeak undone before looking for common passwords ("P@ssw0rd" is "password").
_LEET = (str.maketrans("0134578@$!|", "oieastbasil"), str.maketrans("0134578@$!|", "oleastbasil"))
# More than this share of a secret's characters in predictable parts makes it weak. A random
# secret has almost none (a given 4-gram matches a pattern with probability ~1e-4), so even
# short random secrets stay far below.
_PREDICTABLE_SHARE = 0.5


@functools.cache
def _common_words() -> frozenset[str]:
    # The password-policy list (lowercase, curated); words of 4+ letters, where a match in a
    # longer secret is not a coincidence.
    from tigerseal.passwords._policy import _common

    return frozenset(w for w in _common() if len(w) >= _GRAM)


def _predictable_share(secret: str) -> float:
    """The share of ``secret``'s characters in predictable parts.

    Parts: sequences (also interleaved, stepped or separated), keyboard walks, repeats of
    earlier parts, common passwords (case-insensitive, leetspeak undone).
    """
    text = secret.lower()
    n = len(text)
    if n == 0:
        return 1.0
    covered = bytearray(n)

    def mark(start: int, length: int) -> None:
        covered[start : start + length] = b"\x01" * length

    for i in range(n - _GRAM + 1):
        gram = text[i : i + _GRAM]
        # A walk, or a 4-gram already seen earlier (the second "Password123!" is no news).
        if gram in _WALK_GRAMS or text.find(gram, 0, i + _GRAM - 1) != -1:
            mark(i, _GRAM)
    codes = [ord(c) for c in text]
    for stride in range(1, _MAX_STRIDE + 1):
        for i in range(n - (_GRAM - 1) * stride):
            step = codes[i + stride] - codes[i]
            if abs(step) <= _MAX_STEP and all(
                codes[i + k * stride] - codes[i + (k - 1) * stride] == step for k in range(2, _GRAM)
            ):
                for k in range(_GRAM):
                    covered[i + k * stride] = 1
    for variant in {text, *(text.translate(t) for t in _LEET)}:
        for word in _common_words():
            start = variant.find(word)
            while start != -1:
                mark(start, len(word))
                start = variant.find(word, start + 1)
    return sum(covered) / n


def jwt_secret_weakness(secret: str) -> str | None:
    """Why a JWT secret must not be used in production, or ``None`` if it may be.

    Refused: documentation examples, development markers, short patterns repeated, too few
    distinct characters, and secrets mostly made of predictable parts (alphabet or digit
    sequences, keyboard rows and columns, repeated chunks, common passwords). Output of
    :func:`secrets.token_urlsafe` or :func:`secrets.token_hex` passes.

    Returns:
        A short reason (never the secret), or ``None``.
    """
    if secret in _EXAMPLE_JWT_SECRETS:
        return "it is an example value printed in documentation"
    if _DEV_MARKERS.search(secret):
        return "it is marked as a development or example secret"
    if _periodic(secret):
        return "it is a short pattern repeated"
    if len(set(secret)) < 10:
        return "it has too few distinct characters to be random"
    if _predictable_share(secret) > _PREDICTABLE_SHARE:
        return (
            "it is mostly made of predictable parts (sequences, keyboard rows, repeats or "
            "common passwords)"
        )
    return None


def key_weakness(raw: bytes) -> str | None:
    """Why raw key bytes must not be used in production, or ``None`` if they may be.

    Returns:
        A short reason (never the key), or ``None``.
    """
    return master_key_weakness(raw.hex())


def secret_weakness(secret: str) -> str | None:
    """Why a text secret (JWT HMAC secret, pepper) must not be used in production, or ``None``."""
    return jwt_secret_weakness(secret)

"""The one exception tree of tigerseal.

Every error a caller can cause is a :class:`TigerSealError`. Three families matter most:

* :class:`ConfigError` -- a mistake in configuration, raised when something is built, with the
  fix in the message (installed names, the distribution to install, the variable to set).
* :class:`KeyProviderError` -- an operational failure of a key store (KMS down, access denied,
  key missing). Retrying or fixing permissions may help.
* :class:`DecryptionError` -- the message is not authentic for the keys and context given. One
  opaque class for every integrity failure, so the error is no oracle; it is never a subclass of
  :class:`KeyProviderError` and never worth retrying.

Messages never carry key material, passwords, tokens or plaintext.
"""

from __future__ import annotations

__all__ = [
    "AccessDenied",
    "AccountAccessError",
    "AuditError",
    "AuditIntegrityError",
    "BatchDecryptionError",
    "ConfigError",
    "ContextMismatchError",
    "DecryptionError",
    "EncryptionError",
    "InsufficientScopeError",
    "InvalidCredentialsError",
    "KeyDisabled",
    "KeyNotFound",
    "KeyProviderError",
    "KeyVersionRetired",
    "LoginLockedError",
    "MissingCredentialsError",
    "MissingDependencyError",
    "NoMatchingKeyError",
    "OptionError",
    "PasswordError",
    "PasswordPolicyError",
    "PluginError",
    "ProviderUnavailable",
    "RateLimitExceeded",
    "SecurityError",
    "TigerSealError",
    "TokenError",
    "TokenExpiredError",
    "TokenInvalidError",
    "TokenReuseError",
    "TokenRevokedError",
    "TrailingDataError",
    "UnknownProviderError",
    "UnsupportedOperation",
]


class TigerSealError(Exception):
    """Root of every exception raised by tigerseal and its plugins."""


# Seed compatibility: the shared package exposed a generic security error.
SecurityError = TigerSealError


# -- configuration ---------------------------------------------------------------------------
class ConfigError(TigerSealError, ValueError):
    """Configuration is missing or wrong; the message says which setting and how to fix it."""


class OptionError(ConfigError):
    """A plugin option is unknown, malformed, given twice, or in URI and code with different values.

    ``plugin`` and ``option`` say which; a secret option's value is never in the message.
    """

    def __init__(self, message: str, *, plugin: str = "", option: str | None = None) -> None:
        super().__init__(message)
        self.plugin = plugin
        self.option = option


class UnknownProviderError(ConfigError):
    """A provider, hasher, storage or sink name that no installed plugin offers."""


class MissingDependencyError(ConfigError):
    """A plugin needs a distribution that is not installed (``pip install tigerseal-...``)."""


class PluginError(ConfigError):
    """A plugin failed to import, or two plugins claim the same name."""


# -- key providers ---------------------------------------------------------------------------
class KeyProviderError(TigerSealError):
    """A key store failed to do what was asked (operational, not an integrity failure)."""


class ProviderUnavailable(KeyProviderError):
    """The key store could not be reached in time (down, throttled, sealed, timing out)."""


class AccessDenied(KeyProviderError):
    """The key store refused the credentials or the policy does not allow the operation."""


class KeyNotFound(KeyProviderError):
    """The named key (or key version) does not exist in the key store."""


class KeyDisabled(KeyProviderError):
    """The key exists but is disabled or scheduled for deletion."""


class UnsupportedOperation(KeyProviderError):
    """The backend cannot do this (for example rotation of a key it does not own)."""


# -- envelope --------------------------------------------------------------------------------
class EncryptionError(TigerSealError):
    """Encryption failed (bad input type, oversized context, no provider able to wrap)."""


class DecryptionError(TigerSealError):
    """The message cannot be decrypted: it is malformed, tampered with, or the key is wrong.

    Deliberately opaque: the message does not say which check failed.
    """


class NoMatchingKeyError(DecryptionError):
    """None of the configured key providers holds a key this message was wrapped under.

    The header is public, so naming the providers it lists is no oracle; this error says which
    ones to configure.
    """


class KeyVersionRetired(KeyProviderError, DecryptionError):
    """The message was wrapped with a key version below the minimum decryption version.

    Both a provider error (the key store refused) and a decryption error (the message cannot be
    read), so ``except DecryptionError`` catches every reason a message does not decrypt.
    """


class ContextMismatchError(DecryptionError):
    """The encryption context given to decrypt differs from the one bound to the message."""


class BatchDecryptionError(DecryptionError):
    """Some messages of a ``decrypt_many`` batch did not decrypt.

    Attributes:
        failures: index in the batch -> the error that message raised (each one what
            ``decrypt`` would have raised for it alone). The plaintext of the messages that did
            decrypt is not kept here; pass ``return_exceptions=True`` to get it alongside.
    """

    def __init__(self, message: str, failures: dict[int, DecryptionError]) -> None:
        super().__init__(message)
        self.failures = failures


class TrailingDataError(DecryptionError):
    """Data follows the final frame of a framed message (it was extended or concatenated).

    Everything up to the final frame authenticated, so plaintext already written while
    streaming is the complete message; the input as a whole is still not what was encrypted.
    """


# -- security services -----------------------------------------------------------------------
class PasswordError(TigerSealError):
    """A password could not be hashed or a stored hash is malformed."""


class PasswordPolicyError(PasswordError):
    """A password does not meet the configured policy; the message lists what is missing."""


class TokenError(TigerSealError):
    """A token (JWT or API key) is not valid."""


class TokenExpiredError(TokenError):
    """The token's ``exp`` has passed (beyond the configured leeway)."""


class TokenInvalidError(TokenError):
    """The token is malformed, forged, signed with an unexpected key or algorithm."""


class TokenRevokedError(TokenError):
    """The token's ``jti`` (or its refresh-token family) has been revoked."""


class TokenReuseError(TokenRevokedError):
    """A refresh token was used twice; its whole family has been revoked."""


class InsufficientScopeError(TokenError):
    """The token is valid but lacks a required scope."""


class AccountAccessError(TokenError):
    """The token is valid but does not grant access to the requested account."""


class MissingCredentialsError(TokenError):
    """The request carried no credentials (no ``Authorization`` header, no API key)."""


class InvalidCredentialsError(TigerSealError):
    """A sign-in failed: the user is unknown or the password is wrong (never says which)."""


class RateLimitExceeded(TigerSealError):
    """A rate limit was exceeded; ``retry_after`` says when to try again (seconds)."""

    def __init__(self, message: str, *, retry_after: float = 0.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LoginLockedError(RateLimitExceeded):
    """Sign-in is locked after too many failures for this user or client address.

    The same error (and message) whether or not the user exists; ``retry_after`` says when the
    lockout ends.
    """


class AuditError(TigerSealError):
    """An audit record could not be written or read."""


class AuditIntegrityError(AuditError):
    """An audit trail failed verification (edit, deletion, reordering or truncation)."""

"""Map botocore exceptions onto tigerseal's error tree, each with a remedy (:func:`translate`).

Rules:

* Integrity failures of a decrypt-like call (``InvalidCiphertextException``,
  ``IncorrectKeyException``, a ciphertext naming a key the caller cannot use, a blob KMS rejects
  as malformed) become one opaque :class:`~tigerseal.errors.DecryptionError`.
* Operational failures become :class:`~tigerseal.errors.KeyProviderError` subclasses whose
  message names the operation, the key (an ARN or alias: public) and what to do.
* Messages never contain request parameters: no plaintext data key, no ciphertext blob. The
  server's own message is quoted only for codes whose text AWS documents as parameter-free.
"""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    CredentialRetrievalError,
    EndpointConnectionError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    PartialCredentialsError,
    ReadTimeoutError,
)
from tigerseal._text import escape_control
from tigerseal.errors import (
    AccessDenied,
    ConfigError,
    DecryptionError,
    KeyDisabled,
    KeyNotFound,
    KeyProviderError,
    ProviderUnavailable,
    TigerSealError,
    UnsupportedOperation,
)

__all__ = ["DECRYPT_OPERATIONS", "translate"]

#: Calls that authenticate a ciphertext: their input-shaped failures are integrity failures.
DECRYPT_OPERATIONS = frozenset({"Decrypt", "ReEncrypt"})

_THROTTLING = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "LimitExceededException",
        "SlowDown",
    }
)
_TRANSIENT = frozenset(
    {
        "KMSInternalException",
        "DependencyTimeoutException",
        "KeyUnavailableException",
        "InternalFailure",
        "InternalError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
_BAD_CREDENTIALS = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "ExpiredTokenException",
        "ExpiredToken",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "MissingAuthenticationToken",
    }
)
_INTEGRITY = frozenset({"InvalidCiphertextException", "IncorrectKeyException"})
_MALFORMED = frozenset({"ValidationException", "InvalidParameterValue", "SerializationException"})
# An IAM or key-policy denial always reads "User: ... is not authorized to perform: kms:...".
# Decrypt also answers AccessDeniedException, with another text ("The ciphertext refers to a
# customer master key that does not exist ...", or none at all from moto), when the key *named
# inside the ciphertext* is unknown: under a pinned KeyId that means "not a ciphertext of this
# key", an integrity failure like InvalidCiphertextException.
_IAM_DENIAL = "not authorized to perform"
_QUOTABLE = frozenset(
    {
        "AccessDeniedException",
        "NotFoundException",
        "DisabledException",
        "KMSInvalidStateException",
        "InvalidKeyUsageException",
        "UnsupportedOperationException",
    }
)

_OPAQUE = (
    "the data key could not be decrypted by AWS KMS: wrong key, wrong encryption context, or a "
    "corrupted or tampered message"
)


def translate(exc: Exception, *, operation: str, key_id: str, timeout_hint: str = "") -> Exception:
    """Translate an SDK exception raised by ``operation`` on ``key_id``.

    The :class:`tigerseal.spi.errors.ErrorTranslator` of this provider.

    Args:
        exc: what botocore raised.
        operation: the KMS API name (``"Decrypt"``).
        key_id: the key identifier the call used (ARN or alias; never secret).
        timeout_hint: how the timeouts are configured, for ProviderUnavailable messages.

    Returns:
        The tigerseal exception to raise ``from exc``; ``exc`` itself if it is not an SDK error.
    """
    if isinstance(exc, TigerSealError):
        return exc
    where = f"AWS KMS {operation} with {key_id}"
    if isinstance(exc, ClientError):
        return _from_client_error(exc, operation, where)
    if isinstance(exc, (ConnectTimeoutError, ReadTimeoutError)):
        return ProviderUnavailable(
            f"{where} timed out ({type(exc).__name__}{timeout_hint}); check network access to "
            "the KMS endpoint (VPC endpoint, proxy, security groups) or raise "
            "connect_timeout/read_timeout"
        )
    if isinstance(exc, (EndpointConnectionError, ConnectionClosedError, HTTPClientError)):
        return ProviderUnavailable(
            f"{where} failed: the KMS endpoint could not be reached ({type(exc).__name__}); "
            "check endpoint_url/region, DNS and network access, then retry"
        )
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError)):
        return AccessDenied(
            f"{where} failed: no usable AWS credentials ({type(exc).__name__}); set "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile= option, or run where an "
            "instance/task role is available"
        )
    if isinstance(exc, NoRegionError):
        return ConfigError(
            f"{where} failed: no AWS region; use a key ARN, add ?region=REGION to the URI or "
            "set AWS_REGION"
        )
    if isinstance(exc, ParamValidationError):
        if operation in DECRYPT_OPERATIONS:
            return DecryptionError(_OPAQUE)
        return KeyProviderError(
            f"{where} failed: the request was rejected by botocore's parameter validation; "
            "encryption context keys and values must be strings"
        )
    if isinstance(exc, BotoCoreError):
        return KeyProviderError(
            f"{where} failed ({type(exc).__name__}); check the AWS SDK configuration"
        )
    return exc


def _from_client_error(exc: ClientError, operation: str, where: str) -> Exception:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    server = str(error.get("Message", ""))[:300]
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    quoted = f" ({code}: {server})" if code in _QUOTABLE and server else f" ({code})"
    decrypting = operation in DECRYPT_OPERATIONS

    if decrypting and code in _INTEGRITY | _MALFORMED:
        return DecryptionError(_OPAQUE)
    if status == 403 and not code.startswith("AccessDenied") and code not in _BAD_CREDENTIALS:
        # A bare 403 (no KMS error type): something in front of KMS refused the request.
        # botocore puts the HTTP status in Code and the reason phrase or body in Message.
        said = escape_control(server, limit=200) if server else "no reason given"
        return AccessDenied(
            f"{where} was refused with HTTP 403 ({said}) without a KMS error code: a proxy, a "
            "VPC endpoint policy, a firewall/WAF or the endpoint_url's server denied it, not "
            "the key policy; check the VPC endpoint policy and proxy rules for kms:"
            f"{operation}, and that endpoint_url points at AWS KMS"
        )
    if code.startswith("AccessDenied"):
        if decrypting and _IAM_DENIAL not in server:
            return DecryptionError(_OPAQUE)
        return AccessDenied(
            f"{where} was denied{quoted}; allow kms:{operation} on this key for the caller's "
            "role in the key policy or IAM policy (see docs/providers/aws-kms.md for a "
            "least-privilege policy)"
        )
    if code in _BAD_CREDENTIALS:
        return AccessDenied(
            f"{where} was rejected: the AWS credentials are invalid or expired ({code}); "
            "refresh them or check the profile and the clock"
        )
    if code == "NotFoundException":
        return KeyNotFound(
            f"{where} failed: the key does not exist in this account and region{quoted}; check "
            "the key ARN or alias, the region and the account"
        )
    if code in ("DisabledException", "KMSInvalidStateException"):
        return KeyDisabled(
            f"{where} failed: the key is disabled, pending deletion or otherwise unusable"
            f"{quoted}; enable it (aws kms enable-key) or cancel its deletion "
            "(aws kms cancel-key-deletion)"
        )
    if code == "InvalidKeyUsageException":
        return ConfigError(
            f"{where} failed: the key cannot be used for this operation{quoted}; an aws-kms "
            "key provider needs a SYMMETRIC_DEFAULT key with KeyUsage ENCRYPT_DECRYPT"
        )
    if code == "UnsupportedOperationException":
        return UnsupportedOperation(
            f"{where} is not supported for this key{quoted}; keys with imported or custom "
            "key-store material rotate by creating a new key and re-pointing the alias"
        )
    if code == "ConflictException":
        # KMS answers it to RotateKeyOnDemand while another rotation of the key (on demand, or
        # automatic and due within 20 minutes) is under way: not an outage, nothing to fix.
        return KeyProviderError(
            f"{where} was refused ({code}): a rotation of this key is already in progress "
            "(another on-demand rotation, or an automatic one due within 20 minutes); the key "
            "gets new material when it completes. See it with aws kms list-key-rotations "
            "(or rotation_status()) and rotate again afterwards only if another rotation is "
            "needed"
        )
    if code in _THROTTLING:
        return ProviderUnavailable(
            f"{where} was throttled ({code}) and botocore's retries ran out; lower the request "
            "rate, enable the data-key cache (CachePolicy), use retry_mode=adaptive or request "
            "a higher KMS quota"
        )
    if code in _TRANSIENT or status >= 500:
        return ProviderUnavailable(
            f"{where} failed with a transient KMS error ({code}); retry later"
        )
    if code in _MALFORMED:
        return KeyProviderError(
            f"{where} was rejected as invalid ({code}); an encryption context must be at most "
            "8 KiB of strings, and data keys 32 bytes"
        )
    return KeyProviderError(f"{where} failed ({code}); see the chained exception")

"""Values of the IETF ``RateLimit`` and ``RateLimit-Policy`` HTTP fields.

draft-ietf-httpapi-ratelimit-headers (versions 08+) defines two Structured Fields lists::

    RateLimit-Policy: "default";q=100;w=3600
    RateLimit: "default";r=42;t=1800

``q`` is the quota (the policy's limit), ``w`` the window in seconds, ``r`` the units remaining
and ``t`` the seconds until the quota resets; all are non-negative integers, so fractions are
rounded up (a client that waits ``t`` seconds is never early). An optional ``pk`` (partition
key) is a byte sequence identifying whose quota this is; send it only if it is not secret.
``Retry-After`` (RFC 9110) is added to rejections.
"""

from __future__ import annotations

import base64
import functools
import math

from tigerseal.errors import ConfigError
from tigerseal.spi.services import RateLimitDecision, RateLimitPolicy

__all__ = ["ratelimit_headers", "sf_string"]


def sf_string(value: str) -> str:
    """Serialise ``value`` as an RFC 8941 String (printable ASCII, quoted, escaped)."""
    if not all(0x20 <= ord(ch) <= 0x7E for ch in value):
        raise ConfigError(
            f"a rate-limit policy name must be printable ASCII (RFC 8941 String), got {value!r}"
        )
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@functools.lru_cache(maxsize=256)
def _policy_field(name: str, limit: int, window: float) -> tuple[str, str]:
    # Per request only r and t change: the label and the policy field are computed once per
    # policy (they were a third of a web request's rate-limit cost).
    label = sf_string(name)
    return label, f"{label};q={limit};w={_seconds(window)}"


def _seconds(value: float) -> int:
    if value <= 0:
        return 0
    if math.isinf(value):
        raise ConfigError("an infinite wait cannot be expressed in a header")
    return math.ceil(value - 1e-9)


def ratelimit_headers(
    decision: RateLimitDecision,
    policy: RateLimitPolicy,
    *,
    name: str = "default",
    partition_key: bytes | None = None,
) -> dict[str, str]:
    """HTTP response fields describing ``decision`` under ``policy``.

    Args:
        decision: what the limiter decided for this request.
        policy: the policy it enforced (its limit and window are advertised).
        name: the policy identifier shown to clients.
        partition_key: optional ``pk`` parameter (a non-secret identifier of the quota holder).

    Returns:
        ``RateLimit-Policy`` and ``RateLimit``, plus ``Retry-After`` when the request was
        rejected and can ever succeed.
    """
    label, policy_field = _policy_field(name, policy.limit, policy.window)
    pk = ""
    if partition_key is not None:
        pk = ";pk=:" + base64.b64encode(partition_key).decode("ascii") + ":"
    remaining = decision.remaining if decision.remaining > 0 else 0
    headers = {
        "RateLimit-Policy": policy_field + pk,
        "RateLimit": f"{label};r={remaining};t={_seconds(decision.reset_after)}{pk}",
    }
    if not decision.allowed and not math.isinf(decision.retry_after):
        headers["Retry-After"] = str(max(_seconds(decision.retry_after), 1))
    return headers

"""Translate transport exceptions (requests, under hvac's adapter) into tigerseal errors.

The :class:`tigerseal.spi.errors.ErrorTranslator` of this provider: :func:`translate`. Refused
answers (HTTP 4xx/5xx) are judged where the status is known (the transport and the provider);
this maps what is raised before any answer: timeouts, TLS failures, refused connections. No
message ever holds a token: requests' own text (which may quote the URL) is not used, and the
caller raises ``from None``.
"""

from __future__ import annotations

from tigerseal.errors import ProviderUnavailable, TigerSealError

__all__ = ["translate"]


def translate(
    exc: Exception,
    *,
    operation: str,
    key_id: str,
    addr: str = "the Vault server",
    timeout: float | None = None,
) -> Exception:
    """The tigerseal error for an exception raised while calling Vault.

    Args:
        exc: what requests raised.
        operation: the request (``"POST transit/encrypt/tiger"``).
        key_id: the transit key or path concerned (secret-free).
        addr: the server address, for the remedy.
        timeout: the configured timeout in seconds, for the remedy.

    Returns:
        :class:`~tigerseal.errors.ProviderUnavailable` for a timeout, a TLS failure or a failed
        connection; ``exc`` itself for anything else.
    """
    import requests

    if isinstance(exc, TigerSealError):
        return exc
    if isinstance(exc, requests.exceptions.Timeout):
        within = f" within {timeout:g}s" if timeout is not None else ""
        return ProviderUnavailable(
            f"Vault at {addr} did not answer{within} ({type(exc).__name__}, {operation}): "
            "check the server is up and not overloaded, or raise the timeout "
            "(vault://...?timeout=30)"
        )
    if isinstance(exc, requests.exceptions.SSLError):
        return ProviderUnavailable(
            f"TLS with Vault at {addr} failed: check VAULT_CACERT / cacert= (the CA that signed "
            "the server certificate) and the client certificate"
        )
    if isinstance(exc, requests.exceptions.ConnectionError):
        return ProviderUnavailable(
            f"cannot connect to Vault at {addr} (connection refused or reset): check "
            "VAULT_ADDR / addr= and that the server is running"
        )
    return exc

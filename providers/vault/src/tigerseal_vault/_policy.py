"""The Vault policies a tigerseal service (and its operator) need, as HCL text."""

from __future__ import annotations

__all__ = ["operator_policy", "service_policy"]


def service_policy(mount: str, key_name: str) -> str:
    """Least privilege for a service using ``vault://<mount>/<key_name>``.

    ``update`` without ``create`` on ``encrypt/<key>`` matters: with ``create``, a request to a
    missing key would create it (transit's upsert).
    """
    m, k = mount.strip("/"), key_name
    return "\n".join(
        [
            f"# tigerseal service access to vault://{m}/{k}",
            f'path "{m}/keys/{k}" {{ capabilities = ["read"] }}',
            f'path "{m}/datakey/plaintext/{k}" {{ capabilities = ["update"] }}',
            f'path "{m}/encrypt/{k}" {{ capabilities = ["update"] }}',
            f'path "{m}/decrypt/{k}" {{ capabilities = ["update"] }}',
            f'path "{m}/rewrap/{k}" {{ capabilities = ["update"] }}',
            "",
        ]
    )


def operator_policy(mount: str, key_name: str) -> str:
    """What ``tigerseal rotate`` / retiring versions add on top of :func:`service_policy`."""
    m, k = mount.strip("/"), key_name
    return "\n".join(
        [
            f"# tigerseal key rotation for vault://{m}/{k}",
            f'path "{m}/keys/{k}/rotate" {{ capabilities = ["update"] }}',
            f'path "{m}/keys/{k}/config" {{ capabilities = ["update"] }}',
            "",
        ]
    )

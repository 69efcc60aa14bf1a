"""The seed's compatibility API: the facades of the "Tiger MCP shared security package".

Everything here is also importable from :mod:`tigerseal` itself (``from tigerseal import
get_security_service``), which is how the seed's README uses it; see docs/seed-api.md.

* :class:`KeyManager` generates master keys, JWT secrets, peppers, salts and keyrings.
* :func:`get_security_service` bundles passwords, API keys, tokens, rate limits and audit.
* ``encrypt_tiger_*`` / ``decrypt_tiger_*`` encrypt broker credentials field by field, each
  bound to its field name and account.
"""

from __future__ import annotations

from tigerseal.seed._keymanager import KeyManager
from tigerseal.seed._security import (
    SecurityService,
    get_security_service,
    reset_security_service,
)
from tigerseal.seed._tiger import (
    CREDENTIAL_FIELDS,
    PURPOSE,
    credential_context,
    decrypt_tiger_account_data,
    decrypt_tiger_credentials,
    encrypt_tiger_account_data,
    encrypt_tiger_credentials,
)

__all__ = [
    "CREDENTIAL_FIELDS",
    "PURPOSE",
    "KeyManager",
    "SecurityService",
    "credential_context",
    "decrypt_tiger_account_data",
    "decrypt_tiger_credentials",
    "encrypt_tiger_account_data",
    "encrypt_tiger_credentials",
    "get_security_service",
    "reset_security_service",
]

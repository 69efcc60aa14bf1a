"""``vault://[mount/]key-name?option=value`` URIs and the settings they fall back on.

Precedence, highest first: keyword options given in code, URI query options, ``TIGERSEAL_VAULT_*``
variables, ``VAULT_*`` variables, ``BAO_*`` variables (environment first, then ``.env``).
Secrets (token, secret_id) are refused in a URI: URIs end up in logs, envelope headers and
``tigerseal doctor`` output. Name the variable that holds them instead (``token_var=...``).
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from tigerseal.errors import ConfigError

__all__ = [
    "DEFAULT_MOUNT",
    "QUERY_OPTIONS",
    "VaultSettings",
    "VaultURI",
    "parse_bool",
    "parse_duration",
    "parse_vault_uri",
    "provider_kwargs_from_uri",
]

DEFAULT_MOUNT = "transit"

#: Query options understood in a vault:// URI, with one line of help each (for errors).
QUERY_OPTIONS: dict[str, str] = {
    "addr": "server address, e.g. https://vault.internal:8200 (default: VAULT_ADDR / BAO_ADDR)",
    "namespace": "Vault Enterprise / OpenBao namespace (default: VAULT_NAMESPACE)",
    "auth": "token (default) or approle",
    "token_var": "name of the environment variable holding the token (default: VAULT_TOKEN)",
    "role_id_var": "environment variable holding the AppRole role_id (default: VAULT_ROLE_ID)",
    "secret_id_var": "environment variable holding the AppRole secret_id (VAULT_SECRET_ID)",
    "approle_mount": "where the AppRole auth method is mounted (default: approle)",
    "derived": "1 if the transit key was created with derived=true",
    "context_fields": "comma-separated context fields that derive the key (default: all)",
    "aad": "1 (default) to send the context as associated_data, 0 not to",
    "timeout": "seconds to wait for Vault per request (default 10)",
    "cacert": "CA bundle file to verify the server (default: VAULT_CACERT)",
    "capath": "directory of CA certificates (default: VAULT_CAPATH)",
    "client_cert": "client certificate for TLS client auth (default: VAULT_CLIENT_CERT)",
    "client_key": "client key for TLS client auth (default: VAULT_CLIENT_KEY)",
    "insecure_skip_verify": "1 to skip TLS verification (never in production)",
    "batch_size": "items per batch request (default: fits the server's JSON limits)",
    "key_info_ttl": "seconds to cache the key's versions and settings (default 300)",
}

_SECRET_OPTIONS = {"token", "secret_id", "role_id", "password", "client_token"}
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


class VaultSettings(BaseSettings):
    """Vault connection settings from the environment and ``.env``.

    Each field reads ``TIGERSEAL_VAULT_*`` first, then the Vault CLI's ``VAULT_*`` and OpenBao's
    ``BAO_*`` names, so an existing Vault/OpenBao set-up works unchanged.
    """

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    addr: str | None = Field(
        default=None,
        validation_alias=AliasChoices("TIGERSEAL_VAULT_ADDR", "VAULT_ADDR", "BAO_ADDR"),
    )
    token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("TIGERSEAL_VAULT_TOKEN", "VAULT_TOKEN", "BAO_TOKEN"),
    )
    namespace: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "TIGERSEAL_VAULT_NAMESPACE", "VAULT_NAMESPACE", "BAO_NAMESPACE"
        ),
    )
    role_id: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("TIGERSEAL_VAULT_ROLE_ID", "VAULT_ROLE_ID", "BAO_ROLE_ID"),
    )
    secret_id: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "TIGERSEAL_VAULT_SECRET_ID", "VAULT_SECRET_ID", "BAO_SECRET_ID"
        ),
    )
    cacert: str | None = Field(
        default=None,
        validation_alias=AliasChoices("TIGERSEAL_VAULT_CACERT", "VAULT_CACERT", "BAO_CACERT"),
    )
    capath: str | None = Field(
        default=None,
        validation_alias=AliasChoices("TIGERSEAL_VAULT_CAPATH", "VAULT_CAPATH", "BAO_CAPATH"),
    )
    client_cert: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "TIGERSEAL_VAULT_CLIENT_CERT", "VAULT_CLIENT_CERT", "BAO_CLIENT_CERT"
        ),
    )
    client_key: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "TIGERSEAL_VAULT_CLIENT_KEY", "VAULT_CLIENT_KEY", "BAO_CLIENT_KEY"
        ),
    )
    skip_verify: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "TIGERSEAL_VAULT_SKIP_VERIFY", "VAULT_SKIP_VERIFY", "BAO_SKIP_VERIFY"
        ),
    )
    timeout: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "TIGERSEAL_VAULT_TIMEOUT", "VAULT_CLIENT_TIMEOUT", "BAO_CLIENT_TIMEOUT"
        ),
    )


@dataclass(frozen=True, slots=True)
class VaultURI:
    """A parsed ``vault://`` URI: where the key lives and the query options."""

    mount: str
    key_name: str
    query: dict[str, str]

    @property
    def key_id(self) -> str:
        return f"{self.mount}/{self.key_name}"


def parse_vault_uri(uri: str) -> VaultURI:
    """Parse ``vault://[mount/]key-name[?options]``.

    ``vault://tiger`` uses the default mount ``transit``; ``vault://team/transit/tiger`` a nested
    mount. The API-path form ``vault://transit/keys/tiger`` is accepted too.

    Raises:
        ConfigError: the URI is malformed, names an unknown option, or carries a secret.
    """
    parts = urlsplit(uri)
    if parts.scheme.lower() != "vault" or not uri[len(parts.scheme) :].startswith("://"):
        raise ConfigError(f"{uri!r} is not a vault URI: expected vault://[mount/]key-name")
    if "@" in parts.netloc:
        raise ConfigError(
            "a vault URI must not carry credentials (user@ or token@): set VAULT_TOKEN, or use "
            "auth=approle with VAULT_ROLE_ID / VAULT_SECRET_ID"
        )
    if parts.fragment:
        raise ConfigError(f"a vault URI has no #fragment; remove {'#' + parts.fragment!r}")
    segments = [unquote(s) for s in (parts.netloc + parts.path).split("/") if s]
    if not segments:
        raise ConfigError("a vault URI needs a key name: vault://[mount/]key-name")
    if len(segments) >= 3 and segments[-2] == "keys":
        segments = [*segments[:-2], segments[-1]]  # API path form: <mount>/keys/<name>
    for s in segments:
        if not _NAME.match(s) or s in (".", ".."):
            raise ConfigError(
                f"{s!r} in {_redact_query(uri)!r} is not a valid Vault mount or key name "
                "(letters, digits, '_', '-', '.')"
            )
    key_name = segments[-1]
    mount = "/".join(segments[:-1]) or DEFAULT_MOUNT
    query = _parse_query(parts.query, uri)
    return VaultURI(mount=mount, key_name=key_name, query=query)


def _parse_query(raw: str, uri: str) -> dict[str, str]:
    if not raw:
        return {}
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, strict_parsing=True)
    except ValueError as exc:
        raise ConfigError(f"the query of {_redact_query(uri)!r} is malformed: {exc}") from None
    query: dict[str, str] = {}
    for name, value in pairs:
        if name.lower() in _SECRET_OPTIONS:
            raise ConfigError(
                f"{name!r} must not be given in a vault URI (URIs are logged and stored in "
                "envelope headers): set VAULT_TOKEN / VAULT_SECRET_ID, or name the variable "
                "that holds it with token_var= / secret_id_var="
            )
        if name not in QUERY_OPTIONS:
            close = difflib.get_close_matches(name, QUERY_OPTIONS, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"unknown vault URI option {name!r}.{hint} Known options: "
                + ", ".join(sorted(QUERY_OPTIONS))
            )
        if name in query:
            raise ConfigError(f"the vault URI option {name!r} is given twice")
        query[name] = value
    return query


def _redact_query(uri: str) -> str:
    return uri.split("?", 1)[0]


def parse_bool(name: str, value: object) -> bool:
    """``1/true/yes/on`` or ``0/false/no/off`` (any case); ``ConfigError`` otherwise."""
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name} must be 1 or 0 (true/false), got {value!r}")


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")


def parse_duration(name: str, value: object) -> float:
    """Seconds from ``10``, ``2.5``, ``500ms``, ``30s``, ``5m`` or ``1h``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if match is None:
            raise ConfigError(f"{name} must be a duration such as 10, 2.5s or 1m; got {value!r}")
        unit = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[match.group(2) or "s"]
        seconds = float(match.group(1)) * unit
    if seconds <= 0:
        raise ConfigError(f"{name} must be positive, got {value!r}")
    return seconds


def _env(name: str) -> str | None:
    """A variable from the environment, else from ``.env`` (as the settings do)."""
    value = os.environ.get(name)
    if value:
        return value
    try:
        from dotenv import dotenv_values
    except ImportError:  # pragma: no cover - python-dotenv comes with pydantic-settings
        return None
    found = dotenv_values(".env").get(name) if os.path.exists(".env") else None
    return found or None


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() or None if value is not None else None


def provider_kwargs_from_uri(uri: str, options: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for :class:`~tigerseal_vault.provider.VaultTransitProvider`.

    Args:
        uri: ``vault://[mount/]key-name[?options]``.
        options: keyword options given in code; they win over the URI and the environment.

    Raises:
        ConfigError: bad URI or options, or no server address / credentials found.
    """
    parsed = parse_vault_uri(uri)
    q = dict(parsed.query)
    settings = VaultSettings()
    opts = dict(options)

    def pick(name: str, fallback: Any = None) -> Any:
        from_uri = q.pop(name, None)
        if name in opts:
            return opts.pop(name)
        return fallback if from_uri is None else from_uri

    kwargs: dict[str, Any] = {"mount": parsed.mount}
    kwargs["addr"] = pick("addr", settings.addr or None)
    kwargs["namespace"] = pick("namespace", settings.namespace or None)
    auth = str(pick("auth", "token")).lower()
    kwargs["auth"] = auth

    token_var = pick("token_var")
    token = opts.pop("token", None)
    if token is None:
        token = _env(token_var) if token_var else _secret(settings.token)
    role_id_var, secret_id_var = pick("role_id_var"), pick("secret_id_var")
    role_id = opts.pop("role_id", None)
    if role_id is None:
        role_id = _env(role_id_var) if role_id_var else _secret(settings.role_id)
    secret_id = opts.pop("secret_id", None)
    if secret_id is None:
        secret_id = _env(secret_id_var) if secret_id_var else _secret(settings.secret_id)
    client = opts.pop("client", None)
    if auth == "token":
        kwargs["token"] = token
        if client is None and not token:
            where = token_var or "VAULT_TOKEN (or BAO_TOKEN)"
            raise ConfigError(
                f"no Vault token for {parsed.key_id}: set {where}, or use AppRole "
                "(vault://...?auth=approle with VAULT_ROLE_ID and VAULT_SECRET_ID)"
            )
    elif auth == "approle":
        if not role_id or not secret_id:
            missing = [
                n
                for n, v in (
                    (role_id_var or "VAULT_ROLE_ID", role_id),
                    (secret_id_var or "VAULT_SECRET_ID", secret_id),
                )
                if not v
            ]
            raise ConfigError(
                f"AppRole login for {parsed.key_id} needs a role_id and a secret_id: set "
                + " and ".join(missing)
            )
        kwargs["role_id"], kwargs["secret_id"] = role_id, secret_id
        kwargs["approle_mount"] = pick("approle_mount", "approle")
    else:
        raise ConfigError(f"auth must be 'token' or 'approle', got {auth!r}")
    if client is not None:
        kwargs["client"] = client

    kwargs["derived"] = parse_bool("derived", pick("derived", False))
    fields = pick("context_fields")
    if isinstance(fields, str):
        fields = tuple(f.strip() for f in fields.split(",") if f.strip())
    kwargs["context_fields"] = tuple(fields) if fields is not None else None
    kwargs["aad"] = parse_bool("aad", pick("aad", True))
    kwargs["timeout"] = parse_duration("timeout", pick("timeout", settings.timeout or 10.0))
    batch_size = pick("batch_size")
    if batch_size is not None:
        try:
            kwargs["batch_size"] = int(batch_size)
        except ValueError:
            raise ConfigError(f"batch_size must be an integer, got {batch_size!r}") from None
    kwargs["key_info_ttl"] = parse_duration("key_info_ttl", pick("key_info_ttl", 300.0))

    skip = parse_bool("insecure_skip_verify", pick("insecure_skip_verify", settings.skip_verify))
    cacert = pick("cacert", settings.cacert or None)
    capath = pick("capath", settings.capath or None)
    kwargs["verify"] = False if skip else (cacert or capath or True)
    cert, key = pick("client_cert", settings.client_cert), pick("client_key", settings.client_key)
    if bool(cert) != bool(key):
        raise ConfigError("TLS client auth needs both client_cert and client_key")
    kwargs["cert"] = (cert, key) if cert else None

    leftover = sorted(set(opts) | set(q))
    if leftover:
        known = sorted({*QUERY_OPTIONS, "token", "role_id", "secret_id", "client"})
        raise ConfigError(
            f"unknown vault provider option(s) {', '.join(leftover)}; known: {', '.join(known)}"
        )
    return {"key_name": parsed.key_name, **kwargs}

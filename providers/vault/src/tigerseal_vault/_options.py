"""``vault://[mount/]key-name?option=value`` URIs and the settings they fall back on.

Precedence (the one rule of :mod:`tigerseal.spi.options`): an option given both in the URI query
and in code must have the same value there; when neither gives it, ``TIGERSEAL_VAULT_*``
variables, then ``VAULT_*``, then ``BAO_*`` (environment first, then ``.env``), then the default.
Secrets (token, secret_id) are refused in a URI: URIs end up in logs, envelope headers and
``tigerseal doctor`` output. Name the variable that holds them instead (``token_var=...``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from tigerseal._text import escape_control
from tigerseal.errors import ConfigError
from tigerseal.spi.options import Duration, build_options, option, parse_uri, redact_uri
from tigerseal.spi.options import parse_bool as _parse_bool
from tigerseal.spi.options import parse_duration as _parse_duration

__all__ = [
    "DEFAULT_MOUNT",
    "QUERY_OPTIONS",
    "VaultOptions",
    "VaultSettings",
    "VaultURI",
    "parse_bool",
    "parse_duration",
    "parse_vault_uri",
    "provider_kwargs_from_uri",
    "vault_settings",
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

PLUGIN = "vault"
_EXAMPLE = "vault://[mount/]key-name?addr=https://vault.internal:8200"
_SECRET_OPTIONS = {"token", "secret_id", "role_id", "password", "client_token"}
_REFUSED = dict.fromkeys(
    _SECRET_OPTIONS,
    "secrets must not be given in a vault URI (URIs are logged and stored in envelope "
    "headers): set VAULT_TOKEN / VAULT_SECRET_ID, or name the variable that holds it with "
    "token_var= / secret_id_var=",
)
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


class VaultSettings(BaseSettings):
    """Vault connection settings from the environment (and the dotenv file tigerseal reads).

    Each field reads ``TIGERSEAL_VAULT_*`` first, then the Vault CLI's ``VAULT_*`` and OpenBao's
    ``BAO_*`` names, so an existing Vault/OpenBao set-up works unchanged.
    """

    model_config = SettingsConfigDict(
        # No implicit ./.env: callers pass tigerseal's configured file (TIGERSEAL_ENV_FILE).
        env_file=None,
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
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


def _h(name: str) -> str:
    return QUERY_OPTIONS[name]


@dataclass(frozen=True, slots=True)
class VaultOptions:
    """The options of a ``vault://`` provider (query or keywords; :mod:`tigerseal.spi.options`).

    ``token``, ``role_id``, ``secret_id`` and ``client`` are keyword-only and handled by
    :func:`provider_kwargs_from_uri` (a URI never carries a secret).
    """

    addr: str | None = option(None, help=_h("addr"))
    namespace: str | None = option(None, help=_h("namespace"))
    auth: Literal["token", "approle"] = option("token", help=_h("auth"))
    token_var: str | None = option(None, help=_h("token_var"))
    role_id_var: str | None = option(None, help=_h("role_id_var"))
    secret_id_var: str | None = option(None, help=_h("secret_id_var"))
    approle_mount: str = option("approle", help=_h("approle_mount"))
    derived: bool = option(False, help=_h("derived"))
    context_fields: tuple[str, ...] | None = option(None, help=_h("context_fields"))
    aad: bool = option(True, help=_h("aad"))
    timeout: Duration = option(10.0, gt=0, help=_h("timeout"))
    cacert: str | None = option(None, help=_h("cacert"))
    capath: str | None = option(None, help=_h("capath"))
    client_cert: str | None = option(None, help=_h("client_cert"))
    client_key: str | None = option(None, help=_h("client_key"))
    insecure_skip_verify: bool = option(False, help=_h("insecure_skip_verify"))
    batch_size: int | None = option(None, help=_h("batch_size"))
    key_info_ttl: Duration = option(300.0, gt=0, help=_h("key_info_ttl"))


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
    parsed = parse_uri(uri, plugin=PLUGIN, schemes=("vault",), example=_EXAMPLE)
    if parsed.authority is None:
        raise ConfigError(f"{parsed.redacted()!r} is not a vault URI: expected {_EXAMPLE}")
    if "@" in parsed.authority:
        raise ConfigError(
            "a vault URI must not carry credentials (user@ or token@): set VAULT_TOKEN, or use "
            "auth=approle with VAULT_ROLE_ID / VAULT_SECRET_ID"
        )
    segments = [unquote(s) for s in (parsed.authority + parsed.path).split("/") if s]
    if not segments:
        raise ConfigError("a vault URI needs a key name: vault://[mount/]key-name")
    if len(segments) >= 3 and segments[-2] == "keys":
        segments = [*segments[:-2], segments[-1]]  # API path form: <mount>/keys/<name>
    for s in segments:
        if not _NAME.match(s) or s in (".", ".."):
            raise ConfigError(
                f"{escape_control(s, limit=60)!r} in {redact_uri(uri)!r} is not a valid Vault "
                "mount or key name (letters, digits, '_', '-', '.')"
            )
    key_name = segments[-1]
    mount = "/".join(segments[:-1]) or DEFAULT_MOUNT
    # Validate the query now (unknown names, secrets, bad values), so the CLI fails early too.
    build_options(VaultOptions, plugin=PLUGIN, uri=parsed.query, refused_in_uri=_REFUSED)
    return VaultURI(mount=mount, key_name=key_name, query=dict(parsed.query))


def parse_bool(name: str, value: object) -> bool:
    """``1/true/yes/on`` or ``0/false/no/off`` (any case); ``ConfigError`` otherwise.

    The one boolean rule of :func:`tigerseal.spi.options.parse_bool`; ``None`` is false.
    """
    return False if value is None else _parse_bool(name, value, plugin=PLUGIN)


def parse_duration(name: str, value: object) -> float:
    """Seconds from ``10``, ``2.5``, ``500ms``, ``30s``, ``5m`` or ``1h`` (positive)."""
    seconds = _parse_duration(name, value, plugin=PLUGIN)
    if seconds <= 0:
        raise ConfigError(f"{name} must be positive, got {value!r}")
    return seconds


def _env(name: str) -> str | None:
    """A variable from the environment, else from tigerseal's dotenv file (as the settings)."""
    value = os.environ.get(name)
    if value:
        return value
    from tigerseal.config import configured_env_file, read_env_file

    path = configured_env_file()
    found = read_env_file(path).get(name) if path is not None else None
    return found or None


def vault_settings() -> VaultSettings:
    """:class:`VaultSettings` from the environment and tigerseal's dotenv file, if one is named."""
    from tigerseal.config import configured_env_file

    return VaultSettings(_env_file=configured_env_file())  # type: ignore[call-arg]


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() or None if value is not None else None


def provider_kwargs_from_uri(uri: str, options: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for :class:`~tigerseal_vault._provider.VaultTransitProvider`.

    Args:
        uri: ``vault://[mount/]key-name[?options]``.
        options: keyword options given in code; they win over the URI and the environment.

    Raises:
        ConfigError: bad URI or options, or no server address / credentials found.
    """
    parsed = parse_vault_uri(uri)
    settings = vault_settings()
    code = dict(options)
    secrets_given = {
        n: code.pop(n) for n in ("token", "role_id", "secret_id", "client") if n in code
    }
    opts = build_options(
        VaultOptions,
        plugin=PLUGIN,
        uri=parsed.query,
        code=code,
        refused_in_uri=_REFUSED,
        # Environment fallbacks: only where neither the URI nor code gives the option.
        extra={
            "addr": settings.addr or None,
            "namespace": settings.namespace or None,
            "timeout": settings.timeout or None,
            "insecure_skip_verify": settings.skip_verify or None,
            "cacert": settings.cacert or None,
            "capath": settings.capath or None,
            "client_cert": settings.client_cert or None,
            "client_key": settings.client_key or None,
        },
    )
    kwargs: dict[str, Any] = {"mount": parsed.mount, "addr": opts.addr}
    kwargs["namespace"] = opts.namespace
    auth = opts.auth
    kwargs["auth"] = auth

    token_var = opts.token_var
    token = secrets_given.get("token")
    if token is None:
        token = _env(token_var) if token_var else _secret(settings.token)
    role_id_var, secret_id_var = opts.role_id_var, opts.secret_id_var
    role_id = secrets_given.get("role_id")
    if role_id is None:
        role_id = _env(role_id_var) if role_id_var else _secret(settings.role_id)
    secret_id = secrets_given.get("secret_id")
    if secret_id is None:
        secret_id = _env(secret_id_var) if secret_id_var else _secret(settings.secret_id)
    client = secrets_given.get("client")
    if auth == "token":
        kwargs["token"] = token
        if client is None and not token:
            where = token_var or "VAULT_TOKEN (or BAO_TOKEN)"
            raise ConfigError(
                f"no Vault token for {parsed.key_id}: set {where}, or use AppRole "
                "(vault://...?auth=approle with VAULT_ROLE_ID and VAULT_SECRET_ID)"
            )
    else:
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
        kwargs["approle_mount"] = opts.approle_mount
    if client is not None:
        kwargs["client"] = client

    kwargs["derived"] = opts.derived
    kwargs["context_fields"] = opts.context_fields
    kwargs["aad"] = opts.aad
    kwargs["timeout"] = opts.timeout
    if opts.batch_size is not None:
        kwargs["batch_size"] = opts.batch_size
    kwargs["key_info_ttl"] = opts.key_info_ttl
    cacert, capath = opts.cacert, opts.capath
    kwargs["verify"] = False if opts.insecure_skip_verify else (cacert or capath or True)
    cert, key = opts.client_cert, opts.client_key
    if bool(cert) != bool(key):
        raise ConfigError("TLS client auth needs both client_cert and client_key")
    kwargs["cert"] = (cert, key) if cert else None
    return {"key_name": parsed.key_name, **kwargs}

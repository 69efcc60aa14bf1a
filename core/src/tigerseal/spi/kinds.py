"""The one table of plugin kinds: every fact the plugin manager knows about each kind.

Each :class:`PluginKind` row says, for one extension point: its registration hook (in
:mod:`tigerseal.hookspecs`), the entry-point group its external plugins are installed under,
the spec class the hook returns (which fixes the type of what the spec builds), the label used
in messages, whether names are URI schemes, which distribution offers a well-known name that is
not installed, and whether the hook's plugins load by name (configuration asks for one) or all
at once (every installed one must answer).

Listing (``tigerseal plugins``), loading, duplicate detection, "did you mean"/"pip install"
errors and the typed builders of :mod:`tigerseal.plugins` all read this table; nothing else
repeats it. A new kind is one row here plus its hookspec.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from tigerseal.spi.specs import (
    AuditSinkSpec,
    CommandSpec,
    HasherSpec,
    PluginSpec,
    ProviderSpec,
    RateLimitStorageSpec,
    RevocationStoreSpec,
    TokenSignerSpec,
)

if TYPE_CHECKING:
    import click

    from tigerseal.spi._provider import KeyProvider
    from tigerseal.spi.services import (
        AuditSink,
        PasswordHasher,
        RateLimitStorage,
        RevocationStore,
        TokenSigner,
    )

__all__ = [
    "AUDIT_SINK",
    "COMMAND",
    "KEY_PROVIDER",
    "KEY_USES",
    "KINDS",
    "PASSWORD_HASHER",
    "RATE_LIMIT_STORAGE",
    "REVOCATION_STORE",
    "TOKEN_SIGNER",
    "PluginKind",
    "kind_of_hook",
    "kind_of_spec",
]

T = TypeVar("T")


@dataclass(frozen=True, eq=False)
class PluginKind(Generic[T]):
    """One kind of plugin. ``T`` is what its specs build (``KeyProvider`` for key providers).

    Attributes:
        key: short identifier (``"key_provider"``).
        label: singular noun used in messages (``"key provider"``).
        hook: the hookspec plugins implement (``"register_key_providers"``).
        group: entry-point group external plugins are installed under, or ``None`` when the
            kind's plugins are found through the other kinds' groups (commands).
        spec_type: the spec class the hook must return, or ``None`` for hooks that answer
            with something else (``report_key_uses``).
        by_uri: names are URI schemes (``vault`` for ``vault://...``); otherwise plain names.
        known: well-known names not built in, and the distribution that offers each (the
            "install it with" hint). Mutable only for tests.
        load_all: every installed plugin of the kind must answer (retire checks, commands),
            so all of them are loaded before the hook is called; otherwise a plugin is loaded
            only when configuration names it.
        builtin: whether tigerseal's built-in plugins answer the hook. Commands: no (the
            built-in commands are the static table of :mod:`tigerseal.cli`), so listing plugin
            commands does not import the built-in plugin modules (``tigerseal --help`` fast).
    """

    key: str
    label: str
    hook: str
    group: str | None
    spec_type: type[PluginSpec[T]] | None = None
    by_uri: bool = True
    known: dict[str, str] = field(default_factory=dict)
    load_all: bool = False
    builtin: bool = True

    def __repr__(self) -> str:
        return f"PluginKind({self.key!r})"


KEY_PROVIDER: PluginKind[KeyProvider] = PluginKind(
    "key_provider",
    "key provider",
    "register_key_providers",
    "tigerseal.key_providers",
    ProviderSpec,
    known={
        "aws-kms": "tigerseal-aws-kms",
        "vault": "tigerseal-vault",
        "pkcs11": "tigerseal-pkcs11",
    },
)
PASSWORD_HASHER: PluginKind[PasswordHasher] = PluginKind(
    "password_hasher",
    "password hasher",
    "register_password_hashers",
    "tigerseal.hashers",
    HasherSpec,
    by_uri=False,
)
TOKEN_SIGNER: PluginKind[TokenSigner] = PluginKind(
    "token_signer",
    "token signer",
    "register_token_signers",
    "tigerseal.token_signers",
    TokenSignerSpec,
    known={"aws-kms": "tigerseal-aws-kms"},
)
RATE_LIMIT_STORAGE: PluginKind[RateLimitStorage] = PluginKind(
    "rate_limit_storage",
    "rate-limit storage",
    "register_rate_limit_storage",
    "tigerseal.rate_limit_storage",
    RateLimitStorageSpec,
    known={"redis": "tigerseal-redis", "rediss": "tigerseal-redis"},
)
AUDIT_SINK: PluginKind[AuditSink] = PluginKind(
    "audit_sink",
    "audit sink",
    "register_audit_sinks",
    "tigerseal.audit_sinks",
    AuditSinkSpec,
    known={"postgresql": "tigerseal-sql", "sqlite": "tigerseal-sql"},
)
REVOCATION_STORE: PluginKind[RevocationStore] = PluginKind(
    "revocation_store",
    "revocation store",
    "register_revocation_stores",
    "tigerseal.revocation_stores",
    RevocationStoreSpec,
    known={"redis": "tigerseal-redis", "rediss": "tigerseal-redis"},
)
#: ``tigerseal NAME`` subcommands. No group of their own: a plugin offering commands is found
#: through the entry points of the kinds it registers, and every installed plugin is loaded
#: when the command line lists or runs a plugin command (hook modules are cheap to import).
COMMAND: PluginKind[click.Command] = PluginKind(
    "command",
    "command",
    "register_commands",
    None,
    CommandSpec,
    by_uri=False,
    known={"vault": "tigerseal-vault", "pkcs11": "tigerseal-pkcs11", "sql": "tigerseal-sql"},
    load_all=True,
    builtin=False,
)
#: Plugins storing wrapped keys outside messages (``report_key_uses``): every one installed
#: answers before a key version is retired (tigerseal-sql lists ``sql = "tigerseal_sql"``).
KEY_USES: PluginKind[Any] = PluginKind(
    "key_uses",
    "key-use reporter",
    "report_key_uses",
    "tigerseal.key_uses",
    None,
    by_uri=False,
    load_all=True,
)

#: Every kind, by key.
KINDS: Mapping[str, PluginKind[Any]] = {
    k.key: k
    for k in (
        KEY_PROVIDER,
        PASSWORD_HASHER,
        TOKEN_SIGNER,
        RATE_LIMIT_STORAGE,
        AUDIT_SINK,
        REVOCATION_STORE,
        COMMAND,
        KEY_USES,
    )
}

_BY_HOOK: Mapping[str, PluginKind[Any]] = {k.hook: k for k in KINDS.values()}


def kind_of_hook(hook: str) -> PluginKind[Any]:
    """The kind whose registration hook is ``hook`` (``"register_key_providers"``).

    Raises:
        KeyError: no kind has that hook.
    """
    return _BY_HOOK[hook]


def kind_of_spec(spec_type: type[PluginSpec[Any]]) -> PluginKind[Any] | None:
    """The kind whose specs are ``spec_type`` (or a subclass of it), if any."""
    for cls in spec_type.__mro__:
        for kind in KINDS.values():
            if kind.spec_type is cls:
                return kind
    return None

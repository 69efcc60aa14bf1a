"""Every extension point of tigerseal, one registration hook per kind.

Plugins are plain modules with ``@hookimpl`` functions (see ``tigerseal.providers.env`` for a
built-in one and ``providers/vault`` for an external one)::

    from tigerseal import hookimpl
    from tigerseal.spi import ProviderSpec

    @hookimpl
    def register_key_providers() -> list[ProviderSpec]:
        return [ProviderSpec(name="vault", factory="tigerseal_vault._provider:from_uri")]

Registration hooks only describe implementations; they never build one or do crypto work, and
they must be cheap to call (no SDK imports: give the factory as a ``"module:attr"`` path).
None of them is ``firstresult``: every registered plugin answers, and the plugin manager
(:mod:`tigerseal.plugins`) merges the answers by name, rejecting duplicates. Applications never
call ``pm.hook.*`` directly; typed functions in :mod:`tigerseal.plugins` wrap each hook.

External plugins are discovered through one entry-point group per kind and loaded only when
configuration names them; the groups, labels and loading rules of every kind are the one table
:data:`tigerseal.spi.kinds.KINDS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from tigerseal.keyuse import KeyUse, KeyUseScan
    from tigerseal.spi.specs import (
        AuditSinkSpec,
        CommandSpec,
        HasherSpec,
        ProviderSpec,
        RateLimitStorageSpec,
        RevocationStoreSpec,
        TokenSignerSpec,
    )

PROJECT = "tigerseal"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_key_providers() -> list[ProviderSpec] | None:
    """Register key providers (entry-point group ``tigerseal.key_providers``).

    Called once per plugin when the plugin manager builds its table of providers.

    :return: specs whose ``name`` is the URI scheme (``"aws-kms"`` for ``aws-kms://...``) and
        whose factory is called as ``factory(uri, **options)`` and returns a
        :class:`tigerseal.spi.KeyProvider`. Not ``firstresult``: all answers are merged, and two
        specs with one name are an error.
    """


@hookspec
def register_password_hashers() -> list[HasherSpec] | None:
    """Register password-hashing schemes (entry-point group ``tigerseal.hashers``).

    :return: specs whose ``name`` is the value of ``PASSWORD_HASH_ALGORITHM`` selecting them
        (``"argon2"``, ``"bcrypt"``, ...); the factory is called as ``factory(**options)`` and
        returns a :class:`tigerseal.spi.PasswordHasher`. Not ``firstresult``.
    """


@hookspec
def register_token_signers() -> list[TokenSignerSpec] | None:
    """Register JWT signers backed by external keys (group ``tigerseal.token_signers``).

    :return: specs whose ``name`` is a URI scheme (``"aws-kms"``) and whose factory is called as
        ``factory(uri, **options)`` and returns a :class:`tigerseal.spi.TokenSigner`.
        Not ``firstresult``.
    """


@hookspec
def register_rate_limit_storage() -> list[RateLimitStorageSpec] | None:
    """Register rate-limit storage backends (group ``tigerseal.rate_limit_storage``).

    :return: specs whose ``name`` is the URI scheme (``"memory"``, ``"redis"``) and whose factory
        is called as ``factory(uri, **options)`` and returns a
        :class:`tigerseal.spi.RateLimitStorage`. A spec may list further schemes in ``aliases``
        (``rediss``, ``redis+sentinel``). Not ``firstresult``.
    """


@hookspec
def register_audit_sinks() -> list[AuditSinkSpec] | None:
    """Register audit sinks (entry-point group ``tigerseal.audit_sinks``).

    :return: specs whose ``name`` is the URI scheme (``"file"`` for the hash-chained JSONL sink,
        ``"logging"``, ``"postgresql"``) and whose factory is called as ``factory(uri, **options)``
        and returns a :class:`tigerseal.spi.AuditSink`. Not ``firstresult``.
    """


@hookspec
def register_revocation_stores() -> list[RevocationStoreSpec] | None:
    """Register token revocation stores (entry-point group ``tigerseal.revocation_stores``).

    :return: specs whose ``name`` is the URI scheme (``"memory"``, ``"redis"``) and whose factory
        is called as ``factory(uri, **options)`` and returns a
        :class:`tigerseal.spi.RevocationStore`. Not ``firstresult``.
    """


@hookspec
def register_commands() -> list[CommandSpec] | None:
    """Register ``tigerseal NAME`` subcommands (``tigerseal vault init-key``, ``tigerseal sql``).

    The counterpart of llm's ``register_commands(cli)``, but answering with specs rather than
    adding click objects to the group, so ``tigerseal --help`` lists the names and one-line
    descriptions without importing any command code; the command's module is imported when it
    runs. Commands have no entry-point group of their own: the command line loads every
    installed plugin (their hook modules are cheap to import) unless
    ``TIGERSEAL_DISABLE_PLUGIN_AUTOLOAD`` is set, and ``tigerseal plugins`` lists them.

    :return: :class:`tigerseal.spi.CommandSpec` objects whose ``name`` is the subcommand and
        whose factory (a ``"module:attr"`` path) is the ``click.Command`` or ``click.Group``.
        Names of built-in commands cannot be taken. Not ``firstresult``.
    """


@hookspec
def audit_event(event: Mapping[str, Any]) -> None:
    """Observe every audit event after redaction, before it reaches the sinks.

    A fan-out notification (like datasette's ``track_event``): every implementation is called,
    return values are ignored, and an exception in one observer is logged, not raised.

    :param event: the redacted record (``event_type``, ``risk_level``, ``timestamp``, ...).
    """


@hookspec
def report_key_uses(scan: KeyUseScan) -> list[KeyUse] | None:
    """Report the wrapped keys this plugin stores in the places ``scan`` names.

    Called before a key version is retired (:func:`tigerseal.keyuse.retire`, ``tigerseal
    retire``): every implementation answers (not ``firstresult``), and a version is retired only
    if no answer lists a use of it. Answer for the fields of ``scan`` you understand (a pepper
    file, a database URL holding your table, an audit sink URI of your scheme) and ignore the
    rest; return ``None`` or ``[]`` when nothing of yours is there.

    Fail closed: if a place you understand cannot be read, raise a
    :class:`~tigerseal.errors.TigerSealError` saying what and how to fix it. Never report "no
    uses" for something you could not check. A missing table or file of yours is "no uses".

    :param scan: a :class:`tigerseal.keyuse.KeyUseScan`.
    :return: :class:`tigerseal.keyuse.KeyUse` objects, one per stored wrapped key.
    """

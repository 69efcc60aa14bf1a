"""The plugin manager: built-in plugins plus entry points, loaded by name, merged by name.

Rules (each one is tested):

* Built-in plugins (``BUILTIN_PLUGINS``) register through the same hooks as external ones.
* Every fact about a kind (hook, entry-point group, spec class, label, well-known
  distributions, loading rule) is one row of :data:`tigerseal.spi.kinds.KINDS`.
* External plugins are found in one entry-point group per kind (``tigerseal.key_providers``,
  ...) and imported only when configuration names them: installing a package is not enough to
  run its code inside a crypto library. ``TIGERSEAL_DISABLE_PLUGIN_AUTOLOAD=1`` turns even
  that off (only built-ins and plugins registered in code remain).
* A ciphertext header never causes a plugin to load; only configuration does.
* Two plugins claiming one name (within a kind) is a :class:`~tigerseal.errors.PluginError`,
  never a silent pick. An unknown name is an :class:`~tigerseal.errors.UnknownProviderError`
  that lists the installed names and the distribution to install.
* A plugin that fails to import is reported by name; the others keep working.
* Listing (:func:`list_plugins`) reads entry-point metadata and imports nothing.

Applications and providers never call ``pm.hook.*`` directly: the typed functions at the bottom
of this module wrap each hook, all through one generic :func:`create`.
"""

from __future__ import annotations

import difflib
import importlib
import logging
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, overload

import pluggy

from tigerseal import hookspecs
from tigerseal._defaults import ProcessDefault
from tigerseal.errors import PluginError, UnknownProviderError
from tigerseal.spi.kinds import (
    AUDIT_SINK,
    COMMAND,
    KEY_PROVIDER,
    KEY_USES,
    KINDS,
    PASSWORD_HASHER,
    RATE_LIMIT_STORAGE,
    REVOCATION_STORE,
    TOKEN_SIGNER,
    PluginKind,
    kind_of_hook,
)
from tigerseal.spi.specs import CommandSpec, PluginSpec

if TYPE_CHECKING:
    from importlib import metadata

    from tigerseal.keyuse import KeyUse, KeyUseScan
    from tigerseal.spi import (
        AuditSink,
        KeyProvider,
        PasswordHasher,
        RateLimitStorage,
        RevocationStore,
        TokenSigner,
    )

__all__ = [
    "BUILTIN_PLUGINS",
    "LoadFailure",
    "PluginInfo",
    "PluginRegistry",
    "audit_sink_from_uri",
    "commands",
    "create",
    "get_registry",
    "key_provider_from_uri",
    "key_uses",
    "list_plugins",
    "password_hasher",
    "peek_registry",
    "rate_limit_storage_from_uri",
    "revocation_store_from_uri",
    "set_registry",
    "token_signer_from_uri",
    "uri_scheme",
]

log = logging.getLogger(__name__)

#: Core modules registered as plugins, exactly like external ones (pytest's default_plugins).
BUILTIN_PLUGINS: tuple[str, ...] = (
    "tigerseal.providers.env",
    "tigerseal.providers.file",
    "tigerseal.passwords._plugin",
    "tigerseal.tokens._plugin",
    "tigerseal.ratelimit._plugin",
    "tigerseal.audit._plugin",
    "tigerseal.keyuse",
)

S = TypeVar("S", bound=PluginSpec[Any])
T = TypeVar("T")

#: A kind, or the name of its hook (``"register_key_providers"``), as the methods accept.
KindRef = PluginKind[Any] | str


def _kind(ref: KindRef) -> PluginKind[Any]:
    if isinstance(ref, PluginKind):
        return ref
    try:
        return kind_of_hook(ref)
    except KeyError:
        raise PluginError(f"{ref!r} is not a plugin kind's hook") from None


def _groups() -> list[str]:
    """Every entry-point group of the table, in order, once each."""
    return list(dict.fromkeys(k.group for k in KINDS.values() if k.group is not None))


def _metadata() -> Any:
    """``importlib.metadata``, imported on first use.

    Scanning installed distributions is needed only to list or load plugins, never to resolve
    a built-in name.
    """
    from importlib import metadata

    return metadata


def uri_scheme(uri: str) -> str:
    """Return the scheme of a key or storage URI (``pkcs11:...`` has no ``//``)."""
    scheme, sep, _ = uri.partition(":")
    if not sep or not scheme or not (scheme[0].isalpha() and scheme.isascii()):
        raise UnknownProviderError(
            f"{uri!r} is not a URI: expected scheme:..., e.g. env://ENCRYPTION_MASTER_KEY, "
            "file:///etc/tigerseal/keyring.json, aws-kms://alias/NAME or vault://transit/NAME"
        )
    return scheme.lower()


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """One installed plugin, as listed by ``tigerseal plugins`` (nothing imported)."""

    group: str
    name: str
    target: str
    distribution: str
    version: str
    builtin: bool = False


@dataclass(frozen=True, slots=True)
class LoadFailure:
    """A plugin whose import failed: reported, never fatal to the others."""

    group: str
    name: str
    distribution: str
    error: str


def list_plugins(groups: Iterable[str] | None = None) -> list[PluginInfo]:
    """List installed plugins from entry-point metadata, without importing any of them.

    Built-ins are listed too (distribution ``tigerseal``), with the names they register, and so
    are the commands of the plugins registered so far (group ``commands``: commands have no
    entry-point group; ``tigerseal plugins --load`` loads every plugin first).
    """
    wanted = set(groups) if groups is not None else {*_groups(), "commands"}
    infos: list[PluginInfo] = []
    core_version = _dist_version("tigerseal")
    registry = get_registry()
    for kind in KINDS.values():
        group = kind.group or f"{kind.key}s"
        if group not in wanted:
            continue
        if kind.spec_type is not None:
            for name, spec in sorted(registry.specs(kind).items()):
                if kind.group is not None and spec.distribution != "tigerseal":
                    continue  # installed ones are listed from their entry points below
                target = spec.factory if isinstance(spec.factory, str) else spec.factory.__module__
                dist = spec.distribution or "?"
                builtin = dist == "tigerseal"
                version = core_version if builtin else _dist_version(dist)
                infos.append(PluginInfo(group, name, target, dist, version, builtin))
        if kind.group is None:
            continue
        for ep in _metadata().entry_points(group=kind.group):
            dist = ep.dist.name if ep.dist is not None else "?"
            version = ep.dist.version if ep.dist is not None else "?"
            infos.append(PluginInfo(kind.group, ep.name, ep.value, dist, version, False))
    return infos


def _dist_version(name: str) -> str:
    try:
        return str(_metadata().version(name))
    except _metadata().PackageNotFoundError:
        return "?"


class PluginRegistry:
    """A pluggy manager plus name resolution. Use :func:`get_registry` for the process one.

    Args:
        builtins: dotted module paths registered at first use.
        autoload: whether configured names may be loaded from entry points. Defaults to true
            unless ``TIGERSEAL_DISABLE_PLUGIN_AUTOLOAD`` is set.
    """

    def __init__(
        self, builtins: Iterable[str] = BUILTIN_PLUGINS, *, autoload: bool | None = None
    ) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self._builtin_modules = tuple(builtins)
        self._builtins_loaded = False
        if autoload is None:
            autoload = os.environ.get("TIGERSEAL_DISABLE_PLUGIN_AUTOLOAD", "") in ("", "0")
        self.autoload = autoload
        self._lock = threading.RLock()
        self._distributions: dict[str, str] = {}  # pluggy plugin name -> distribution
        self._builtin_names: set[str] = set()
        self._cache: dict[str, dict[str, PluginSpec[Any]]] = {}
        self._spec_failures: dict[str, list[LoadFailure]] = {}

    # -- registration ----------------------------------------------------------------------
    def _ensure_builtins(self) -> None:
        if self._builtins_loaded:
            return
        with self._lock:
            if self._builtins_loaded:
                return
            for path in self._builtin_modules:
                module = importlib.import_module(path)
                name = f"builtin:{path}"
                self.pm.register(module, name=name)
                self._distributions[name] = "tigerseal"
                self._builtin_names.add(name)
            self.pm.check_pending()
            self._builtins_loaded = True
            self._cache.clear()

    def _register_checked(self, plugin: object, name: str | None, label: str) -> str:
        """Register ``plugin``; on any validation failure leave the manager unchanged."""
        try:
            registered = self.pm.register(plugin, name=name)
        except (ValueError, pluggy.PluginValidationError) as exc:
            raise PluginError(f"plugin {label} cannot be registered: {exc}") from exc
        if registered is None:
            raise PluginError(f"plugin {label} is blocked")
        try:
            # A hookimpl without a matching hookspec is almost always a misspelled hook name.
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            self.pm.unregister(name=registered)
            raise PluginError(
                f"plugin {label} implements an unknown hook ({exc}); check the hook names "
                "against tigerseal.hookspecs"
            ) from exc
        return registered

    def register(self, plugin: object, name: str | None = None, distribution: str = "") -> str:
        """Register a plugin object (module or class instance) in code; returns its name.

        Raises:
            PluginError: the plugin (or its name) is already registered, or it implements a
                hook that does not exist.
        """
        self._ensure_builtins()
        with self._lock:
            label = repr(name) if name else repr(getattr(plugin, "__name__", plugin))
            registered = self._register_checked(plugin, name, label)
            self._distributions[registered] = distribution or getattr(plugin, "__name__", "")
            self._cache.clear()
            return registered

    def unregister(self, name: str) -> None:
        """Remove a plugin registered with :meth:`register`."""
        with self._lock:
            self.pm.unregister(name=name)
            self._distributions.pop(name, None)
            self._cache.clear()

    def load_entry_point(self, group: str, name: str) -> bool:
        """Import and register the plugin(s) installed under ``name`` in ``group``.

        Returns:
            Whether an entry point with that name exists.

        Raises:
            PluginError: it failed to import, or several distributions claim the name.
        """
        return self._load_eps(group, name, list(_metadata().entry_points(group=group, name=name)))

    def _load_eps(self, group: str, name: str, eps: list[metadata.EntryPoint]) -> bool:
        if not eps:
            return False
        if len({ep.value for ep in eps}) > 1:
            owners = ", ".join(sorted(f"{_ep_dist(ep)} ({ep.value})" for ep in eps))
            raise PluginError(
                f"the name {name!r} in {group} is claimed by several plugins: {owners}; "
                "uninstall all but one"
            )
        ep = eps[0]
        with self._lock:
            try:
                module = ep.load()
            except Exception as exc:
                raise PluginError(
                    f"plugin {name!r} from {_ep_dist(ep)} failed to import: "
                    f"{type(exc).__name__}: {exc}; reinstall it or remove it from the "
                    "configuration"
                ) from exc
            if not self.pm.is_registered(module):
                plugin_name = f"{group}:{name}"
                label = f"{name!r} from {_ep_dist(ep)}"
                self._register_checked(module, plugin_name, label)
                self._distributions[plugin_name] = _ep_dist(ep)
                self._cache.clear()
        return True

    def load_all(self, *, builtins: bool = True) -> list[LoadFailure]:
        """Load every installed plugin (``tigerseal plugins --load``); report failures.

        Args:
            builtins: register the built-in plugins too (first). ``False`` for kinds the
                built-ins do not answer (commands), to keep their modules unimported.
        """
        if builtins:
            self._ensure_builtins()
        failures: list[LoadFailure] = []
        installed = _metadata().entry_points()  # one scan of the installed distributions (slow)
        for group in _groups():
            in_group = installed.select(group=group)
            for ep in in_group:
                try:
                    self._load_eps(group, ep.name, list(in_group.select(name=ep.name)))
                except PluginError as exc:
                    failures.append(LoadFailure(group, ep.name, _ep_dist(ep), str(exc)))
        return failures

    # -- resolution --------------------------------------------------------------------------
    def builtin_specs(self, kind: KindRef) -> dict[str, PluginSpec[Any]]:
        """Specs registered by built-in plugins only."""
        return {n: s for n, s in self.specs(kind).items() if s.distribution == "tigerseal"}

    def failures(self, kind: KindRef) -> list[LoadFailure]:
        """Plugins whose registration hook raised or returned something other than specs."""
        self.specs(kind)
        return list(self._spec_failures.get(_kind(kind).hook, ()))

    @overload
    def specs(self, kind: PluginKind[T]) -> dict[str, PluginSpec[T]]: ...
    @overload
    def specs(self, kind: str) -> dict[str, PluginSpec[Any]]: ...
    def specs(self, kind: KindRef) -> dict[str, PluginSpec[Any]]:
        """All specs currently registered for ``kind`` (or its hook's name), by name and alias."""
        k = _kind(kind)
        hook = k.hook
        if k.spec_type is None:
            raise PluginError(f"{hook} answers with no specs")
        if k.builtin:
            self._ensure_builtins()
        with self._lock:
            cached = self._cache.get(hook)
            if cached is not None:
                return cached
            table: dict[str, PluginSpec[Any]] = {}
            owner: dict[str, str] = {}
            failures: list[LoadFailure] = []
            group = k.group or f"{k.key}s"
            caller = getattr(self.pm.hook, hook)
            for impl in caller.get_hookimpls():
                dist = self._distributions.get(impl.plugin_name, impl.plugin_name)
                try:
                    answered = _checked_specs(k, impl.function())
                except Exception as exc:  # a broken plugin must not take the others down
                    log.error("plugin %s (%s) failed in %s: %s", impl.plugin_name, dist, hook, exc)
                    failures.append(
                        LoadFailure(group, impl.plugin_name, dist, f"{type(exc).__name__}: {exc}")
                    )
                    continue
                for spec in answered:
                    if spec.distribution is None:
                        spec = _with_distribution(spec, dist)
                    for key in (spec.name, *spec.aliases):
                        if key in table:
                            raise PluginError(
                                f"the {k.label} name {key!r} is registered twice, "
                                f"by {owner[key]} and by {dist}; uninstall or unregister one"
                            )
                        table[key] = spec
                        owner[key] = dist
            self._spec_failures[hook] = failures
            self._cache[hook] = table
            return table

    @overload
    def resolve(self, kind: PluginKind[T], name: str) -> PluginSpec[T]: ...
    @overload
    def resolve(self, kind: str, name: str) -> PluginSpec[Any]: ...
    def resolve(self, kind: KindRef, name: str) -> PluginSpec[Any]:
        """Find the spec named ``name``, loading its entry point if configuration asks for it.

        A kind without an entry-point group of its own (commands) loads every installed
        plugin instead, unless autoloading is off.
        """
        k = _kind(kind)
        table = self.specs(k)
        spec = table.get(name)
        if spec is not None:
            return spec
        group = k.group
        if self.autoload and group is None:
            self.load_all(builtins=k.builtin)
            table = self.specs(k)
            if name in table:
                return table[name]
        elif self.autoload and group is not None:
            base = name.split("+", 1)[0]
            for candidate in dict.fromkeys((name, base)):
                if self.load_entry_point(group, candidate):
                    table = self.specs(k)
                    if name in table:
                        return table[name]
                    dists = sorted(
                        {
                            _ep_dist(ep)
                            for ep in _metadata().entry_points(group=group, name=candidate)
                        }
                    )
                    raise PluginError(
                        f"{', '.join(dists)} installs the entry point {candidate!r} in {group}, "
                        f"but its plugin registers no {k.label} named {name!r}; "
                        "report this to the plugin's authors"
                    )
        raise self._unknown(k, name, table)

    def _unknown(
        self, kind: PluginKind[Any], name: str, table: Mapping[str, PluginSpec[Any]]
    ) -> Exception:
        entry_points = (
            {ep.name for ep in _metadata().entry_points(group=kind.group)}
            if kind.group is not None
            else set()
        )
        installed = sorted(set(table) | entry_points)
        parts = [f"unknown {kind.label} {name!r}; installed: {', '.join(installed) or 'none'}."]
        base = name.split("+", 1)[0]
        dist = kind.known.get(base)
        if not self.autoload and (
            name in entry_points or base in entry_points or (kind.group is None and dist)
        ):
            parts.append(
                "It is installed, but TIGERSEAL_DISABLE_PLUGIN_AUTOLOAD is set: unset it or "
                "register the plugin in code."
            )
        elif kind is KEY_PROVIDER and name == "fake":
            parts.append(
                "fake:// is tigerseal's in-memory test provider and is not built in: call "
                "tigerseal.testing.register_fake_provider() in test setup (or use the "
                "fake_provider_registered fixture of tigerseal.testing.pytest_plugin); never "
                "configure it in production or staging."
            )
        elif dist:
            parts.append(f"Install it with: pip install {dist}")
        else:
            close = difflib.get_close_matches(name, installed, n=1)
            if close:
                parts.append(f"Did you mean {close[0]!r}?")
        for failure in self._spec_failures.get(kind.hook, ()):
            parts.append(
                f"(plugin {failure.name} from {failure.distribution} failed: {failure.error})"
            )
        return UnknownProviderError(" ".join(parts))

    def notify_audit_event(self, event: Mapping[str, Any]) -> None:
        """Fan an audit event out to observers; an observer's failure is logged, not raised."""
        self._ensure_builtins()
        for impl in self.pm.hook.audit_event.get_hookimpls():
            try:
                impl.function(event=event)
            except Exception:
                log.exception("audit_event observer %s failed", impl.plugin_name)


def _checked_specs(kind: PluginKind[Any], answer: object) -> list[PluginSpec[Any]]:
    """Validate one plugin's answer to a registration hook."""
    hook = kind.hook
    if answer is None:
        return []
    if not isinstance(answer, list | tuple):
        raise PluginError(f"{hook} must return a list of specs, got {type(answer).__name__}")
    expected = kind.spec_type
    assert expected is not None  # specs() refuses kinds without specs
    specs: list[PluginSpec[Any]] = []
    for spec in answer:
        if not isinstance(spec, expected):
            raise PluginError(
                f"{hook} must return {expected.__name__} objects, got {type(spec).__name__}"
            )
        for key in (spec.name, *spec.aliases):
            if not isinstance(key, str) or not key or key != key.strip() or ":" in key:
                raise PluginError(f"{hook} returned an invalid name {key!r}")
        specs.append(spec)
    return specs


def _ep_dist(ep: metadata.EntryPoint) -> str:
    return ep.dist.name if ep.dist is not None else ep.value


def _with_distribution(spec: S, dist: str) -> S:
    import dataclasses

    return dataclasses.replace(spec, distribution=dist)


_REGISTRY: ProcessDefault[PluginRegistry] = ProcessDefault(
    "plugin registry", lambda: PluginRegistry(), with_reset_defaults=False
)


def get_registry() -> PluginRegistry:
    """The process-wide registry (created on first use)."""
    return _REGISTRY.get()


def set_registry(registry: PluginRegistry | None) -> PluginRegistry | None:
    """Replace the process-wide registry (tests); returns the previous one."""
    return _REGISTRY.set(registry)


def peek_registry() -> PluginRegistry | None:
    """The process-wide registry if one was created (never creates it)."""
    return _REGISTRY.peek()


# -- typed builders: one generic, one named shortcut per kind --------------------------------
def create(kind: PluginKind[T], name: str, *args: Any, **options: Any) -> T:
    """Build the implementation registered as ``name`` in ``kind``.

    ``create(KEY_PROVIDER, "vault", uri)`` returns a ``KeyProvider``: the kind's type
    parameter types the result, so no caller casts.

    Raises:
        UnknownProviderError: no installed plugin offers the name (the message says which
            distribution would).
    """
    return get_registry().resolve(kind, name).create(*args, **options)


#: Built-in key-provider schemes -> the module whose ``register_key_providers`` names them.
#: Until something builds the registry, these resolve from that module alone (cold start: no
#: pluggy manager, no other built-in plugin imported, no entry point read). Built-in names win
#: over installed plugins in the registry too, so the answer is the same.
_BUILTIN_KEY_PROVIDERS = {"env": "tigerseal.providers.env", "file": "tigerseal.providers.file"}


def _builtin_key_provider_spec(scheme: str) -> PluginSpec[KeyProvider] | None:
    module_name = _BUILTIN_KEY_PROVIDERS.get(scheme)
    if module_name is None or _REGISTRY.peek() is not None:
        return None
    module = importlib.import_module(module_name)
    for spec in _checked_specs(KEY_PROVIDER, getattr(module, KEY_PROVIDER.hook)()):
        if scheme in (spec.name, *spec.aliases):
            return spec if spec.distribution else _with_distribution(spec, "tigerseal")
    return None


def key_provider_from_uri(uri: str, **options: Any) -> KeyProvider:
    """Build a key provider from its URI (``env://...``, ``aws-kms://...``, ``pkcs11:...``).

    Raises:
        UnknownProviderError: no installed plugin offers the scheme (the message says which
            distribution would).
    """
    scheme = uri_scheme(uri)
    spec = _builtin_key_provider_spec(scheme)
    if spec is not None:
        provider: KeyProvider = spec.create(uri, **options)
        return provider
    return create(KEY_PROVIDER, scheme, uri, **options)


def password_hasher(name: str, **options: Any) -> PasswordHasher:
    """Build the password hasher registered as ``name`` (``argon2``, ``bcrypt``, ...)."""
    return create(PASSWORD_HASHER, name, **options)


def token_signer_from_uri(uri: str, **options: Any) -> TokenSigner:
    """Build a JWT signer from its URI (e.g. ``aws-kms://alias/jwt``)."""
    return create(TOKEN_SIGNER, uri_scheme(uri), uri, **options)


def rate_limit_storage_from_uri(uri: str, **options: Any) -> RateLimitStorage:
    """Build rate-limit storage from its URI (``memory://``, ``redis://host:6379/0``)."""
    return create(RATE_LIMIT_STORAGE, uri_scheme(uri), uri, **options)


def revocation_store_from_uri(uri: str, **options: Any) -> RevocationStore:
    """Build a token revocation store from its URI (``memory://``, ``redis://...``)."""
    return create(REVOCATION_STORE, uri_scheme(uri), uri, **options)


def audit_sink_from_uri(uri: str, **options: Any) -> AuditSink:
    """Build an audit sink from its URI (``file:///var/log/audit.jsonl``, ``logging://``)."""
    return create(AUDIT_SINK, uri_scheme(uri), uri, **options)


def commands() -> dict[str, CommandSpec]:
    """The plugin commands (``register_commands``) by name, nothing of them imported.

    Loads every installed plugin first (their hook modules only), unless
    ``TIGERSEAL_DISABLE_PLUGIN_AUTOLOAD`` is set: then only built-ins and plugins registered
    in code answer. A plugin that fails to load is left out here; ``tigerseal plugins --load``
    reports it.
    """
    registry = get_registry()
    if registry.autoload:
        registry.load_all(builtins=COMMAND.builtin)
    table = registry.specs(COMMAND)
    return {name: spec for name, spec in table.items() if isinstance(spec, CommandSpec)}


def key_uses(scan: KeyUseScan) -> list[KeyUse]:
    """Every wrapped key the plugins report for ``scan`` (the ``report_key_uses`` hook).

    Every plugin of the entry-point group of :data:`~tigerseal.spi.kinds.KEY_USES`
    (``tigerseal.key_uses``) is loaded first (tigerseal-sql
    is one: the blind-index keys table), and so are the plugins of the audit sinks in
    ``scan.audit_sinks``, so the plugin that owns a place answers for it.

    Raises:
        ConfigError: a plugin could not read a place it owns, or answered with something else
            than ``KeyUse`` objects. A failed check never counts as "no uses".
    """
    from tigerseal._text import escape_control
    from tigerseal.errors import TigerSealError
    from tigerseal.keyuse import KeyUse

    registry = get_registry()
    registry._ensure_builtins()
    # Every installed plugin that stores wrapped keys must answer, not only the configured
    # ones: a retire that skipped one would break its secrets.
    registered = {getattr(p, "__name__", None) for p in registry.pm.get_plugins()}
    group = KEY_USES.group
    assert group is not None
    for ep in _metadata().entry_points(group=group):
        if registry.autoload:
            registry.load_entry_point(group, ep.name)
        elif ep.value.partition(":")[0] not in registered:
            raise PluginError(
                f"{_ep_dist(ep)} stores wrapped keys ({ep.value}) but cannot be asked which key "
                "versions they use: TIGERSEAL_DISABLE_PLUGIN_AUTOLOAD is set. Register it in "
                "code (get_registry().register(module)) or unset the variable; nothing was retired"
            )
    for uri in scan.audit_sinks:
        # Resolving the scheme loads the sink's plugin; an unknown scheme is an error here
        # too, since its keys could not be checked.
        registry.resolve(AUDIT_SINK, uri_scheme(uri))
    found: list[KeyUse] = []
    for impl in getattr(registry.pm.hook, KEY_USES.hook).get_hookimpls():
        dist = registry._distributions.get(impl.plugin_name, impl.plugin_name)
        try:
            # Read the whole answer here: a generator fails while it is iterated, and an
            # answer that is not iterable fails in list(); both are the plugin's failure.
            raw: object = impl.function(scan=scan)
            if raw is not None and not isinstance(raw, Iterable):
                raise TypeError(f"it returned a {type(raw).__name__}, not a list")
            answer = list(raw or ())
        except TigerSealError:
            raise
        except Exception as exc:
            raise PluginError(
                f"plugin {impl.plugin_name} ({dist}) failed to report the key versions it "
                f"uses: {type(exc).__name__}: {escape_control(str(exc), limit=300)}; nothing "
                "was retired"
            ) from exc
        for use in answer:
            if not isinstance(use, KeyUse):
                raise PluginError(
                    f"plugin {impl.plugin_name} ({dist}) answered report_key_uses with a "
                    f"{type(use).__name__}, not a KeyUse"
                )
            found.append(use)
    return found

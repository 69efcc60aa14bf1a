"""The ``fake://`` key provider: in-memory keys, fault injection and call counting for tests.

Not for production: the keys live in process memory and vanish at exit. So it is **not** a
built-in plugin: a test suite opts in with :func:`register_fake_provider` (or the
``fake_provider_registered`` fixture of :mod:`tigerseal.testing.pytest_plugin`), like Tink's
``fake_kms.register_client()``; then ``TIGERSEAL_KEY_PROVIDERS="fake://test"`` works. Where the
environment looks like a deployment (``ENVIRONMENT=staging`` or ``production``, the rule of
:func:`tigerseal.config.looks_like_deployment` that also refuses the development keyring) a
``fake://`` URI is refused even when registered. It runs the same
local AES-256-GCM-SIV wrap as the ``env`` and ``file`` providers, so tests exercise real crypto.

URI: ``fake://<name>[?version=N&binds_context=0&min_version=M&latency_ms=L]``

* ``name`` selects a process-global key table: two providers with one name share keys (like
  two services pointing at one KMS key); another name is another, unrelated key.
* ``version=N`` pins the version this instance wraps with (creating versions up to ``N`` in the
  shared table), to simulate a rolling deployment where hosts lag behind a rotation.
* ``binds_context=0`` ignores the encryption context (like a backend without AAD).
* ``min_version=M`` retires versions below ``M`` in the shared table.
* ``latency_ms=L`` sleeps ``L`` milliseconds in every operation.

Example::

    from tigerseal.testing import FakeKeyProvider
    from tigerseal.errors import ProviderUnavailable

    kp = FakeKeyProvider("orders")
    kp.fail_next(ProviderUnavailable("KMS is down"), times=2)
    ...
    assert kp.calls["unwrap"] == 3
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from tigerseal.errors import ConfigError, ProviderUnavailable
from tigerseal.hookspecs import hookimpl
from tigerseal.spi._capabilities import BatchWrap, Retirable, Rotatable
from tigerseal.spi._provider import Context, DataKey, KeyProvider, WrappedKey
from tigerseal.spi.options import Duration, build_options, option, parse_uri
from tigerseal.spi.specs import ProviderSpec

if TYPE_CHECKING:
    from tigerseal.plugins import PluginRegistry
    from tigerseal.providers._local import LocalKeyring

__all__ = [
    "FakeKeyProvider",
    "from_uri",
    "register_fake_provider",
    "register_key_providers",
    "reset_fake_keys",
    "unregister_fake_provider",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass
class _SharedKeys:
    keys: dict[int, bytes] = field(default_factory=dict)
    current: int = 0
    min_version: int = 0
    generation: int = 0


_TABLE: dict[str, _SharedKeys] = {}
_TABLE_LOCK = threading.RLock()


def _shared(name: str, at_least: int) -> _SharedKeys:
    import secrets

    with _TABLE_LOCK:
        entry = _TABLE.setdefault(name, _SharedKeys())
        while entry.current < at_least:
            entry.current += 1
            entry.keys[entry.current] = secrets.token_bytes(32)
            entry.generation += 1
        return entry


def reset_fake_keys(name: str | None = None) -> None:
    """Forget the fake keys of ``name`` (or of every name): later providers get fresh keys."""
    with _TABLE_LOCK:
        if name is None:
            _TABLE.clear()
        else:
            _TABLE.pop(name, None)


@dataclass
class _Fault:
    exc: BaseException | type[BaseException]
    remaining: int
    operation: str | None


class FakeKeyProvider(KeyProvider, Rotatable, Retirable, BatchWrap):
    """In-memory key provider for tests (see the module docstring for the URI).

    Args:
        name: key name; providers with the same name share keys within the process.
        version: pin the version this instance wraps with (default: the shared current one).
        latency: seconds to sleep in every operation.

    Attributes:
        calls: how many times each operation was called (``generate``, ``wrap``, ``unwrap``,
            ``rewrap``, ``unwrap_many``, ``rewrap_many``, ``rotate``, ``retire_below``,
            ``health_check``); batch calls count once.
    """

    scheme: ClassVar[str] = "fake"

    def __init__(self, name: str = "default", *, version: int | None = None, latency: float = 0.0):
        if not _NAME.match(name):
            raise ConfigError(
                f"fake provider name {name!r} is invalid: use 1-128 letters, digits, '.', '_' "
                "or '-', e.g. fake://test"
            )
        if version is not None and version < 1:
            raise ConfigError(f"fake provider version must be >= 1, got {version}")
        if latency < 0:
            raise ConfigError(f"fake provider latency must be >= 0, got {latency}")
        self._name = name
        self._pinned = version
        self.latency = latency
        self.calls: Counter[str] = Counter()
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self._closed = False
        self._entry = _shared(name, version or 1)
        self._generation = -1
        self._keyring: LocalKeyring | None = None
        self._sync()

    # -- shared-table synchronisation ------------------------------------------------------
    def _sync(self) -> LocalKeyring:
        entry = self._entry
        keyring = self._keyring
        if keyring is not None and self._generation == entry.generation:
            return keyring
        from tigerseal.providers._local import LocalKeyring

        with _TABLE_LOCK:
            current = self._pinned or entry.current
            keys, min_version, generation = dict(entry.keys), entry.min_version, entry.generation
        if keyring is None:
            keyring = LocalKeyring(
                self.scheme,
                self._name,
                keys,
                current=current,
                min_version=min(min_version, current),
                binds_context=self.binds_context,
            )
        else:
            keyring.replace(keys, current=current, min_version=min(min_version, current))
        self._keyring, self._generation = keyring, generation
        return keyring

    # -- test controls -----------------------------------------------------------------------
    def fail_next(
        self,
        exc: BaseException | type[BaseException],
        times: int = 1,
        *,
        operation: str | None = None,
    ) -> None:
        """Make the next ``times`` operations (or only those named ``operation``) raise ``exc``."""
        if times < 1:
            raise ValueError("times must be >= 1")
        with self._lock:
            self._faults.append(_Fault(exc, times, operation))

    def clear_faults(self) -> None:
        """Drop every pending injected fault."""
        with self._lock:
            self._faults.clear()

    def _enter(self, operation: str) -> LocalKeyring:
        fault: BaseException | type[BaseException] | None = None
        with self._lock:
            self.calls[operation] += 1
            for pending in self._faults:
                if pending.operation in (None, operation):
                    pending.remaining -= 1
                    fault = pending.exc
                    if pending.remaining == 0:
                        self._faults.remove(pending)
                    break
        if self.latency:
            time.sleep(self.latency)
        if fault is not None:
            raise fault
        if self._closed:
            raise ProviderUnavailable(f"{self.uri} is closed; create a new provider")
        return self._sync()

    # -- KeyProvider -------------------------------------------------------------------------
    @property
    def key_id(self) -> str:
        return self._name

    @property
    def key_version(self) -> int:
        return self._sync().current

    @property
    def min_decryption_version(self) -> int:
        return self._sync().min_version

    @property
    def uri(self) -> str:
        query = []
        if self._pinned is not None:
            query.append(f"version={self._pinned}")
        if not self.binds_context:
            query.append("binds_context=0")
        return f"fake://{self._name}" + ("?" + "&".join(query) if query else "")

    def generate_data_key(self, context: Context) -> DataKey:
        import secrets

        keyring = self._enter("generate")
        dek = secrets.token_bytes(32)
        return DataKey(dek, keyring.wrap(dek, context))

    def wrap(self, dek: bytes, context: Context) -> WrappedKey:
        return self._enter("wrap").wrap(dek, context)

    def unwrap(self, wrapped: WrappedKey, context: Context) -> bytes:
        return self._enter("unwrap").unwrap(wrapped, context)

    def rewrap(self, wrapped: WrappedKey, context: Context) -> WrappedKey:
        keyring = self._enter("rewrap")
        return keyring.wrap(keyring.unwrap(wrapped, context), context)

    def unwrap_many(self, items: Sequence[tuple[WrappedKey, Context]]) -> list[bytes]:
        keyring = self._enter("unwrap_many")
        return [keyring.unwrap(w, c) for w, c in items]

    def rewrap_many(self, items: Sequence[tuple[WrappedKey, Context]]) -> list[WrappedKey]:
        keyring = self._enter("rewrap_many")
        return [keyring.wrap(keyring.unwrap(w, c), c) for w, c in items]

    def rotate(self) -> int:
        """Add a version to the shared key table and make it current; return it."""
        import secrets

        self._enter("rotate")
        with _TABLE_LOCK:
            entry = self._entry
            entry.current += 1
            entry.keys[entry.current] = secrets.token_bytes(32)
            entry.generation += 1
            if self._pinned is not None:
                self._pinned = entry.current
            new = entry.current
        self._sync()
        return new

    def retire_below(self, min_version: int) -> None:
        """Refuse to unwrap versions below ``min_version`` (for every provider of this name)."""
        self._enter("retire_below")
        with _TABLE_LOCK:
            entry = self._entry
            if not 0 <= min_version <= entry.current:
                raise ConfigError(
                    f"minimum decryption version must be between 0 and {entry.current}, "
                    f"got {min_version}"
                )
            entry.min_version = min_version
            entry.generation += 1
        self._sync()

    def _probe(self) -> str:
        # Counted and fault-injectable like every other operation (fail_next(..., "health_check")).
        keyring = self._enter("health_check")
        probe = {"tigerseal-health-check": "1"}
        dek = bytes(32)
        if keyring.unwrap(keyring.wrap(dek, probe), probe) != dek:
            raise ProviderUnavailable("fake round trip returned another key")
        return "wrap/unwrap round trip ok"

    def close(self) -> None:
        """Mark the provider closed: later operations raise ProviderUnavailable."""
        self._closed = True


class _ContextFreeFakeKeyProvider(FakeKeyProvider):
    """``fake://name?binds_context=0``: the context is not bound into the wrap."""

    @property
    def binds_context(self) -> bool:
        return False


@dataclass(frozen=True, slots=True)
class FakeOptions:
    """Options of ``fake://name`` (query or keywords; see :mod:`tigerseal.spi.options`)."""

    version: int | None = option(None, ge=1, help="the version this instance wraps with")
    binds_context: bool = option(True, help="0: the context is not bound into the wrap")
    min_version: int | None = option(None, ge=0, help="retire versions below this")
    latency_ms: float | None = option(None, ge=0, help="milliseconds slept per operation")
    latency: Duration | None = option(None, uri=False, help="seconds slept per operation")


def from_uri(uri: str, **options: Any) -> FakeKeyProvider:
    """Build a fake provider from ``fake://<name>?...`` (see the module docstring).

    Options (query or keywords; both must agree): ``version``, ``binds_context``,
    ``min_version``, ``latency_ms``; keyword only: ``latency`` (seconds).
    """
    parsed = parse_uri(uri, plugin="fake://", schemes=("fake",), example="fake://test-key")
    from tigerseal.config import FAKE_PROVIDER_REFUSED, current_environment, looks_like_deployment

    environment = current_environment()
    if looks_like_deployment(environment):
        raise ConfigError(
            f"fake:// refused with ENVIRONMENT={environment}: {FAKE_PROVIDER_REFUSED}"
        )
    name = parsed.location.strip("/") or "default"
    opts = build_options(FakeOptions, plugin="fake://", uri=parsed.query, code=options)
    latency = opts.latency
    if opts.latency_ms is not None:
        if latency is not None and latency != opts.latency_ms / 1000:
            raise ConfigError(
                "fake://: latency_ms and latency (seconds) disagree; give one of them"
            )
        latency = opts.latency_ms / 1000
    version, binds, min_version = opts.version, opts.binds_context, opts.min_version
    latency = latency or 0.0
    cls = FakeKeyProvider if binds else _ContextFreeFakeKeyProvider
    provider = cls(name, version=version, latency=latency)
    if min_version is not None:
        provider.retire_below(min_version)
        provider.calls.clear()
    return provider


#: The plugin name :func:`register_fake_provider` registers under.
PLUGIN_NAME = "tigerseal.testing.fake"


def register_fake_provider(registry: PluginRegistry | None = None) -> bool:
    """Make ``fake://`` URIs resolve (tests only; refused in staging and production anyway).

    Args:
        registry: the registry to add it to; default the process-wide one.

    Returns:
        Whether it was registered now (``False``: it already was).
    """
    import sys

    from tigerseal.plugins import get_registry

    reg = get_registry() if registry is None else registry
    module = sys.modules[__name__]
    if reg.pm.is_registered(module) or reg.pm.get_plugin(PLUGIN_NAME) is not None:
        return False
    reg.register(module, name=PLUGIN_NAME, distribution="tigerseal.testing")
    return True


def unregister_fake_provider(registry: PluginRegistry | None = None) -> None:
    """Undo :func:`register_fake_provider` (nothing happens if it is not registered)."""
    from tigerseal.plugins import get_registry

    reg = get_registry() if registry is None else registry
    if reg.pm.get_plugin(PLUGIN_NAME) is not None:
        reg.unregister(PLUGIN_NAME)


@hookimpl
def register_key_providers() -> list[ProviderSpec]:
    """Register the ``fake`` key provider (tests only, via :func:`register_fake_provider`)."""
    return [
        ProviderSpec(
            name="fake",
            factory="tigerseal.testing.fake:from_uri",
            description="In-memory keys for tests (fault injection, call counts); not production",
        )
    ]

"""Observer registry: where tigerseal reports provider calls, cache use, failures and decisions.

tigerseal's code reports a few events here; exporters (:mod:`tigerseal.metrics.prometheus`,
:mod:`tigerseal.metrics.otel`, or your own :class:`Observer`) turn them into metrics and
traces. With no observer registered each report point costs one module-attribute check
(``if observe.on:``) and nothing is imported: Prometheus and OpenTelemetry load only when their
adapter is installed.

Events:

* ``provider_call(provider, operation, seconds, error)`` -- a key provider's ``generate``,
  ``wrap``, ``unwrap`` or ``rewrap_many`` (one batch of a rewrap: the calls that cost latency
  and money with KMS, Vault, an HSM);
  ``error`` is the exception class name, or ``None``;
* ``cache_lookup(kind, hit)`` -- the data-key cache answered (``kind``: ``encrypt`` or
  ``decrypt``); only services with a cache report it;
* ``decrypt_failure()`` -- a message could not be decrypted (tampered, wrong key or context);
* ``rate_limit_decision(algorithm, allowed)`` -- a rate limiter decided (sync or async);
* ``audit_event(event_type, risk_level)`` -- an audit record was written.

Names are bounded: each kind (event type, provider, error class...) reports at most
:data:`MAX_LABEL_VALUES` distinct values, later new ones as ``"other"``, so no input an
application passes on can grow an exporter's time series without bound.

An observer that raises is logged (a warning the first time per event, then DEBUG) and
skipped: metrics must never break encryption.

Writing one::

    from tigerseal import observe

    class Printer(observe.Observer):
        def provider_call(self, provider, operation, seconds, error):
            print(provider, operation, f"{seconds * 1000:.1f} ms", error or "ok")

    observe.add_observer(Printer())
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from tigerseal.spi import KeyProvider

__all__ = [
    "MAX_LABEL_VALUES",
    "Observer",
    "add_observer",
    "audit_event",
    "cache_lookup",
    "decrypt_failure",
    "observers",
    "on",
    "provider_call",
    "rate_limit_decision",
    "remove_observer",
    "timed",
]

log = logging.getLogger(__name__)
T = TypeVar("T")


class Observer:
    """Base class of observers: override the events you export (the rest are no-ops)."""

    def provider_call(
        self, provider: str, operation: str, seconds: float, error: str | None
    ) -> None:
        """A key-provider call finished (``error``: exception class name, or ``None``)."""

    def cache_lookup(self, kind: str, hit: bool) -> None:
        """The data-key cache answered a lookup (``kind``: ``encrypt`` or ``decrypt``)."""

    def decrypt_failure(self) -> None:
        """A message failed to decrypt."""

    def rate_limit_decision(self, algorithm: str, allowed: bool) -> None:
        """A rate limiter admitted (``allowed``) or rejected a request."""

    def audit_event(self, event_type: str, risk_level: str) -> None:
        """An audit record was written."""


#: Whether any observer is registered: the one check the hot paths make.
on: bool = False
_observers: tuple[Observer, ...] = ()
_lock = threading.Lock()
_warned: set[tuple[int, str]] = set()  # (id(observer), event) already warned about

#: Distinct values each reported name (event type, provider, error class...) may take; later
#: new values are reported as ``"other"``. Exporters turn them into metric labels, and every
#: distinct label value is a time series kept forever.
MAX_LABEL_VALUES = 200
_labels: dict[str, set[str]] = {}


def _label(kind: str, value: str) -> str:
    seen = _labels.get(kind)
    if seen is not None and value in seen:
        return value
    with _lock:
        seen = _labels.setdefault(kind, set())
        if value in seen or len(seen) < MAX_LABEL_VALUES:
            seen.add(value)
            return value
    return "other"


def add_observer(observer: Observer) -> Observer:
    """Register ``observer`` (idempotent); returns it."""
    global _observers, on
    with _lock:
        if observer not in _observers:
            _observers = (*_observers, observer)
        on = True
    return observer


def remove_observer(observer: Observer) -> None:
    """Unregister ``observer`` (no error if absent)."""
    global _observers, on
    with _lock:
        _observers = tuple(o for o in _observers if o is not observer)
        on = bool(_observers)
        _warned.difference_update({k for k in _warned if k[0] == id(observer)})
        if not _observers:  # nobody exports: forget the names seen (a new exporter starts afresh)
            _labels.clear()


def observers() -> tuple[Observer, ...]:
    """The registered observers."""
    return _observers


def _each(method: str, *args: Any) -> None:
    for o in _observers:
        try:
            getattr(o, method)(*args)
        except Exception:  # an exporter bug must not break encryption or a login
            _failed(o, method)


def _failed(o: Observer, method: str) -> None:
    # A broken exporter fails on every operation: one warning with the traceback, then DEBUG,
    # or the log would carry a traceback per encryption.
    key = (id(o), method)
    if key in _warned:
        log.debug("tigerseal observer %r failed in %s", o, method, exc_info=True)
        return
    with _lock:
        _warned.add(key)
    log.warning(
        "tigerseal observer %r failed in %s; further failures of this observer in %s are "
        "logged at DEBUG",
        o,
        method,
        method,
        exc_info=True,
    )


def provider_call(provider: str, operation: str, seconds: float, error: str | None) -> None:
    """Report a key-provider call."""
    _each(
        "provider_call",
        _label("provider", provider),
        _label("operation", operation),
        seconds,
        None if error is None else _label("error", error),
    )


def cache_lookup(kind: str, hit: bool) -> None:
    """Report a data-key cache lookup."""
    _each("cache_lookup", _label("cache", kind), hit)


def decrypt_failure() -> None:
    """Report a failed decryption."""
    _each("decrypt_failure")


def rate_limit_decision(algorithm: str, allowed: bool) -> None:
    """Report a rate-limit decision."""
    _each("rate_limit_decision", _label("algorithm", algorithm), allowed)


def audit_event(event_type: str, risk_level: str) -> None:
    """Report a written audit record."""
    _each("audit_event", _label("event_type", event_type), _label("risk_level", risk_level))


def timed(provider: KeyProvider, operation: str, fn: Callable[..., T], *args: Any) -> T:
    """Call ``fn(*args)`` and report it as ``operation`` of ``provider`` (duration, outcome).

    The envelope service calls providers through this only while an observer is registered.
    """
    start = time.perf_counter()
    try:
        result = fn(*args)
    except BaseException as exc:
        provider_call(provider.scheme, operation, time.perf_counter() - start, type(exc).__name__)
        raise
    provider_call(provider.scheme, operation, time.perf_counter() - start, None)
    return result

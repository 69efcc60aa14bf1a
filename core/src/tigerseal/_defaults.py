"""Process-wide defaults: one helper for every ``get_x()`` / ``set_x()`` / ``reset_x()`` trio.

tigerseal keeps a few objects per process (the settings, the default encryption service, the
password context, the token manager, the rate limiter, the auditor, the plugin registry ...).
Each is a :class:`ProcessDefault`: built on first :meth:`~ProcessDefault.get` (thread-safe,
built once), replaceable with :meth:`~ProcessDefault.set` (an explicit value sticks until
:meth:`~ProcessDefault.reset`), and forgotten with :meth:`~ProcessDefault.reset` (closing what
it held, if it owns resources). A default built *from the settings* passes ``source=`` and is
rebuilt when the settings object changes (after ``reset_settings()``), so one rule covers both
refresh behaviours the hand-written singletons had.

:func:`reset_defaults` resets every default of the process: tests call it between cases, and
an application may call it after changing its environment. After ``fork()`` the locks are
re-created in the child (a lock held by another thread at fork time would otherwise never be
released there); the values are kept, as a forked worker inherits its parent's configuration.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["ProcessDefault", "reset_defaults"]

T = TypeVar("T")

_ALL: list[ProcessDefault[object]] = []
_ALL_LOCK = threading.Lock()
_UNSET = object()


class ProcessDefault(Generic[T]):
    """One lazily built, process-wide value.

    Args:
        name: what it is, for ``repr`` (``"encryption service"``).
        factory: builds the value on first use.
        close: called with a value that :meth:`reset` forgets (not with one that :meth:`set`
            replaces: the caller installed it and still owns it).
        source: optional; returns the object the value is built from (the settings). When it
            returns another object than at build time, the value is rebuilt. An explicit
            :meth:`set` value is never rebuilt.
        with_reset_defaults: whether :func:`reset_defaults` resets it (``False`` for what is
            not derived from configuration, such as the plugin registry: the plugins a test
            suite registered must survive a reset of the settings).
    """

    __slots__ = (
        "_close",
        "_explicit",
        "_factory",
        "_lock",
        "_source",
        "_source_of",
        "_value",
        "name",
        "with_reset_defaults",
    )

    def __init__(
        self,
        name: str,
        factory: Callable[[], T],
        *,
        close: Callable[[T], None] | None = None,
        source: Callable[[], object] | None = None,
        with_reset_defaults: bool = True,
    ) -> None:
        self.name = name
        self.with_reset_defaults = with_reset_defaults
        self._factory = factory
        self._close = close
        self._source = source
        self._lock = threading.Lock()
        self._value: T | None = None
        self._source_of: object = _UNSET
        self._explicit = False
        with _ALL_LOCK:
            _ALL.append(self)  # type: ignore[arg-type]

    def get(self) -> T:
        """The value, built on first use (and rebuilt when ``source`` changed)."""
        value = self._value
        if value is not None and (self._explicit or self._source is None):
            return value
        src = self._source() if self._source is not None else None
        if value is not None and src is self._source_of:
            return value
        with self._lock:
            if self._value is None or (not self._explicit and src is not self._source_of):
                self._value = self._factory()
                self._source_of = src
            return self._value

    def peek(self) -> T | None:
        """The value if one is built or set, without building it."""
        return self._value

    def set(self, value: T | None) -> T | None:
        """Install ``value`` for the whole process (``None``: back to the factory).

        Returns:
            The previous value (not closed: the caller decides).
        """
        with self._lock:
            previous, self._value = self._value, value
            self._explicit = value is not None
            self._source_of = _UNSET
        return previous

    def reset(self) -> None:
        """Forget the value (closing it if a ``close`` was given); rebuilt on next use."""
        previous = self.set(None)
        if previous is not None and self._close is not None:
            self._close(previous)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        state = "explicit" if self._explicit else "built" if self._value is not None else "unset"
        return f"<ProcessDefault {self.name} ({state})>"


def reset_defaults() -> None:
    """Reset every process-wide default tigerseal keeps (settings, services, caches).

    What each held is closed where it owns resources (the encryption service's providers, the
    auditor's sinks, the rate limiter's storage); everything is rebuilt from the environment on
    next use. Values installed with ``set_*()`` are forgotten too. The plugin registry is not
    reset (plugins are code, not configuration; ``tigerseal.plugins.set_registry(None)``).
    """
    with _ALL_LOCK:
        defaults = [d for d in _ALL if d.with_reset_defaults]
    # Most recently registered first: a default built on others is usually registered after them.
    for default in reversed(defaults):
        default.reset()


def _after_fork_in_child() -> None:
    global _ALL_LOCK
    _ALL_LOCK = threading.Lock()
    for default in _ALL:
        default._after_fork()


if hasattr(os, "register_at_fork"):  # pragma: no branch - POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)

"""The two bounded thread pools behind :mod:`tigerseal.aio`.

* **I/O pool** (``TIGERSEAL_AIO_IO_THREADS``, default 10): blocking calls to network key
  providers (AWS KMS, Vault, PKCS#11) and other blocking stores without an async client.
  Ten matches botocore's connection pool (``max_pool_connections=10``): with more threads,
  KMS calls beyond ten open a connection (a TLS handshake) and throw it away afterwards.
  tigerseal-vault keeps connections per thread, so a larger pool costs it nothing but
  connections to Vault.
* **Hash pool** (``TIGERSEAL_AIO_HASH_THREADS``, default: the number of CPU cores): password
  hashing, which burns a core for tens of milliseconds. Its own pool, so a burst of logins
  queues here and cannot starve the event loop's default executor (``asyncio.to_thread``),
  which the host application uses for its own blocking work.

The sizes are settings (:class:`tigerseal.config.Settings` fields ``aio_io_threads`` and
``aio_hash_threads``, validated there, read from the environment or the settings' dotenv
file). Both pools are created on first use (again in a forked child: the parent's pool
threads do not survive a fork); :func:`configure` resizes them (before first use, or it
replaces them: running tasks finish on the old pool). Submitted work queues without bound
behind the busy threads, as ``asyncio.to_thread`` does; apply back-pressure upstream (a rate
limit, a server concurrency limit).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from tigerseal.config._constants import DEFAULT_AIO_IO_THREADS, MAX_AIO_THREADS
from tigerseal.errors import ConfigError

__all__ = [
    "DEFAULT_IO_THREADS",
    "ENV_HASH_THREADS",
    "ENV_IO_THREADS",
    "configure",
    "pool_sizes",
    "run_hash",
    "run_io",
    "run_io_to_completion",
    "shutdown",
]

P = ParamSpec("P")
T = TypeVar("T")

#: Default size of the I/O pool (botocore's and requests' default connection-pool size).
DEFAULT_IO_THREADS = DEFAULT_AIO_IO_THREADS
ENV_IO_THREADS = "TIGERSEAL_AIO_IO_THREADS"
ENV_HASH_THREADS = "TIGERSEAL_AIO_HASH_THREADS"
_MAX_THREADS = MAX_AIO_THREADS

_lock = threading.Lock()
_io: ThreadPoolExecutor | None = None
_hash: ThreadPoolExecutor | None = None
_sizes: dict[str, int | None] = {"io": None, "hash": None}


def _size(kind: str) -> int:
    """The size chosen by :func:`configure`, else the settings' (one place reads them)."""
    chosen = _sizes[kind]
    if chosen is not None:
        return chosen
    from tigerseal.config._env import aio_threads

    if kind == "io":
        return aio_threads("aio_io_threads") or DEFAULT_AIO_IO_THREADS
    return aio_threads("aio_hash_threads") or _cores()


def _after_fork_in_child() -> None:
    """Forget the parent's pools in a forked child (gunicorn ``--preload``, multiprocessing).

    A child inherits the executor objects but none of their threads: an inherited pool that
    already had all its threads would queue work that no thread ever runs. The child builds
    its own pools on first use, and a lock the parent held at fork time is not inherited held.
    """
    global _io, _hash, _lock
    _lock = threading.Lock()
    _io = _hash = None


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _check(name: str, value: object) -> int:
    if value.__class__ is not int or not 1 <= value <= _MAX_THREADS:
        raise ConfigError(f"{name} must be a whole number of threads from 1 to {_MAX_THREADS}")
    return value


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


def _io_pool() -> ThreadPoolExecutor:
    global _io
    pool = _io
    if pool is None:
        with _lock:
            if _io is None:
                _io = ThreadPoolExecutor(
                    _size("io"),
                    thread_name_prefix="tigerseal-aio-io",
                )
            pool = _io
    return pool


def _hash_pool() -> ThreadPoolExecutor:
    global _hash
    pool = _hash
    if pool is None:
        with _lock:
            if _hash is None:
                _hash = ThreadPoolExecutor(
                    _size("hash"),
                    thread_name_prefix="tigerseal-aio-hash",
                )
            pool = _hash
    return pool


def configure(*, io_threads: int | None = None, hash_threads: int | None = None) -> None:
    """Set the pool sizes (overrides the environment variables).

    Call it at start-up. A pool already created is replaced; work already submitted to it
    finishes there.

    Raises:
        ConfigError: a size is not a whole number from 1 to 256.
    """
    global _io, _hash
    old: list[ThreadPoolExecutor] = []
    with _lock:
        if io_threads is not None:
            _sizes["io"] = _check("io_threads", io_threads)
            if _io is not None:
                old.append(_io)
                _io = None
        if hash_threads is not None:
            _sizes["hash"] = _check("hash_threads", hash_threads)
            if _hash is not None:
                old.append(_hash)
                _hash = None
    for pool in old:
        pool.shutdown(wait=False)


def pool_sizes() -> dict[str, int]:
    """The sizes the pools have (or will have when first used): ``{"io": n, "hash": m}``."""
    return {
        "io": _io._max_workers if _io is not None else _size("io"),
        "hash": _hash._max_workers if _hash is not None else _size("hash"),
    }


def shutdown(wait: bool = True) -> None:
    """Stop both pools (they are created again on next use). For tests and clean exits."""
    global _io, _hash
    with _lock:
        pools = [p for p in (_io, _hash) if p is not None]
        _io = _hash = None
    for pool in pools:
        pool.shutdown(wait=wait)


async def _run(
    pool: ThreadPoolExecutor, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs
) -> T:
    loop = asyncio.get_running_loop()
    # Like asyncio.to_thread: the call sees the caller's context variables.
    call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
    return await loop.run_in_executor(pool, call)


async def run_io(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a blocking I/O call (a key provider, a store without an async client) in the I/O pool."""
    return await _run(_io_pool(), fn, *args, **kwargs)


async def run_io_to_completion(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """:func:`run_io` for writes that must happen: cancelling the caller does not cancel them.

    A plain executor call still queued when its awaiting task is cancelled (a client that
    disconnects, a request timeout) is dropped. For an audit record or a revocation that
    would let the client decide what is recorded; here the call runs anyway and the caller
    alone is cancelled.
    """
    loop = asyncio.get_running_loop()
    call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
    future = loop.run_in_executor(_io_pool(), call)
    # Nobody may await it after a cancellation: retrieve its outcome so that a failure is
    # not reported as "exception was never retrieved" (the sync call logs/raises its own).
    future.add_done_callback(lambda f: f.cancelled() or f.exception())
    return await asyncio.shield(future)


async def run_hash(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a CPU-heavy call (password hashing) in the hash pool, off the event loop."""
    return await _run(_hash_pool(), fn, *args, **kwargs)

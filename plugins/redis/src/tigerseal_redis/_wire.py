"""The hot path of a rate-limit decision: a pre-packed ``EVALSHA`` on a thread's own connection.

redis-py's generic path costs about as much client time as the round trip it wraps: it packs
every argument (type checks, encoding), takes a connection from the pool (a lock and a
``poll()`` to check the socket is idle), and runs retry and observability wrappers. A decision
here instead

* sends bytes built mostly in advance (the command, the script's SHA and the policy's numbers
  are packed once per policy; only the key, cost, time and tag are packed per call), and
* keeps one pool connection per thread (released to the pool when the thread ends), so
  connection set-up, AUTH, TLS and Sentinel discovery stay redis-py's.

Only plain ``redis.Redis`` clients take this path; cluster clients use ``execute_command``.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any

__all__ = ["PinnedConnections", "bulk", "command"]


def bulk(value: bytes) -> bytes:
    """One RESP bulk string."""
    return b"$%d\r\n%s\r\n" % (len(value), value)


def command(*args: bytes) -> bytes:
    """A whole RESP command (used for the constant parts of a decision)."""
    return b"*%d\r\n" % len(args) + b"".join(bulk(a) for a in args)


class _Pin:
    __slots__ = ("__weakref__", "conn", "pid")

    def __init__(self, conn: Any, pid: int) -> None:
        self.conn = conn
        self.pid = pid


class PinnedConnections:
    """One connection from ``pool`` per thread (and per process, after a fork)."""

    def __init__(self, pool: Any, response_error: type[BaseException]) -> None:
        self._pool = pool
        self._local = threading.local()
        self._response_error = response_error

    def _conn(self) -> Any:
        pin: _Pin | None = getattr(self._local, "pin", None)
        pid = os.getpid()
        if pin is None or pin.pid != pid:
            conn = self._pool.get_connection()
            pin = _Pin(conn, pid)
            # The thread-local dies with its thread; the connection then goes back to the pool.
            weakref.finalize(pin, self._pool.release, conn)
            self._local.pin = pin
        return pin.conn

    def call(self, payload: bytes) -> Any:
        """Send one packed command and return its parsed reply (errors raised as redis-py's)."""
        conn = self._conn()
        try:
            conn.send_packed_command([payload], check_health=False)
            return conn.read_response()
        except BaseException as exc:
            if not isinstance(exc, self._response_error):
                # A reply may still be in flight: start the next call on a fresh socket.
                conn.disconnect()
            raise

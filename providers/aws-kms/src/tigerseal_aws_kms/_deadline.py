"""One deadline per provider operation, across alias resolution, calls, retries and backoff.

botocore bounds each *attempt* (``connect_timeout`` + ``read_timeout``) and retries up to
``max_attempts`` with backoff, per *call*; an operation may make several calls (``DescribeKey``
for an alias, then ``Decrypt``). Against a hung endpoint the product grew to a minute. Here:

* :func:`scope` starts a deadline for the operation in this thread (nested scopes share the
  outermost one: ``rewrap`` -> ``unwrap`` + ``wrap``).
* :func:`may_start_call` refuses to start a call whose first attempt could not finish in time.
* :func:`install` registers a ``needs-retry`` hook, first in line, on each KMS client: when the
  worst case of another attempt (its timeouts plus botocore's largest backoff before it) no
  longer fits, it stops the retries by raising :class:`DeadlineStop` carrying the last
  outcome, which the provider maps like any other failure.

So an operation takes at most ``deadline`` seconds (adaptive mode's client-side rate limiter
may add its own wait before an attempt; that is not bounded here).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

__all__ = ["DeadlineStop", "install", "remaining", "scope"]

_local = threading.local()

#: botocore's standard retry backoff: random() * 2 ** (attempt - 1), at most 20 s.
_MAX_BACKOFF = 20.0
_HOOK_ID = "tigerseal-aws-kms-deadline"


class DeadlineStop(Exception):
    """Raised from the retry hook: no further attempt fits in the operation's deadline."""

    def __init__(self, response: Any, caught: BaseException | None) -> None:
        super().__init__("deadline reached")
        self.response = response
        self.caught = caught


@contextlib.contextmanager
def scope(seconds: float, attempt_cost: float) -> Iterator[None]:
    """Run an operation under a deadline of ``seconds`` (the outer scope wins when nested).

    Args:
        seconds: the operation's total budget.
        attempt_cost: worst case of one attempt (connect + read timeout).
    """
    if getattr(_local, "deadline", None) is not None:
        yield
        return
    _local.deadline = time.monotonic() + seconds
    _local.attempt_cost = attempt_cost
    _local.started = False
    try:
        yield
    finally:
        _local.deadline = None


def remaining() -> float | None:
    """Seconds left in this thread's operation (``None`` outside a scope)."""
    deadline = getattr(_local, "deadline", None)
    return None if deadline is None else deadline - time.monotonic()


def may_start_call() -> bool:
    """Whether a call may start in this operation.

    The first always may (the deadline is at least one attempt long); a later one only if the
    worst case of its first attempt still fits.
    """
    left = remaining()
    if left is None or not _local.started:
        _local.started = True
        return True
    return bool(left >= _local.attempt_cost)


def _needs_retry(
    attempts: int, response: Any = None, caught_exception: BaseException | None = None, **_: Any
) -> None:
    left = remaining()
    if left is None:
        return None
    if caught_exception is None and response is not None:
        status = getattr(response[0], "status_code", 500)
        if status < 300:
            return None  # success: botocore does not retry
    backoff = min(_MAX_BACKOFF, 2.0 ** (attempts - 1))
    if left < backoff + _local.attempt_cost:
        raise DeadlineStop(response, caught_exception)
    return None  # let botocore's own retry policy decide


def install(client: Any) -> None:
    """Register the deadline hook on ``client`` (idempotent; inert outside a :func:`scope`)."""
    events = client.meta.events
    events.register_first("needs-retry.kms", _needs_retry, unique_id=_HOOK_ID)

"""Exit statuses of the ``tigerseal`` command: one table, one function (docs/cli.md).

Scripts branch on these, so each kind of failure has its own code and a code never changes
meaning. ``classify`` is the only place that maps an exception to a status.
"""

from __future__ import annotations

import errno
from enum import IntEnum

import click

from tigerseal._text import escape_control
from tigerseal.errors import (
    AuditIntegrityError,
    ConfigError,
    DecryptionError,
    KeyProviderError,
    PasswordError,
    ProviderUnavailable,
    RateLimitExceeded,
    TokenError,
)

__all__ = ["ExitCode", "IOFailure", "UsageFailure", "classify", "io_failure"]


class ExitCode(IntEnum):
    """What a ``tigerseal`` exit status means."""

    OK = 0
    #: The command ran and its answer is "no": a verify failed, `doctor` found a FAIL, a
    #: `--dry-run` found work to do, a retire was refused.
    CHECK_FAILED = 1
    #: Bad arguments or options, an output file that exists without --force, binary data
    #: for a terminal, a malformed stored hash or a password the policy refuses.
    USAGE = 2
    #: Authentication or integrity: a tampered or truncated message, wrong key or context,
    #: an invalid/expired/revoked token, a broken audit chain.
    AUTH = 3
    #: Configuration: unknown provider, bad setting, missing plugin, key not found or access
    #: denied by the key store.
    CONFIG = 4
    #: A key store or service is unreachable or timed out: retrying later may succeed.
    UNAVAILABLE = 5
    #: Reading or writing a file failed (missing, a directory, permissions, disk full).
    IO = 6
    #: Rate limit exceeded: retry after the time given in the message.
    RATE_LIMITED = 7
    #: Interrupted by SIGINT.
    INTERRUPTED = 130


# Most specific first: KeyVersionRetired is both a KeyProviderError and a DecryptionError.
_TABLE: tuple[tuple[type[BaseException], ExitCode], ...] = (
    (ProviderUnavailable, ExitCode.UNAVAILABLE),
    (DecryptionError, ExitCode.AUTH),
    (TokenError, ExitCode.AUTH),
    (AuditIntegrityError, ExitCode.AUTH),
    (PasswordError, ExitCode.USAGE),
    (RateLimitExceeded, ExitCode.RATE_LIMITED),
    (ConfigError, ExitCode.CONFIG),
    (KeyProviderError, ExitCode.CONFIG),
)


def classify(exc: BaseException) -> ExitCode:
    """The exit status for an exception that ends a command."""
    if isinstance(exc, click.ClickException):
        known = exc.exit_code in ExitCode._value2member_map_
        return ExitCode(exc.exit_code) if known else ExitCode.USAGE
    for kind, code in _TABLE:
        if isinstance(exc, kind):
            return code
    if isinstance(exc, OSError) or isinstance(exc.__cause__, OSError):
        # Also a tigerseal error raised because of a file (an audit trail that cannot be read).
        return ExitCode.IO
    # Any other tigerseal error (password policy, audit write, ...) and anything unexpected.
    return ExitCode.CHECK_FAILED


class _Failure(click.ClickException):
    """A failure the user can fix, shown as one ``error:`` line like tigerseal's own errors."""

    def show(self, file: object = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


class UsageFailure(_Failure):
    """The command line asks for something unsafe or impossible (exit 2)."""

    exit_code = ExitCode.USAGE


class IOFailure(_Failure):
    """A file could not be read or written (exit 6)."""

    exit_code = ExitCode.IO


def io_failure(action: str, path: str, exc: OSError, *, note: str = "") -> IOFailure:
    """``cannot read PATH: No such file or directory`` — the path escaped, no traceback."""
    reason = exc.strerror or errno.errorcode.get(exc.errno or 0) or type(exc).__name__
    shown = "stdin" if path == "-" and action == "read" else escape_control(path, limit=300)
    return IOFailure(f"cannot {action} {shown}: {reason}{note}")

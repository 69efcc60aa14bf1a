"""``tigerseal encrypt|decrypt|inspect|rewrap``: files and pipes, in constant memory."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import io
import json
import os
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO, cast

import click

from tigerseal import _files
from tigerseal._text import escape_control
from tigerseal.cli._exit import IOFailure, UsageFailure, io_failure
from tigerseal.errors import (
    DecryptionError,
    EncryptionError,
    TigerSealError,
    TrailingDataError,
)

if TYPE_CHECKING:
    from tigerseal.envelope import EncryptionService
    from tigerseal.envelope._format import Header

__all__ = ["decrypt", "encrypt", "inspect", "rewrap"]


def _parse_context(pairs: tuple[str, ...]) -> dict[str, str]:
    context: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not key=value", param_hint="-c/--context")
        if key in context:
            raise click.BadParameter(f"context key {key!r} given twice", param_hint="-c")
        context[key] = value
    return context


context_option = click.option(
    "-c",
    "--context",
    "context",
    multiple=True,
    metavar="KEY=VALUE",
    help="Encryption context pair (repeatable); decryption needs the same pairs.",
)


@contextlib.contextmanager
def _open_in(path: str) -> Iterator[BinaryIO]:
    if path == "-":
        # Unbuffered: BufferedReader fills a large read with several read() calls in C, and a
        # signal landing between two of them waits until the pipe delivers more data. One
        # read() per call returns to Python, which runs the cleanup handler at once.
        raw = getattr(sys.stdin.buffer, "raw", None)
        yield cast("BinaryIO", raw) if isinstance(raw, io.FileIO) else sys.stdin.buffer
        return
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise io_failure("read", path, exc) from None
    with f:
        yield _progress(f, path) if _wants_progress(f) else f


#: Inputs smaller than this finish before a progress bar would be worth drawing.
_PROGRESS_MIN = 4 << 20


def _wants_progress(f: BinaryIO) -> bool:
    """A bar only for big regular files, and only when stderr is a terminal (never in logs)."""
    try:
        st = os.fstat(f.fileno())
    except (OSError, ValueError):
        return False
    return stat.S_ISREG(st.st_mode) and st.st_size >= _PROGRESS_MIN and sys.stderr.isatty()


def _progress(f: BinaryIO, path: str) -> BinaryIO:
    size = os.fstat(f.fileno()).st_size
    bar = click.progressbar(length=size, label=escape_control(Path(path).name), file=sys.stderr)
    return cast("BinaryIO", _ProgressReader(f, bar))


class _ProgressReader:
    """Counts bytes read into a click progress bar; closes the bar with the file."""

    def __init__(self, f: BinaryIO, bar: Any) -> None:
        self._f = f
        self._bar = bar
        bar.__enter__()

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        self._bar.update(len(data))
        if not data:
            self._bar.render_finish()
        return data

    def readinto(self, buf: Any) -> int:
        got: int = getattr(self._f, "readinto")(buf)  # noqa: B009 - BinaryIO lacks it in typeshed
        self._bar.update(got or 0)
        return got

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)


@contextlib.contextmanager
def _atomic_out(path: str, *, force: bool = False) -> Iterator[BinaryIO]:
    """Write to ``path`` through a temporary file renamed over it only on success.

    An existing ``path`` is replaced only with ``force``; without it the file is linked into
    place (``link`` fails if the name exists), so a file created meanwhile is not clobbered
    either.

    The temporary file is ``.<name>.ts<pid>-<hex>.part`` (mode 0600): removed on errors and on
    SIGTERM/SIGINT/SIGHUP, and swept by the next run in that directory after ``kill -9``.
    ``-`` writes straight to stdout; callers decide what may go there before authentication.
    """
    if path == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    target = Path(path)
    if not force and os.path.lexists(target):
        raise _exists(path)
    try:
        fd, tmp = _files.create_temp(target, "part")
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as f:
            yield cast("BinaryIO", _OutFile(f, path))
            try:
                f.flush()
                os.fsync(f.fileno())
            except OSError as exc:
                raise _cannot_write(path, exc) from None
        try:
            if force:
                os.replace(tmp, target)
            else:
                os.link(tmp, target)
                os.unlink(tmp)
        except FileExistsError:
            raise _exists(path) from None
        except OSError as exc:
            raise _cannot_write(path, exc) from None
        _files.kept(tmp)
    except BaseException:
        _files.discard(tmp)
        raise
    try:
        # The new name lives in the directory: without this a crash can lose the whole output
        # although the file's bytes were synced.
        _files.fsync_dir(target.parent.absolute())
    except OSError as exc:
        raise io_failure("sync the directory of", path, exc) from None


class _OutFile:
    """The temporary output file: a failed write (full disk, quota) names the output."""

    def __init__(self, f: BinaryIO, path: str) -> None:
        self._f = f
        self._path = path

    def write(self, data: bytes | bytearray | memoryview) -> int:
        try:
            return self._f.write(data)
        except OSError as exc:
            raise _cannot_write(self._path, exc) from None


def _cannot_write(path: str, exc: OSError) -> IOFailure:
    return io_failure("write", path, exc, note=" (nothing was written there)")


def _exists(path: str) -> UsageFailure:
    return UsageFailure(
        f"{escape_control(path, limit=300)} already exists; pass --force to replace it"
    )


force_option = click.option(
    "-f", "--force", is_flag=True, help="Replace the output file if it exists."
)


class _StdoutFrames:
    """Stdout for verified frames: flushed at each write, so a reader sees a frame at once.

    On a terminal, plaintext holding control characters other than tab/newline is refused
    before it is written: escape sequences in decrypted data could rewrite the screen or the
    window title, and binary data garbles the terminal.
    """

    def __init__(self) -> None:
        self.written = 0
        self._tty = sys.stdout.isatty()

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._tty and _unprintable(bytes(data)):
            raise UsageFailure(
                "refusing to write decrypted binary data or control characters to a "
                "terminal: use -o FILE or redirect stdout"
                + (f" ({self.written} bytes were already written)" if self.written else "")
            )
        out = sys.stdout.buffer
        out.write(data)
        out.flush()
        self.written += len(data)
        return len(data)


_CONTROL = bytes(c for c in range(32) if c not in (9, 10, 13)) + b"\x7f"


def _unprintable(data: bytes) -> bool:
    if any(c in data for c in _CONTROL):
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character split at a frame boundary is still text.
        return exc.start < len(data) - 3 or exc.reason != "unexpected end of data"
    return False


def _service() -> EncryptionService:
    from tigerseal.envelope import get_encryption_service

    return get_encryption_service()


input_argument = click.argument(
    "src",
    default="-",
    metavar="[INPUT]",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=str),
)
output_option = click.option(
    "-o",
    "--output",
    default="-",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=str),
    help="Output file (default: stdout). An existing file needs --force.",
)


@click.command()
@input_argument
@output_option
@context_option
@click.option(
    "--text",
    is_flag=True,
    help="Write the compact 'ts1.' text form (single-shot; reads the input into memory).",
)
@force_option
def encrypt(src: str, output: str, context: tuple[str, ...], text: bool, force: bool) -> None:
    """Encrypt INPUT (a file, or - for stdin) with the configured key providers."""
    ctx = _parse_context(context)
    if output == "-" and not text and sys.stdout.isatty():
        raise UsageFailure(
            "refusing to write a binary message to a terminal: use -o FILE, --text, or "
            "redirect stdout"
        )
    svc = _service()
    with _open_in(src) as fin, _atomic_out(output, force=force) as fout:
        if text:
            fout.write(str(svc.encrypt(fin.read(), ctx)).encode() + b"\n")
        else:
            svc.encrypt_stream(fin, fout, ctx)


@click.command()
@input_argument
@output_option
@context_option
@force_option
def decrypt(src: str, output: str, context: tuple[str, ...], force: bool) -> None:
    """Decrypt INPUT (binary, 'ts1.' text or JSON form; a file or - for stdin).

    \b
    What is verified before output appears:
    * -o FILE: plaintext goes to a temporary file (mode 0600) that is renamed to FILE only
      after the whole message authenticated; it is removed on failure and on SIGTERM, SIGINT
      or SIGHUP, and after kill -9 by the next tigerseal run writing in that directory.
    * stdout, framed messages (written by `encrypt`): each frame is written as soon as that
      frame authenticated. Truncation (a missing final frame) and appended data are only
      detected at the end, with exit status 2: after truncation what was written is an
      authentic but incomplete prefix; with data appended after the final frame it is the
      complete authentic message, but the input was tampered with. Check the exit status,
      or use -o FILE for all-or-nothing.
    * stdout, single-shot messages ('ts1.' text, JSON, `encrypt --text`): held in memory
      and written only after the whole message authenticated.
    Nothing is spooled to a temporary file for stdout. On a terminal, plaintext with
    control characters (escape sequences, binary data) is refused: use -o FILE or a pipe.
    """  # noqa: D301 - click's \b keeps the layout
    from tigerseal.envelope._format import CONTENT_FRAMED, MAX_HEADER_SIZE, parse_header
    from tigerseal.envelope._stream import Prefixed, read_up_to

    ctx = _parse_context(context)
    svc = _service()
    with _open_in(src) as fin:
        first = read_up_to(fin, 4)
        if first[:3] != b"TSL":
            # Text and JSON forms are single-shot: decrypted whole, in memory.
            plain = svc.decrypt(_files.parse_message_file(first + fin.read()), ctx)
            if output == "-":
                _StdoutFrames().write(plain)
            else:
                with _atomic_out(output, force=force) as fout:
                    fout.write(plain)
            return
        if output != "-":
            with _atomic_out(output, force=force) as fout:
                svc.decrypt_stream(Prefixed(first, fin), fout, ctx)  # type: ignore[arg-type]
            return
        head = first + read_up_to(fin, MAX_HEADER_SIZE - len(first))
        reader = Prefixed(head, fin)
        if parse_header(head).content_type != CONTENT_FRAMED:
            buf = io.BytesIO()
            svc.decrypt_stream(reader, buf, ctx)  # type: ignore[arg-type]
            _StdoutFrames().write(buf.getbuffer())
            return
        frames = _StdoutFrames()
        try:
            svc.decrypt_stream(reader, frames, ctx)  # type: ignore[arg-type]
        except DecryptionError as exc:
            if not frames.written:
                raise
            if isinstance(exc, TrailingDataError):
                # The final frame authenticated: the output is whole, the input was extended.
                raise TrailingDataError(
                    f"{exc}; the {frames.written} bytes written to stdout are the complete "
                    "authentic message, but the input has extra bytes appended: treat it as "
                    "tampered"
                ) from None
            raise DecryptionError(
                f"{exc}; the {frames.written} bytes already written to stdout were authentic "
                "but are incomplete: discard them"
            ) from None


def _read_header_bytes(f: IO[bytes]) -> bytes:
    from tigerseal.envelope._format import MAX_HEADER_SIZE

    head = f.read(MAX_HEADER_SIZE)
    if head[:3] != b"TSL":
        # Text or JSON forms: small by nature, read them whole.

        return bytes(_files.parse_message_file(head + f.read()))
    return head


@click.command()
@click.argument("src", default="-", metavar="[INPUT]")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def inspect(src: str, as_json: bool) -> None:
    """Show a message's header (providers, key versions, context, sizes) without decrypting."""
    from tigerseal._text import escape_control
    from tigerseal.envelope._format import parse_header
    from tigerseal.envelope._service import key_section_report

    with _open_in(src) as fin:
        head = _read_header_bytes(fin)
        h = parse_header(head)
        total = len(head) + sum(len(c) for c in iter(lambda: fin.read(1 << 20), b""))
    section = key_section_report(h)
    info = {
        "format": "tigerseal/1",
        "content_type": "framed" if h.frame_size else "single",
        "frame_size": h.frame_size,
        "message_id": h.message_id.hex(),
        "context": h.context,
        "wrapped_keys": [
            {"provider": w.provider, "key_id": w.key_id, "key_version": w.key_version}
            for w in h.wrapped_keys
        ],
        "key_section": section,
        "header_size": h.size,
        "total_size": total,
    }
    if as_json:
        click.echo(json.dumps(info, indent=2, sort_keys=True))
        return
    click.echo(f"format:       tigerseal/1 ({info['content_type']})")
    if h.frame_size:
        click.echo(f"frame size:   {h.frame_size} bytes")
    click.echo(f"message id:   {info['message_id']}")
    click.echo(f"size:         {total} bytes (header {h.size})")
    click.echo(
        "context:      " + (json.dumps(h.context, sort_keys=True) if h.context else "(none)")
    )
    for w in h.wrapped_keys:
        # Provider names and key ids come from the file: escaped so they cannot forge lines.
        name = escape_control(f"{w.provider}:{w.key_id}")
        click.echo(f"wrapped key:  {name} version {w.key_version}")
    if not section["manifest"]:
        click.echo("key section:  no manifest (written before manifests; removals undetectable)")
    elif section["problem"]:
        click.echo(f"key section:  PROBLEM: {escape_control(str(section['problem']))}")
    else:
        click.echo(f"key section:  {section['present']} of {section['written']} copies, as written")


# -- rewrap ---------------------------------------------------------------------------------------
_CHUNK = 1 << 20
#: Files per provider round trip (Vault/HSM batch APIs); also bounds memory for text forms.
_BATCH = 256
#: How often a file that changed under us is read again before it is reported.
_ATTEMPTS = 3
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK

_Ident = tuple[int, int, int, int, int]


def _before_replace(path: Path) -> None:
    """Seam for tests: runs after the new copy is written, before the last check and rename."""


class _Changed(Exception):
    """The file changed since it was read: another process writes it."""


class _Unusable(Exception):
    """The file looks like tigerseal output but cannot be handled (message says why)."""


@dataclass
class _Entry:
    path: Path
    ident: _Ident  # device, inode, size, mtime, ctime when read
    form: str  # "binary", "text" or "json"
    header: Header
    raw: bytes  # binary: the first bytes read (the header); text/json: the whole file
    message: bytes = b""  # text/json: the decoded binary message


def _ident(st: os.stat_result) -> _Ident:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _read_entry(path: Path) -> _Entry | None:
    """Read what rewrap needs from ``path``; ``None`` when it is not tigerseal output."""
    from tigerseal.envelope._format import parse_header

    with open(os.open(path, _READ_FLAGS), "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            return None
        form, raw = _files.read_message_file(f)
        if form is None:
            return None
        if form == "binary":
            try:
                header = parse_header(raw)
            except DecryptionError as exc:
                raise _Unusable(f"starts like a binary tigerseal message but: {exc}") from None
            return _Entry(path, _ident(st), "binary", header, raw)
    try:
        ed = _files.parse_message_file(raw)
    except DecryptionError as exc:
        raise _Unusable(f"looks like a tigerseal {form} message but: {exc}") from None
    return _Entry(path, _ident(st), form, ed.header, raw, bytes(ed))


def _new_content(e: _Entry, new_head: bytes) -> bytes:
    """The text/JSON file content for the rewrapped message, in the file's own form."""
    from tigerseal.envelope import EncryptedData

    ed = EncryptedData(new_head + e.message[e.header.size :])
    lead, body, trail = _files.split_message_file(e.raw)
    if e.form == "text":
        return lead + str(ed).encode() + trail
    obj = json.loads(body)
    obj.update(ed.to_dict())  # keeps members of its own the file may have
    pretty = b"\n" in body
    out = json.dumps(
        obj,
        indent=2 if pretty else None,
        separators=None if pretty else (",", ":"),
        ensure_ascii=body.isascii(),  # a file jq or an editor wrote in UTF-8 stays UTF-8
    )
    return lead + out.encode() + trail


def _digest(path: Path) -> bytes:
    h = hashlib.sha256()
    with open(os.open(path, _READ_FLAGS), "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.digest()


def _keep_owner_and_mode(fd: int, st: os.stat_result, path: Path) -> None:
    mine = os.fstat(fd)
    if (mine.st_uid, mine.st_gid) != (st.st_uid, st.st_gid):
        try:
            os.fchown(fd, st.st_uid, st.st_gid)
        except PermissionError:
            raise _Unusable(
                f"cannot keep its owner {st.st_uid}:{st.st_gid} (rewrap replaces the file); run "
                "tigerseal rewrap as that user or as root"
            ) from None
    os.fchmod(fd, stat.S_IMODE(st.st_mode))


@dataclass
class _Copy:
    entry: _Entry
    tmp: Path
    fd: int  # open until fsynced
    digest: bytes  # SHA-256 of the original bytes copied


def _copy(e: _Entry, new_head: bytes) -> _Copy:
    """Write the rewrapped copy of ``e`` to a temporary file (not yet fsynced).

    Raises:
        _Changed: the file is not the one read (inode, size, times or header).
    """
    from tigerseal.envelope._stream import read_up_to

    with open(os.open(e.path, _READ_FLAGS), "rb") as f:
        st = os.fstat(f.fileno())
        if _ident(st) != e.ident:
            raise _Changed
        if st.st_nlink > 1:
            # The rename would give this name a new file and leave the other names on the old
            # key version, where a retire of that version loses them.
            raise _Unusable(
                f"has {st.st_nlink} hard links; rewrap replaces the file, which would leave the "
                "other names on the old key version: break the links (copy the file and move the "
                "copy over this name, or remove the other names), then run tigerseal rewrap again"
            )
        digest = hashlib.sha256()
        fd, tmp = _files.create_temp(e.path, "part")
        try:
            out = os.fdopen(fd, "wb", closefd=False)
            with out:
                if e.form == "binary":
                    head = read_up_to(f, e.header.size)
                    if head != e.raw[: e.header.size]:
                        raise _Changed
                    digest.update(head)
                    out.write(new_head)
                    for chunk in iter(lambda: f.read(_CHUNK), b""):
                        digest.update(chunk)
                        out.write(chunk)
                else:
                    raw = f.read()
                    if raw != e.raw:
                        raise _Changed
                    digest.update(raw)
                    out.write(_new_content(e, new_head))
            _keep_owner_and_mode(fd, st, e.path)
        except BaseException:
            os.close(fd)
            _files.discard(tmp)
            raise
    return _Copy(e, tmp, fd, digest.digest())


def _sync_all(copies: list[_Copy]) -> None:
    """Make the copies durable, concurrently.

    The filesystem then commits them in a few journal commits instead of one per file, which is
    what a one-at-a-time loop costs on 1,000 small files.
    """
    if len(copies) <= 1:
        for c in copies:
            os.fsync(c.fd)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(16, len(copies))) as pool:
        list(pool.map(os.fsync, [c.fd for c in copies]))


def _commit(c: _Copy) -> None:
    """Rename the fsynced copy over its file if the file is still the one read.

    Raises:
        _Changed: it is not (inode, size, times or a hash of all its bytes differ).
    """
    e = c.entry
    try:
        _before_replace(e.path)
        # The last check: same inode, size and times, same bytes as what was copied. What is
        # left is the few system calls between this check and the rename.
        if _ident(os.stat(e.path, follow_symlinks=False)) != e.ident:
            raise _Changed
        if not hmac.compare_digest(_digest(e.path), c.digest):
            raise _Changed
        os.replace(c.tmp, e.path)
        _files.kept(c.tmp)
    except BaseException:
        _files.discard(c.tmp)
        raise


def _reason(exc: BaseException) -> str:
    """What went wrong, safe to print: tigerseal errors' messages, other errors' type only."""
    if isinstance(exc, _Unusable):
        return escape_control(str(exc), limit=500)
    if isinstance(exc, TigerSealError):
        return escape_control(f"{type(exc).__name__}: {exc}", limit=500)
    if isinstance(exc, OSError):
        return escape_control(f"{exc.strerror or type(exc).__name__}", limit=200)
    return f"unexpected {type(exc).__name__} (details withheld: they may contain data)"


@dataclass
class _Report:
    rewrapped: int = 0
    current: int = 0
    stale: int = 0
    skipped: int = 0
    temporary: int = 0
    unversioned: int = 0
    failed: list[tuple[Path, str]] = field(default_factory=list)
    foreign: list[Path] = field(default_factory=list)  # no configured provider owns a key
    old: list[Path] = field(default_factory=list)


def _report_json(report: _Report, *, dry_run: bool) -> dict[str, Any]:
    # Paths are data in JSON (escaped by the encoder), not terminal text: no escape_control.
    return {
        "dry_run": dry_run,
        "rewrapped": report.rewrapped,
        "current": report.current,
        "stale": report.stale,
        "not_tigerseal": report.skipped,
        "temporary_skipped": report.temporary,
        "unversioned": report.unversioned,
        "old": [str(p) for p in report.old],
        "foreign": [str(p) for p in report.foreign],
        "failed": [{"path": str(p), "reason": why} for p, why in report.failed],
        "ok": not (report.old or report.failed or report.foreign),
    }


def _foreign(svc: EncryptionService, header: Header) -> bool:
    """Whether no configured provider owns any of the wrapped keys (nothing can be moved)."""
    return not any(p.owns(w) for w in header.wrapped_keys for p in svc.providers)


def _unversioned(svc: EncryptionService, header: Header) -> bool:
    """Whether a configured provider owning one of the wrapped keys hides versions (KMS)."""
    return any(p.key_version == 0 and p.owns(w) for w in header.wrapped_keys for p in svc.providers)


def _new_heads(
    svc: EncryptionService, entries: list[_Entry], report: _Report
) -> list[tuple[_Entry, bytes | None]]:
    """One batched provider call for ``entries``; failures are recorded in ``report``.

    A message the provider rejects (a damaged wrapped key) or whose new header would outgrow
    the format's limit fails the whole batch, so then the files are retried one by one to name
    it. Operational errors (denied, unavailable) hit every file alike and are reported for each
    without more calls.
    """
    try:
        return list(zip(entries, svc.rewrap_headers([e.header for e in entries]), strict=True))
    except (DecryptionError, EncryptionError):
        pass
    except Exception as exc:  # reported per file: the run goes on and says why
        report.failed.extend((e.path, _reason(exc)) for e in entries)
        return []
    done: list[tuple[_Entry, bytes | None]] = []
    for e in entries:
        try:
            (head,) = svc.rewrap_headers([e.header])
        except Exception as exc:  # reported per file: the run goes on and says why
            report.failed.append((e.path, _reason(exc)))
            continue
        done.append((e, head))
    return done


def _rewrap_files(
    svc: EncryptionService, files: list[Path], *, dry_run: bool, force: bool, progress: Any
) -> _Report:
    report = _Report()
    pending = files
    for attempt in range(_ATTEMPTS):
        changed: list[Path] = []
        for start in range(0, len(pending), _BATCH):
            entries: list[_Entry] = []
            for path in pending[start : start + _BATCH]:
                if attempt == 0:
                    progress.update(1)
                try:
                    e = _read_entry(path)
                except (_Unusable, OSError) as exc:
                    report.failed.append((path, _reason(exc)))
                    continue
                if e is None:
                    report.skipped += 1
                elif _foreign(svc, e.header):
                    # Not "already current": a run with the wrong providers configured must not
                    # send the operator on to retire keys this file still needs.
                    report.foreign.append(path)
                elif not force and not svc.needs_rewrap(e.header):
                    report.current += 1
                    report.unversioned += _unversioned(svc, e.header)
                elif dry_run:
                    report.stale += 1
                    report.old.append(path)
                else:
                    entries.append(e)
            if not entries:
                continue
            copies: list[_Copy] = []
            for e, head in _new_heads(svc, entries, report):
                if head is None:
                    report.current += 1
                    continue
                try:
                    copies.append(_copy(e, head))
                except _Changed:
                    changed.append(e.path)
                except (_Unusable, TigerSealError, OSError) as exc:
                    report.failed.append((e.path, _reason(exc)))
            try:
                _sync_all(copies)
            except BaseException:
                for c in copies:
                    _files.discard(c.tmp)
                raise
            finally:
                for c in copies:
                    os.close(c.fd)
            renamed_in: set[Path] = set()
            for c in copies:
                try:
                    _commit(c)
                except _Changed:
                    changed.append(c.entry.path)
                    continue
                except OSError as exc:
                    report.failed.append((c.entry.path, _reason(exc)))
                    continue
                report.rewrapped += 1
                renamed_in.add(c.entry.path.parent)
            # Once per directory and batch; until then a crash can only bring back old files,
            # which still decrypt.
            for directory in renamed_in:
                _files.fsync_dir(directory)
        pending = changed
        if not pending:
            break
    for path in pending:
        report.failed.append(
            (path, "changed while tigerseal rewrap was working on it (another process writes "
                   "it); left as it is: run tigerseal rewrap again")
        )  # fmt: skip
    return report


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--dry-run", is_flag=True, help="Only report which files use old key versions.")
@click.option(
    "--force",
    is_flag=True,
    help="Re-wrap under each provider's current key even when the recorded version looks "
    "current (needed for AWS KMS, which hides key versions).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def rewrap(paths: tuple[str, ...], dry_run: bool, force: bool, as_json: bool) -> None:
    """Move files' data keys to the newest key versions, without re-encrypting payloads.

    \b
    Covers every form tigerseal writes: binary (encrypt), 'ts1.' text and JSON (encrypt
    --text, EncryptedData.json()); each file keeps its form, owner and mode.
    Walks files and directories; symlinks inside directories and temporary files of other
    tigerseal commands (.NAME.ts<pid>-<hex>.part/.tmp) are skipped.
    Each file is replaced atomically, and only if it is unchanged since it was read (inode,
    size, times and a hash of its bytes are compared just before the rename); a file that
    keeps changing is left alone and reported, so is a file with several hard links (a
    replacement would leave the other names on the old key version). Files already current
    are skipped, so an interrupted run is resumed by running it again. Providers' batch APIs
    (Vault, HSM) are used: one round trip per 256 files.
    Exit status 1 when a file is stale (--dry-run), failed, looks like tigerseal output but
    cannot be read, or is wrapped only by providers not configured here.
    """  # noqa: D301 - click's \b keeps the layout
    svc = _service()
    files, temporary = _files.walk_message_files(paths)
    with click.progressbar(length=len(files), label="rewrapping", file=sys.stderr) as bar:
        report = _rewrap_files(svc, files, dry_run=dry_run, force=force, progress=bar)
    report.temporary = temporary
    if as_json:
        click.echo(json.dumps(_report_json(report, dry_run=dry_run), indent=2))
        if report.old or report.failed or report.foreign:
            raise SystemExit(1)
        return
    click.echo(
        f"{report.rewrapped} rewrapped, {report.current} already current, "
        f"{report.stale} stale, {report.skipped} not tigerseal files, "
        f"{len(report.failed)} failed"
        + (f", {report.temporary} temporary files skipped" if report.temporary else "")
        + (
            f", {len(report.foreign)} not wrapped by a configured provider"
            if report.foreign
            else ""
        )
    )
    if report.unversioned and not force:
        click.echo(
            f"{report.unversioned} files are wrapped by keys that hide their versions (AWS "
            "KMS): after a KMS rotation run `tigerseal rewrap --force` to re-wrap them"
        )
    if report.old:
        click.echo("still on old key versions:")
        for path in report.old:
            click.echo(f"  {escape_control(str(path))}: uses an old key version")
    if report.foreign:
        click.echo(
            "not wrapped by any configured provider (left unchanged; configure the provider "
            "that wrapped them in TIGERSEAL_KEY_PROVIDERS, see `tigerseal inspect`):"
        )
        for path in report.foreign:
            click.echo(f"  {escape_control(str(path))}")
    if report.failed:
        click.echo("failed (left unchanged):")
        for path, why in report.failed:
            click.echo(f"  {escape_control(str(path))}: {why}")
    if report.old or report.failed or report.foreign:
        raise SystemExit(1)

"""Temporary and backup files that may hold secrets: one naming rule, cleanup, sweeping.

Every temporary file tigerseal writes next to a target (``decrypt -o`` output, ``encrypt -o``
output, ``rewrap`` copies, keyring and ``.env`` rewrites) is named
``.<target name>.ts<pid>-<8 hex>.<part|tmp>``, created with ``O_EXCL`` and mode 0600, and
registered here until it is renamed over its target or removed. That gives three cleanups:

* exceptions: the writer removes its temporary file (``discard``);
* SIGTERM, SIGINT, SIGHUP: :func:`install_signal_cleanup` (the CLI calls it) removes every
  registered temporary file, then lets the signal end the process as it would have;
* ``kill -9``, power loss: nothing can run, so the next writer in the same directory removes
  temporary files whose pid is no longer running and which belong to the same user
  (:func:`sweep_stale`).

Backups of files a ``--force`` is about to replace (keyrings, ``.env`` files holding master keys)
are written by :func:`write_backup`: mode 0600, never over an existing file.

Which files hold a tigerseal message is decided here too, once, for ``tigerseal rewrap`` and the
guarded ``retire`` scan (:func:`tigerseal.keyuse.file_key_uses`), so a file the rewrap leaves
behind is never one the scan forgets: :func:`walk_message_files` (which files: no symlinks
inside directories, no temporary files), :func:`message_form` (binary, text or JSON) and
:func:`split_message_file` (a text or JSON file's own formatting around the message).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import stat
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, BinaryIO, Literal

from tigerseal._text import escape_control
from tigerseal.errors import ConfigError, DecryptionError

if TYPE_CHECKING:
    from tigerseal.envelope import EncryptedData

__all__ = [
    "backup_name",
    "create_temp",
    "discard",
    "fsync_dir",
    "install_signal_cleanup",
    "is_temp_name",
    "kept",
    "live_temp_files",
    "message_form",
    "parse_message_file",
    "read_message_file",
    "rename_target",
    "split_message_file",
    "sweep_stale",
    "walk_message_files",
    "write_all",
    "write_backup",
    "write_private",
]

# DOTALL and \Z: file names may contain newlines.
_TEMP_RE = re.compile(
    r"\A\.(?P<base>.+)\.ts(?P<pid>[1-9][0-9]{0,9})-[0-9a-f]{8}\.(?:part|tmp)\Z", re.DOTALL
)
# Other temporary names, recognised so ``rewrap`` never walks into them but never swept (no pid
# to check): any hidden ``.part`` file (``mkstemp`` names of earlier versions, other tools'
# partial downloads), and the 8 or 12 hex ``.tmp`` names earlier .env and keyring writers
# used. Narrow for ``.tmp`` on purpose: a user's own ``.backup.tmp`` holding a message is data,
# to be rewrapped and counted by the retire scan.
_OTHER_TEMP_RE = re.compile(r"\A\.(?:.+\.part|.+\.(?:[0-9a-f]{8}|[0-9a-f]{12})\.tmp)\Z", re.DOTALL)

_live: set[Path] = set()
_swept: set[Path] = set()
# Reentrant: the signal handler runs in the main thread, possibly while it holds the lock.
_lock = threading.RLock()


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is a temporary file of tigerseal (or looks like another tool's)."""
    return bool(_TEMP_RE.match(name) or _OTHER_TEMP_RE.match(name))


def _live_temp_name(name: str) -> bool:
    """Whether ``name`` is a temporary file of a running tigerseal process."""
    m = _TEMP_RE.match(name)
    return m is not None and _pid_alive(int(m.group("pid")))


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def sweep_stale(directory: Path, *, force: bool = False) -> list[Path]:
    """Remove tigerseal temporary files in ``directory`` left by processes that are gone.

    Only files named by this module's rule, owned by the current user, whose pid is not a
    running process are removed (a killed ``decrypt -o`` leaves plaintext in its ``.part``
    file). Each directory is swept once per process unless ``force``.

    Returns:
        The files removed.
    """
    with _lock:
        if directory in _swept and not force:
            return []
        _swept.add(directory)
    removed: list[Path] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    uid = os.getuid()
    for entry in entries:
        m = _TEMP_RE.match(entry.name)
        if m is None:
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode) or st.st_uid != uid:
            continue
        if _pid_alive(int(m.group("pid"))):
            continue
        with contextlib.suppress(FileNotFoundError):
            os.unlink(entry.path)
            removed.append(Path(entry.path))
    return removed


def create_temp(target: Path, suffix: str = "part") -> tuple[int, Path]:
    """Create a registered temporary file next to ``target`` (``O_EXCL``, mode 0600).

    Sweeps the directory's stale temporary files first. Returns ``(fd, path)``; pass the path
    to :func:`kept` after renaming it over the target, or to :func:`discard` on failure.
    """
    if suffix not in ("part", "tmp"):
        raise ValueError("suffix must be 'part' or 'tmp'")
    sweep_stale(target.parent)
    # At most 200 bytes of the target's name: the temporary name adds up to 28, and a name of
    # more than 255 bytes cannot be created (a long-named file could never be rewrapped).
    base = os.fsdecode(os.fsencode(target.name)[:200])
    while True:
        tmp = target.with_name(f".{base}.ts{os.getpid()}-{secrets.token_hex(4)}.{suffix}")
        # Registered before it exists: a signal between open() and registration still finds it.
        with _lock:
            _live.add(tmp)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except FileExistsError:
            with _lock:
                _live.discard(tmp)
            continue
        except BaseException:
            with _lock:
                _live.discard(tmp)
            raise
        return fd, tmp


def kept(tmp: Path) -> None:
    """Forget ``tmp``: it has been renamed over its target."""
    with _lock:
        _live.discard(tmp)


def discard(tmp: Path) -> None:
    """Remove ``tmp`` (if it still exists) and forget it."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    kept(tmp)


def live_temp_files() -> list[Path]:
    """The temporary files this process is writing now."""
    with _lock:
        return sorted(_live)


_previous: dict[int, Any] = {}


def _on_signal(signum: int, frame: FrameType | None) -> None:
    for tmp in live_temp_files():
        discard(tmp)
    previous = _previous.get(signum, signal.SIG_DFL)
    if callable(previous):
        # Python's own SIGINT handler raises KeyboardInterrupt: finally blocks and the CLI's
        # "Aborted." still run, as they did before this handler existed.
        previous(signum, frame)
        return
    # SIG_DFL: end the process the way the signal would have (exit status 128+signum).
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def install_signal_cleanup() -> None:
    """Remove registered temporary files on SIGTERM, SIGINT and SIGHUP, then act as before.

    After the cleanup the previous handler runs (Python's SIGINT handler raises
    ``KeyboardInterrupt``); where there was none, the process dies of the signal. Only from the
    main thread (Python's rule for signal handlers); a no-op elsewhere. Signals already ignored
    (``nohup``) stay ignored.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        current = signal.getsignal(sig)
        if current is signal.SIG_IGN or current is _on_signal:
            continue
        _previous[sig] = current
        signal.signal(sig, _on_signal)


def write_all(fd: int, data: bytes | bytearray) -> None:
    """Write all of ``data`` to ``fd`` (``os.write`` may write less than asked)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (the entry lives in the directory, not the file)."""
    fd = os.open(directory, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_private(path: Path, data: bytes, *, sync: bool = True) -> None:
    """Replace ``path`` atomically and durably with ``data``, mode 0600.

    The one way tigerseal writes a file holding secrets (keyrings, peppers, ``.env`` files,
    audit MAC keys): a registered temporary file (``O_EXCL``, swept if the writer dies), every
    byte written, ``fsync``, rename over ``path``, ``fsync`` of the directory. Readers see the
    old file or the new one, and after a crash the new one is not lost — a lost pepper or key
    file makes every message or hash that depends on it unreadable. ``path`` is replaced as
    named; callers that follow a symlinked configuration file pass :func:`rename_target` first.
    ``sync=False`` (an audit head file in a non-durable mode) skips both fsyncs: still atomic,
    not durable.

    Raises:
        OSError: the file cannot be written (the temporary file is removed).
    """
    fd, tmp = create_temp(path, "tmp")
    try:
        try:
            os.fchmod(fd, 0o600)  # the umask cannot widen it, but be explicit
            write_all(fd, data)
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        kept(tmp)
    except BaseException:
        discard(tmp)
        raise
    if sync:
        fsync_dir(path.parent)


def rename_target(path: Path) -> Path:
    """The file a write-by-rename of a configuration file should replace: through symlinks.

    A keyring or ``.env`` reached through a symlink (a secrets volume, a shared config
    directory) is replaced where it lives, and its lock is taken there, so every name sees the
    new content and all writers share one lock. Renaming over the link itself would leave the
    real file behind, unchanged, for every process that opens it by its real name.
    (``decrypt -o`` deliberately does not use this: a link planted at an output path in a
    shared directory must not redirect plaintext.)
    """
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def backup_name(path: Path) -> Path:
    """A free name for a backup of ``path``: ``<name>.<UTC time>.bak`` next to it."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    candidate = path.with_name(f"{path.name}.{stamp}.bak")
    n = 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}.{stamp}-{n}.bak")
    return candidate


def write_backup(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst`` (mode 0600, fsynced); never replaces an existing ``dst``.

    Raises:
        FileExistsError: ``dst`` exists.
        OSError: ``src`` cannot be read or ``dst`` written.
    """
    data = src.read_bytes()
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        try:
            os.fchmod(fd, 0o600)
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(dst)
        raise
    dfd = os.open(dst.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


# -- files holding one tigerseal message --------------------------------------------------------
_BOM = b"\xef\xbb\xbf"
_SPACE = b" \t\r\n"

MessageForm = Literal["binary", "text", "json"]


def walk_message_files(
    paths: Iterable[str | os.PathLike[str]], *, live_temps: list[Path] | None = None
) -> tuple[list[Path], int]:
    """The regular files under ``paths`` that may hold messages, and how many temps were left out.

    ``live_temps``, if given, receives the temporary files left out whose tigerseal writer is
    still running: each becomes a message when its writer renames it (``retire`` waits).

    Symlinks inside directories are not followed (they may point out of the tree, or at a file
    already listed); a symlink given by name is resolved. Temporary files (:func:`is_temp_name`)
    are other commands' output in progress (an ``encrypt -o`` writing its ``.part`` file); a
    file named in ``paths`` itself is skipped only if a running tigerseal process writes it.

    Raises:
        ConfigError: a path does not exist.
    """
    files: list[Path] = []
    seen: set[str] = set()  # a file named twice (a directory and a file in it) is one file
    temps = 0
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if not f.is_symlink() and f.is_file())
            temporary = is_temp_name
        elif p.is_file():
            found = [Path(os.path.realpath(p)) if p.is_symlink() else p]
            # Named on purpose: data, unless a live tigerseal process is writing it.
            temporary = _live_temp_name
        elif p.exists():
            raise ConfigError(
                f"{escape_control(str(p), limit=300)} is not a regular file or directory (a "
                "pipe, socket or device holds no stored message); name files or directories"
            )
        else:
            raise ConfigError(f"{escape_control(str(p), limit=300)} does not exist")
        for f in found:
            real = os.path.realpath(f)
            if real in seen:
                continue
            seen.add(real)
            if temporary(f.name):
                temps += 1
                if live_temps is not None and _live_temp_name(f.name):
                    live_temps.append(f)
            else:
                files.append(f)
    return files, temps


_JSON_MARKS = (b'"ts1.', b'"tigerseal/1"')


def message_form(head: bytes) -> MessageForm | None:
    """Which form of message a file starting with ``head`` holds; ``None``: not tigerseal's.

    Decides from ``head`` alone; :func:`read_message_file` also finds JSON messages whose
    ``message`` and ``format`` members come after the first bytes. Text and JSON files may
    start with a UTF-8 byte order mark and whitespace (editors add them).
    """
    if head[:3] == b"TSL":
        return "binary"
    body = head.removeprefix(_BOM).lstrip(_SPACE)
    if body[:4] == b"ts1.":
        return "text"
    if body[:1] == b"{" and any(mark in head for mark in _JSON_MARKS):
        return "json"
    return None


def _read(f: BinaryIO, n: int) -> bytes:
    parts: list[bytes] = []
    while n > 0 and (chunk := f.read(n)):
        parts.append(chunk)
        n -= len(chunk)
    return b"".join(parts)


def read_message_file(f: BinaryIO) -> tuple[MessageForm | None, bytes]:
    """Read what a rewrap or a key-version scan needs from a file open at its start.

    Returns ``(form, data)``: for ``"binary"`` the first 64 KiB (the header and some payload),
    for ``"text"`` and ``"json"`` the whole file, for ``None`` (not a message) what was read.
    A JSON file counts if it names a ``ts1.`` message or the ``tigerseal/1`` format anywhere
    (``EncryptedData.json()`` sorts its keys, so a large escaped context pushes both past the
    first 64 KiB); other JSON files are scanned in chunks, never held whole.
    """
    # Imported here: providers and config import this module while the envelope loads.
    from tigerseal.envelope._format import MAX_HEADER_SIZE

    head = _read(f, MAX_HEADER_SIZE)
    form = message_form(head)
    if form == "binary":
        return form, head
    if form is not None:
        return form, head + f.read()
    if head.removeprefix(_BOM).lstrip(_SPACE)[:1] != b"{" or len(head) < MAX_HEADER_SIZE:
        return None, head
    keep = max(map(len, _JSON_MARKS)) - 1  # a mark may straddle two chunks
    tail = head[-keep:]
    while chunk := f.read(1 << 20):
        window = tail + chunk
        if any(mark in window for mark in _JSON_MARKS):
            f.seek(0)
            return "json", f.read()
        tail = window[-keep:]
    return None, head


def split_message_file(raw: bytes) -> tuple[bytes, bytes, bytes]:
    """A text or JSON file's ``(lead, message, trail)``: the BOM and whitespace around it.

    A text file written on Windows (a BOM, CRLF line ends) holds the same message as the
    canonical ``ts1.`` line; ``EncryptedData.parse`` of a string stays strict (one canonical
    text form), the file's formatting is stripped here and kept by ``rewrap``.
    """
    rest = raw.removeprefix(_BOM)
    body = rest.strip(_SPACE)
    start = len(raw) - len(rest) + (len(rest) - len(rest.lstrip(_SPACE)))
    return raw[:start], body, raw[start + len(body) :]


def parse_message_file(raw: bytes) -> EncryptedData:
    """The message in a text or JSON file's bytes (``decrypt``, ``inspect``, ``rewrap``, retire).

    The file's formatting (:func:`split_message_file`) is stripped, and the file is read as
    UTF-8: ``jq`` and editors write the characters a JSON file had escaped (``é``).

    Raises:
        DecryptionError: not a message in any form.
    """
    from tigerseal.envelope import EncryptedData

    try:
        text = split_message_file(raw)[1].decode("utf-8")
    except UnicodeDecodeError:
        raise DecryptionError(
            "not a tigerseal message: a text or JSON message file must be UTF-8"
        ) from None
    return EncryptedData.parse(text)

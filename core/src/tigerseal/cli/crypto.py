"""``tigerseal encrypt|decrypt|inspect|rewrap``: files and pipes, in constant memory."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, BinaryIO

import click

from tigerseal.errors import ConfigError, DecryptionError, TigerSealError

if TYPE_CHECKING:
    from tigerseal.envelope import EncryptionService

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
        yield sys.stdin.buffer
        return
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    with f:
        yield f


@contextlib.contextmanager
def _atomic_out(path: str) -> Iterator[BinaryIO]:
    """Write to a temporary file, then rename (file) or copy (stdout) only on success.

    Nothing unauthenticated ever reaches the destination: a failed decryption leaves no file and
    prints nothing.
    """
    if path == "-":
        with tempfile.TemporaryFile() as tmp:
            yield tmp
            tmp.seek(0)
            shutil.copyfileobj(tmp, sys.stdout.buffer, 1 << 20)
            sys.stdout.buffer.flush()
        return
    target = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as tmp:
            yield tmp
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def _service() -> EncryptionService:
    from tigerseal.envelope import get_encryption_service

    return get_encryption_service()


@click.command()
@click.argument("src", default="-", metavar="[INPUT]")
@click.option("-o", "--output", default="-", help="Output file (default: stdout).")
@context_option
@click.option(
    "--text",
    is_flag=True,
    help="Write the compact 'ts1.' text form (single-shot; reads the input into memory).",
)
def encrypt(src: str, output: str, context: tuple[str, ...], text: bool) -> None:
    """Encrypt INPUT (a file, or - for stdin) with the configured key providers."""
    ctx = _parse_context(context)
    svc = _service()
    with _open_in(src) as fin, _atomic_out(output) as fout:
        if text:
            fout.write(str(svc.encrypt(fin.read(), ctx)).encode() + b"\n")
        else:
            svc.encrypt_stream(fin, fout, ctx)


@click.command()
@click.argument("src", default="-", metavar="[INPUT]")
@click.option("-o", "--output", default="-", help="Output file (default: stdout).")
@context_option
def decrypt(src: str, output: str, context: tuple[str, ...]) -> None:
    """Decrypt INPUT (binary, 'ts1.' text or JSON form; a file or - for stdin).

    Output appears only after the whole message authenticated.
    """
    ctx = _parse_context(context)
    svc = _service()
    with _open_in(src) as fin:
        first = fin.read(4)
        with _atomic_out(output) as fout:
            if first[:3] == b"TSL":
                from tigerseal.envelope.stream import Prefixed

                svc.decrypt_stream(Prefixed(first, fin), fout, ctx)  # type: ignore[arg-type]
            else:
                fout.write(svc.decrypt(first + fin.read(), ctx))


def _read_header_bytes(f: IO[bytes]) -> bytes:
    from tigerseal.envelope.format import MAX_HEADER_SIZE

    head = f.read(MAX_HEADER_SIZE)
    if head[:3] != b"TSL":
        # Text or JSON forms: small by nature, read them whole.
        from tigerseal.envelope import EncryptedData

        return bytes(EncryptedData.parse(head + f.read()))
    return head


@click.command()
@click.argument("src", default="-", metavar="[INPUT]")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def inspect(src: str, as_json: bool) -> None:
    """Show a message's header (providers, key versions, context, sizes) without decrypting."""
    from tigerseal.envelope.format import parse_header

    with _open_in(src) as fin:
        head = _read_header_bytes(fin)
        h = parse_header(head)
        total = len(head) + sum(len(c) for c in iter(lambda: fin.read(1 << 20), b""))
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
        click.echo(f"wrapped key:  {w.provider}:{w.key_id} version {w.key_version}")


def _walk(paths: tuple[str, ...]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files.extend(sorted(f for f in p.rglob("*") if f.is_file() and not f.is_symlink()))
        elif p.is_file():
            files.append(p)
        else:
            raise ConfigError(f"{p} does not exist")
    return files


def _rewrap_file(svc: EncryptionService, path: Path, dry_run: bool) -> str:
    """Rewrap one file in place (atomically). Returns what happened."""
    from tigerseal.envelope.format import MAX_HEADER_SIZE, parse_header

    with open(path, "rb") as f:
        head = f.read(MAX_HEADER_SIZE)
        if head[:3] != b"TSL":
            return "skipped"
        header = parse_header(head)
        if not svc.needs_rewrap(header):
            return "current"
        if dry_run:
            return "stale"
        (new_head,) = svc.rewrap_headers([header])
        if new_head is None:
            return "current"
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(new_head)
                out.write(head[header.size :])
                shutil.copyfileobj(f, out, 1 << 20)
                out.flush()
                os.fsync(out.fileno())
            shutil.copymode(path, tmp)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
    return "rewrapped"


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--dry-run", is_flag=True, help="Only report which files use old key versions.")
def rewrap(paths: tuple[str, ...], dry_run: bool) -> None:
    """Move files' data keys to the newest key versions, without re-encrypting payloads.

    Walks files and directories. Each file is replaced atomically, and files already on the
    newest versions are skipped, so an interrupted run is resumed by running it again.
    """
    svc = _service()
    files = _walk(paths)
    counts = {"rewrapped": 0, "current": 0, "skipped": 0, "stale": 0, "failed": 0}
    still_old: list[tuple[Path, str]] = []
    with click.progressbar(files, label="rewrapping", file=sys.stderr) as bar:
        for path in bar:
            try:
                result = _rewrap_file(svc, path, dry_run)
            except (DecryptionError, TigerSealError, OSError) as exc:
                result = "failed"
                still_old.append((path, f"{type(exc).__name__}: {exc}"))
            counts[result] += 1
            if result == "stale":
                still_old.append((path, "uses an old key version"))
    click.echo(
        f"{counts['rewrapped']} rewrapped, {counts['current']} already current, "
        f"{counts['stale']} stale, {counts['skipped']} not tigerseal files, "
        f"{counts['failed']} failed"
    )
    if still_old:
        click.echo("still on old key versions:")
        for path, why in still_old:
            click.echo(f"  {path}: {why}")
        raise SystemExit(1)

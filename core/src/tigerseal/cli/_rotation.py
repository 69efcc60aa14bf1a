"""``tigerseal pepper`` (add, list, rewrap password peppers) and ``tigerseal retire``.

``retire`` is the guarded way to retire old key versions: it first asks every part of
tigerseal which stored secrets still depend on them (:mod:`tigerseal.keyuse`) and refuses,
listing them and the command that rewraps each, while any does.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tigerseal.cli._keygen import _call, _configured_primary
from tigerseal.errors import TigerSealError

if TYPE_CHECKING:
    from tigerseal.spi._provider import KeyProvider

__all__ = ["pepper", "retire"]


def _pepper_path(path: Path | None) -> Path:
    if path is not None:
        return path
    from tigerseal.config import get_settings

    configured = get_settings().password_pepper_file
    if not configured:
        raise click.UsageError(
            "no pepper file: give --file PATH or set TIGERSEAL_PASSWORD_PEPPER_FILE"
        )
    return Path(configured)


def _providers() -> list[KeyProvider]:
    from tigerseal.envelope._default import configured_provider_uris
    from tigerseal.plugins import key_provider_from_uri

    return [_call(partial(key_provider_from_uri, uri)) for uri in configured_provider_uris()]


_FILE = click.option(
    "--file",
    "path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Pepper file (default: TIGERSEAL_PASSWORD_PEPPER_FILE).",
)


@click.group()
def pepper() -> None:
    """Manage the password pepper file (peppers wrapped by the configured key providers)."""


@pepper.command("add")
@_FILE
@click.option("--id", "pepper_id", default=None, help="Pepper id (default p<n>).")
@click.option("--keep-current", is_flag=True, help="Add it without making it current.")
def pepper_add(path: Path | None, pepper_id: str | None, keep_current: bool) -> None:
    """Add a new pepper wrapped by the first configured key provider (file created if needed)."""
    from tigerseal.passwords._pepper import add_pepper

    target = _pepper_path(path)
    providers = _providers()
    first = providers[0]
    try:
        pid = _call(lambda: add_pepper(target, first, pepper_id, make_current=not keep_current))
    finally:
        for p in providers:
            p.close()
    click.echo(f"added pepper {pid!r} to {target} (wrapped by {first.uri} v{first.key_version})")
    click.echo("back it up: losing it makes every peppered password unverifiable")


_JSON = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


def _uses_json(uses: Any) -> list[dict[str, Any]]:
    from dataclasses import asdict

    return [asdict(use) for use in uses]


@pepper.command("list")
@_FILE
@_JSON
def pepper_list(path: Path | None, as_json: bool) -> None:
    """List the peppers and the key versions they are wrapped under (nothing is unwrapped)."""
    from tigerseal.passwords._pepper import pepper_key_uses

    target = _pepper_path(path)
    if not target.exists():
        if as_json:
            click.echo(json.dumps({"file": str(target), "exists": False, "peppers": []}))
            return
        raise click.ClickException(f"pepper file {target} does not exist")
    uses = _call(lambda: pepper_key_uses(target))
    if as_json:
        click.echo(json.dumps({"file": str(target), "exists": True, "peppers": _uses_json(uses)}))
        return
    for use in uses:
        click.echo(use.describe())


@pepper.command("rewrap")
@_FILE
@_JSON
def pepper_rewrap(path: Path | None, as_json: bool) -> None:
    """Move every pepper to its provider's newest key version (run after a key rotation).

    The peppers do not change, so stored hashes keep verifying. The file is replaced
    atomically with mode 0600. Idempotent: run it again to resume.
    """
    from tigerseal.passwords._pepper import rewrap_pepper_file

    target = _pepper_path(path)
    providers = _providers()
    try:
        count = _call(lambda: rewrap_pepper_file(target, providers))
    finally:
        for p in providers:
            p.close()
    if as_json:
        click.echo(
            json.dumps(
                {
                    "file": str(target),
                    "rewrapped": count.rewrapped,
                    "current": count.current,
                    "other_providers": count.other,
                }
            )
        )
        if count.other:
            raise SystemExit(1)
        return
    click.echo(
        f"{target}: {count.rewrapped} rewrapped, {count.current} already current, "
        f"{count.other} wrapped by providers not configured here (left as they are)"
    )
    if count.other:
        raise SystemExit(1)


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--below", type=int, required=True, help="Retire every version below this one.")
@click.option("--keyring", type=click.Path(dir_okay=False, path_type=Path), help="File keyring.")
@click.option("--uri", help="Provider URI (default: the first of TIGERSEAL_KEY_PROVIDERS).")
@click.option(
    "--database",
    "databases",
    multiple=True,
    help="Database URL holding tigerseal tables (repeatable; DATABASE_URL is always checked).",
)
@click.option(
    "--audit-sink",
    "audit_sinks",
    multiple=True,
    help="Audit sink URI to check (repeatable; default: TIGERSEAL_AUDIT_SINKS).",
)
@click.option(
    "--pepper-file",
    "pepper_files",
    multiple=True,
    help="Further pepper file (TIGERSEAL_PASSWORD_PEPPER_FILE is always checked).",
)
@click.option(
    "--sql-column",
    "sql_columns",
    multiple=True,
    help="Encrypted column TABLE.COLUMN to check in the databases (repeatable; tigerseal-sql).",
)
@click.option("--check", is_flag=True, help="Only list what still depends on old versions.")
@_JSON
def retire(
    paths: tuple[str, ...],
    below: int,
    keyring: Path | None,
    uri: str | None,
    databases: tuple[str, ...],
    audit_sinks: tuple[str, ...],
    pepper_files: tuple[str, ...],
    sql_columns: tuple[str, ...],
    check: bool,
    as_json: bool,
) -> None:
    """Retire key versions below --below, refusing while stored secrets still use them.

    Checks everything tigerseal knows of: the pepper file, the blind-index keys table of
    DATABASE_URL and each --database, the MAC keys of the audit sinks, and the encrypted
    files or directories given as PATHS, and the encrypted SQL columns named with --sql-column.
    If any is wrapped under a version below --below, it lists them with the command that
    rewraps each and exits 1 without retiring anything. Encrypted SQL columns are not
    discovered: name every one of them with --sql-column.
    """
    from dataclasses import replace

    from tigerseal.keyuse import KeyUseScan, KeyVersionInUse, dependents, key_uses
    from tigerseal.keyuse import retire as guarded_retire
    from tigerseal.plugins import key_provider_from_uri

    if keyring is not None and uri is not None:
        raise click.UsageError("give --keyring or --uri, not both")
    target = f"file://{keyring}" if keyring is not None else uri or _configured_primary()
    scan = KeyUseScan.from_settings(
        database_urls=databases,
        audit_sinks=audit_sinks or None,
        paths=paths,
        sql_columns=sql_columns,
    )
    scan = replace(scan, pepper_files=tuple(dict.fromkeys((*scan.pepper_files, *pepper_files))))
    provider = _call(lambda: key_provider_from_uri(target))
    try:
        if check:
            uses = _call(lambda: key_uses(scan))
            old = dependents(provider, below, uses)
            if as_json:
                click.echo(
                    json.dumps(
                        {
                            "provider": provider.uri,
                            "below": below,
                            "checked": len(uses),
                            "still_in_use": _uses_json(old),
                        },
                        indent=2,
                    )
                )
                raise SystemExit(1 if old else 0)
            for use in old:
                click.echo(use.describe())
            click.echo(
                f"{len(uses)} stored wrapped keys checked, {len(old)} below version {below} "
                f"of {provider.uri}"
            )
            raise SystemExit(1 if old else 0)
        try:
            guarded_retire(provider, below, scan)
        except KeyVersionInUse as exc:
            if as_json:
                click.echo(json.dumps({"retired": False, "error": str(exc)}))
            else:
                click.echo(f"error: {exc}", err=True)
            raise SystemExit(1) from None
        except TigerSealError as exc:
            raise click.ClickException(str(exc)) from exc
    finally:
        provider.close()
    if as_json:
        click.echo(json.dumps({"retired": True, "provider": provider.uri, "below": below}))
        return
    click.echo(
        f"retired versions below {below} of {provider.uri} (checked "
        f"{len(scan.pepper_files)} pepper file(s), {len(scan.database_urls)} database(s), "
        f"{len(scan.audit_sinks)} audit sink(s), {len(scan.paths)} path(s), "
        f"{len(scan.sql_columns)} SQL column(s))"
    )

"""``tigerseal keygen`` and ``tigerseal rotate``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from tigerseal.errors import TigerSealError

if TYPE_CHECKING:
    from tigerseal.spi import KeyProvider

__all__ = ["keygen", "rotate"]

T = TypeVar("T")

_KINDS: dict[str, tuple[str, str]] = {
    "master-key": ("generate_master_key", "ENCRYPTION_MASTER_KEY"),
    "jwt-secret": ("generate_jwt_secret", "JWT_SECRET"),
    "api-key-pepper": ("generate_api_key_pepper", "TIGERSEAL_API_KEY_PEPPER"),
    "salt": ("generate_salt", "ENCRYPTION_MASTER_KEY_SALT"),
}


def _call(action: Callable[[], T]) -> T:
    """Run ``action``; show tigerseal errors as clean CLI errors (exit code 1)."""
    try:
        return action()
    except TigerSealError as exc:
        raise click.ClickException(str(exc)) from exc


@click.command()
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--print",
    "print_only",
    is_flag=True,
    help="Print a new secret instead of creating a keyring (nothing is written).",
)
@click.option(
    "--kind",
    type=click.Choice(sorted(_KINDS)),
    default="master-key",
    show_default=True,
    help="What --print generates.",
)
@click.option("--env", "env_format", is_flag=True, help="With --print: print NAME=value.")
@click.option(
    "--force",
    is_flag=True,
    help="Replace an existing keyring; the old one is first copied to PATH.<UTC time>.bak "
    "(mode 0600), whose path is printed: keep it while messages wrapped under it remain.",
)
def keygen(path: Path | None, print_only: bool, kind: str, env_format: bool, force: bool) -> None:
    """Create a keyring file at PATH (mode 0600), or print a new key with --print.

    PATH defaults to TIGERSEAL_KEYRING_PATH (.tigerseal/keyring.json). Use the keyring with
    TIGERSEAL_KEY_PROVIDERS=file://PATH; put a printed master key in ENCRYPTION_MASTER_KEY.
    """
    from tigerseal.seed import KeyManager

    if print_only:
        if path is not None or force:
            raise click.UsageError("--print writes nothing: drop PATH and --force")
        method, variable = _KINDS[kind]
        value: str = getattr(KeyManager, method)()
        click.echo(f"{variable}={value}" if env_format else value)
        return
    if kind != "master-key" or env_format:
        raise click.UsageError("--kind and --env only apply with --print")
    if path is None:
        from tigerseal.config import get_settings

        path = Path(get_settings().keyring_path)
    from tigerseal._files import backup_name
    from tigerseal.providers.file import create_keyring

    target = path
    backup = backup_name(target) if force else None
    provider = _call(lambda: create_keyring(target, overwrite=force, backup_to=backup))
    if backup is not None and backup.exists():
        click.echo(
            f"backed up the previous keyring to {backup} (mode 0600): messages wrapped under "
            "it decrypt only with it; keep it until they are re-encrypted, then delete it"
        )
    click.echo(
        f"created keyring {path} (id {provider.key_id}, version {provider.key_version}, mode 0600)"
    )
    click.echo(f"use it with: TIGERSEAL_KEY_PROVIDERS=file://{path}")
    click.echo("back it up: losing it makes every message wrapped under it unreadable")


def _configured_primary() -> str:
    """The primary configured key URI (:func:`tigerseal.config.select_key_providers`)."""
    from tigerseal.config import select_key_providers

    return _call(select_key_providers).uris[0]


@click.command()
@click.option(
    "--keyring",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Rotate this file keyring.",
)
@click.option("--uri", help="Rotate the key named by this provider URI (if it supports it).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def rotate(keyring: Path | None, uri: str | None, as_json: bool) -> None:
    """Add a new key version and make it current; old messages keep decrypting.

    Without options, rotates the primary configured key: the first of TIGERSEAL_KEY_PROVIDERS,
    else env://ENCRYPTION_MASTER_KEY (which cannot be rotated from here: the command prints
    the steps), else the development keyring at TIGERSEAL_KEYRING_PATH. Afterwards rewrap
    everything stored (`tigerseal rewrap`, `tigerseal pepper rewrap`, `tigerseal sql rewrap…`,
    `tigerseal audit rewrap-keys`), then retire old versions with `tigerseal retire --below N`,
    which checks first.
    """
    from tigerseal.audit._emit import audit_key_rotated
    from tigerseal.plugins import key_provider_from_uri

    if keyring is not None and uri is not None:
        raise click.UsageError("give --keyring or --uri, not both")
    target = f"file://{keyring}" if keyring is not None else uri or _configured_primary()
    provider = _call(lambda: key_provider_from_uri(target))
    try:
        before = provider.key_version
        after = _call(lambda: _rotate(provider))
        audit_key_rotated(provider.uri, before, after)
    finally:
        provider.close()
    if as_json:
        click.echo(json.dumps({"uri": provider.uri, "previous": before, "version": after}))
        return
    click.echo(f"rotated {provider.uri}: version {before} -> {after}")
    click.echo("old messages still decrypt; run `tigerseal rewrap` to move them to the new key")
    click.echo(
        "also rewrap peppers, blind-index keys and audit keys (docs/encryption.md, Rotation), "
        f"then `tigerseal retire --below {after}`"
    )


def _rotate(provider: KeyProvider) -> int:
    """Rotate through the Rotatable capability; env:// explains the manual steps instead."""
    from tigerseal.providers.env import EnvKeyProvider
    from tigerseal.spi import rotate

    if isinstance(provider, EnvKeyProvider):
        return provider.rotate()  # raises UnsupportedOperation naming the five steps
    return rotate(provider)

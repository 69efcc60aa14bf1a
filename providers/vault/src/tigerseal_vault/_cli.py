"""``tigerseal vault ...``: create transit keys and print the policies they need.

Registered by the ``register_commands`` hook of :mod:`tigerseal_vault`; the core CLI imports
this module only when ``tigerseal vault ...`` runs.
"""

from __future__ import annotations

import click
from tigerseal.errors import ConfigError, KeyProviderError

__all__ = ["vault"]

_KEY_TYPES = ["aes256-gcm96", "aes128-gcm96", "chacha20-poly1305"]


@click.group()
def vault() -> None:
    """Vault / OpenBao transit keys for the vault:// provider."""


def _split(name: str, mount: str | None) -> tuple[str, str]:
    from tigerseal_vault._options import parse_vault_uri

    uri = name if name.startswith("vault://") else f"vault://{name}"
    parsed = parse_vault_uri(uri)
    if mount is not None:
        if "/" in name.removeprefix("vault://"):
            raise click.UsageError("give the mount either in NAME (mount/key) or --mount")
        return mount.strip("/"), parsed.key_name
    return parsed.mount, parsed.key_name


@vault.command("init-key")
@click.argument("name")
@click.option("--mount", default=None, help="Transit mount (default: from NAME, else transit).")
@click.option(
    "--type",
    "key_type",
    type=click.Choice(_KEY_TYPES),
    default="aes256-gcm96",
    show_default=True,
    help="Key type (AEAD types bind the context as associated_data).",
)
@click.option("--derived", is_flag=True, help="Create a derived key (per-tenant keys).")
@click.option(
    "--auto-rotate-period",
    default=None,
    metavar="DURATION",
    help="Let Vault rotate the key itself, e.g. 720h (minimum 1h).",
)
@click.option("--addr", default=None, help="Server address (default: VAULT_ADDR / BAO_ADDR).")
@click.option("--namespace", default=None, help="Namespace (default: VAULT_NAMESPACE).")
@click.option("--policy/--no-policy", default=True, help="Print the service policy afterwards.")
def init_key(
    name: str,
    mount: str | None,
    key_type: str,
    derived: bool,
    auto_rotate_period: str | None,
    addr: str | None,
    namespace: str | None,
    policy: bool,
) -> None:
    """Create the transit key NAME ([mount/]key-name) unless it exists.

    Uses VAULT_TOKEN / BAO_TOKEN, which needs `create` on <mount>/keys/<name> (an operator
    token, not the service's). The key is created non-exportable, without plaintext backup.
    """
    from tigerseal_vault._options import vault_settings
    from tigerseal_vault._policy import service_policy
    from tigerseal_vault._transport import Transport

    mount, key = _split(name, mount)
    settings = vault_settings()
    address = addr or settings.addr
    token = settings.token.get_secret_value() if settings.token else ""
    if not address:
        raise ConfigError("no Vault address: set VAULT_ADDR (or BAO_ADDR), or pass --addr")
    if not token:
        raise ConfigError("no Vault token: set VAULT_TOKEN (or BAO_TOKEN) to an operator token")
    verify: bool | str = settings.cacert or settings.capath or True
    transport = Transport(
        addr=address,
        namespace=namespace or settings.namespace,
        verify=verify,
        cert=None,
        timeout=10.0,
    )
    try:
        path = f"{mount}/keys/{key}"
        existing = transport.call("GET", path, token=token)
        if existing.ok and existing.data:
            data = existing.data
            if bool(data.get("derived")) != derived:
                raise ConfigError(
                    f"the key {mount}/{key} exists with derived={bool(data.get('derived'))}; "
                    "pick another name or drop/add --derived"
                )
            click.echo(
                f"vault://{mount}/{key} exists ({data.get('type')}, latest version "
                f"{data.get('latest_version')}); nothing changed"
            )
        else:
            if existing.status == 404 and "no handler for route" in existing.error_text:
                raise KeyProviderError(
                    f"there is no transit mount at {mount!r}: enable it first with "
                    f"`bao secrets enable -path={mount} transit`"
                )
            if existing.status == 403:
                raise KeyProviderError(
                    f"the token may not read {path}: use an operator token for init-key"
                )
            body: dict[str, object] = {
                "type": key_type,
                "derived": derived,
                "exportable": False,
                "allow_plaintext_backup": False,
            }
            if auto_rotate_period:
                body["auto_rotate_period"] = auto_rotate_period
            created = transport.call("POST", path, token=token, body=body, idempotent=False)
            if not created.ok:
                raise KeyProviderError(
                    f"creating {path} failed (HTTP {created.status}: {created.error_text}); "
                    f"the token needs create on {path}"
                )
            click.echo(
                f"created vault://{mount}/{key} ({key_type}{', derived' if derived else ''})"
            )
    finally:
        transport.close()
    if policy:
        click.echo("\nPolicy for the service that uses it (least privilege):\n")
        click.echo(service_policy(mount, key))


@vault.command("policy")
@click.argument("name")
@click.option("--operator", is_flag=True, help="Also print what rotation needs.")
def policy_cmd(name: str, operator: bool) -> None:
    """Print the least-privilege policy for the key NAME ([mount/]key-name)."""
    from tigerseal_vault._policy import operator_policy, service_policy

    mount, key = _split(name, None)
    click.echo(service_policy(mount, key), nl=False)
    if operator:
        click.echo(operator_policy(mount, key), nl=False)

"""``tigerseal pkcs11 ...``: create, inspect and rotate KEKs on a PKCS#11 token.

The PIN comes from the URI's ``pin-source`` (default ``env:TIGERSEAL_PKCS11_PIN``), never from
the command line, where it would show in shell history and process listings.
"""

from __future__ import annotations

import json

import click

__all__ = ["pkcs11"]

_URI_HELP = (
    "Key URI, e.g. 'pkcs11:token=tigerseal;object=tiger-kek?module-path="
    "/usr/lib/softhsm/libsofthsm2.so&pin-source=env:TIGERSEAL_PKCS11_PIN'"
)


@click.group()
def pkcs11() -> None:
    """Manage KEKs on a PKCS#11 token (HSM or SoftHSM2)."""


@pkcs11.command("init-key")
@click.argument("uri")
@click.option(
    "--usage",
    type=click.Choice(["both", "encrypt", "wrap"]),
    default="both",
    show_default=True,
    help="both: AES-GCM where the token offers it, else RFC 5649; encrypt: AES-GCM only; "
    "wrap: RFC 5649 key wrap only (for policies that allow only key-wrapping keys).",
)
def init_key(uri: str, usage: str) -> None:
    """Generate version 1 of a KEK inside the token.

    The key is AES-256, CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, not CKA_EXTRACTABLE, not
    CKA_MODIFIABLE or CKA_COPYABLE, generated on the token (CKA_NEVER_EXTRACTABLE). URI: the
    key's pkcs11: URI (see docs/providers/pkcs11.md).
    """
    from tigerseal_pkcs11._admin import describe_key
    from tigerseal_pkcs11._admin import init_key as create

    version = create(uri, usage=usage)
    report = describe_key(uri)
    row = report.versions[version]
    click.echo(f"created {row['label']} on token {report.token} ({row['bits']}-bit AES, {usage})")


@pkcs11.command("list")
@click.argument("uri")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_versions(uri: str, as_json: bool) -> None:
    """Show every version of a key and its protective attributes (never its value)."""
    from tigerseal_pkcs11._admin import describe_key

    report = describe_key(uri)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "key_id": report.key_id,
                    "token": report.token,
                    "mechanisms": report.mechanisms,
                    "versions": report.versions,
                },
                indent=2,
            )
        )
        return
    click.echo(f"key {report.key_id} on token {report.token}")
    offered = [name for name, ok in report.mechanisms.items() if ok]
    click.echo(f"token mechanisms: {', '.join(offered) or 'none usable'}")
    if not report.versions:
        click.echo("no versions: create one with tigerseal pkcs11 init-key")
    for version, row in report.versions.items():
        flags = " ".join(
            k.removeprefix("CKA_").lower() for k, v in row.items() if k.startswith("CKA_") and v
        )
        click.echo(f"  v{version} {row['label']} {row['bits']}-bit: {flags}")


@pkcs11.command("rotate")
@click.argument("uri")
def rotate(uri: str) -> None:
    """Generate the next version of a key and make it current."""
    from tigerseal_pkcs11._provider import Pkcs11Provider

    with Pkcs11Provider(uri) as provider:
        version = provider.rotate()
    click.echo(f"rotated: new version v{version}")


init_key.help = (init_key.help or "") + "\n\n" + _URI_HELP

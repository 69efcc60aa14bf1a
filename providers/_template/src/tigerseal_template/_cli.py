"""``tigerseal template check URI``: registered by :func:`tigerseal_template.register_commands`.

Imported only when the command runs, so it may import what it likes (click, the SDK).
"""

from __future__ import annotations

import click

__all__ = ["template"]


@click.group()
def template() -> None:
    """TEMPLATE provider: check a template:// key."""


@template.command("check")
@click.argument("uri")
def check(uri: str) -> None:
    """Build the provider from URI and run its health check."""
    from tigerseal.plugins import key_provider_from_uri

    with key_provider_from_uri(uri) as provider:
        status = provider.health_check()
    click.echo(f"{status.state} {provider.uri}: {status.detail}")
    if not status.ok:
        raise SystemExit(1)

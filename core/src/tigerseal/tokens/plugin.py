"""Built-in plugin: token revocation stores."""

from __future__ import annotations

from tigerseal.hookspecs import hookimpl
from tigerseal.spi.specs import RevocationStoreSpec


@hookimpl
def register_revocation_stores() -> list[RevocationStoreSpec]:
    return []

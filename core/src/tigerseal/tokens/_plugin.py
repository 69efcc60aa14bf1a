"""Built-in plugin: the ``memory://`` token revocation store."""

from __future__ import annotations

from tigerseal.hookspecs import hookimpl
from tigerseal.spi.specs import RevocationStoreSpec


@hookimpl
def register_revocation_stores() -> list[RevocationStoreSpec]:
    """The in-process store; ``redis://`` comes from tigerseal-redis."""
    return [
        RevocationStoreSpec(
            name="memory",
            factory="tigerseal.tokens._revocation:from_uri",
            description="in-process revocation store (one process only)",
        )
    ]

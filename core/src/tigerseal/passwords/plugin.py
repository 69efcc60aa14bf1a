"""Built-in plugin: password hashers."""

from __future__ import annotations

from tigerseal.hookspecs import hookimpl
from tigerseal.spi.specs import HasherSpec


@hookimpl
def register_password_hashers() -> list[HasherSpec]:
    return []

"""Options of ``template://VARIABLE?version=N``: one frozen dataclass, parsed by tigerseal.

:func:`tigerseal.spi.options.build_options` applies the rules every plugin shares: unknown
options are refused with "did you mean", an option given twice is refused, and an option given
both in the URI and in code must have the same value there.
"""

from __future__ import annotations

from dataclasses import dataclass

from tigerseal.spi.options import option

__all__ = ["TemplateOptions"]


@dataclass(frozen=True, slots=True)
class TemplateOptions:
    """What a ``template://`` URI (and keyword options in code) may say."""

    #: The environment variable holding the KEK (64 hex digits): the URI's location.
    variable: str = option(uri=False, help="environment variable holding the KEK (hex)")
    #: The KEK's version, recorded in envelopes. Versions let a real backend rotate.
    version: int = option(1, ge=1, help="version of the KEK recorded in envelopes")

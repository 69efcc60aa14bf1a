"""RFC 6750 bearer tokens: read ``Authorization``, write ``WWW-Authenticate``.

A 401 response carries a challenge (``Bearer realm="api"``); when a token was sent and failed,
the challenge says why with ``error="invalid_token"`` (401) or ``error="insufficient_scope"``
(403, with the scopes needed). A request without credentials gets no error code (RFC 6750
section 3.1). Every value is checked or escaped, so no header text can break the field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from tigerseal.errors import ConfigError, TokenInvalidError

__all__ = ["bearer_challenge", "bearer_token", "quoted_string"]

# RFC 6750 section 2.1: b64token.
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
# RFC 6750 section 3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
# RFC 6750 section 3: error and error_description values exclude '"' and '\'.
_DESCRIPTION_BAD = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")
# RFC 9110 token (auth-scheme, error code).
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def quoted_string(value: str) -> str:
    r"""``value`` as an RFC 9110 quoted-string (``"`` and ``\`` escaped).

    Raises:
        ConfigError: ``value`` holds a control or non-ASCII character (it could not be sent in
            a header, or would split it).
    """
    if not all(ch == "\t" or 0x20 <= ord(ch) <= 0x7E for ch in value):
        raise ConfigError(
            "a WWW-Authenticate value must be printable ASCII; got one with a control or "
            "non-ASCII character"
        )
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def bearer_challenge(
    *,
    realm: str | None = None,
    error: str | None = None,
    error_description: str | None = None,
    scope: Iterable[str] | str | None = None,
    scheme: str = "Bearer",
) -> str:
    r"""A ``WWW-Authenticate`` field value (RFC 6750 section 3).

    Args:
        realm: the protection space (``"api"``); shown to clients.
        error: ``invalid_request``, ``invalid_token`` or ``insufficient_scope``; leave it out
            when the request carried no credentials.
        error_description: a human-readable reason; characters RFC 6750 forbids (``"``,
            ``\``, controls, non-ASCII) are replaced by ``'``, ``/`` and ``?``.
        scope: the scopes needed (``insufficient_scope``), space-separated in the field.
        scheme: the auth-scheme (``Bearer``; an API-key dependency may use another).

    Returns:
        E.g. ``Bearer realm="api", error="insufficient_scope", scope="read write"``.

    Raises:
        ConfigError: the scheme, realm, error code or a scope cannot be written in the field.
    """
    if not _TOKEN.fullmatch(scheme):
        raise ConfigError(f"auth-scheme {scheme[:32]!r} is not an RFC 9110 token")
    params: list[str] = []
    if realm is not None:
        params.append("realm=" + quoted_string(realm))
    if error is not None:
        if not _TOKEN.fullmatch(error):
            raise ConfigError(f"error code {error[:32]!r} is not an RFC 9110 token")
        params.append(f'error="{error}"')
    if error_description is not None:
        text = error_description.replace('"', "'").replace("\\", "/")
        params.append(f'error_description="{_DESCRIPTION_BAD.sub("?", text)}"')
    if scope is not None:
        scopes = scope.split() if isinstance(scope, str) else list(scope)
        for item in scopes:
            if not _SCOPE_TOKEN.fullmatch(item):
                raise ConfigError(
                    f"scope {item[:32]!r} cannot be sent in WWW-Authenticate: RFC 6750 scope "
                    "tokens are printable ASCII without spaces, quotes or backslashes"
                )
        params.append('scope="' + " ".join(scopes) + '"')
    return scheme + (" " + ", ".join(params) if params else "")


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` field, or ``None``.

    Args:
        authorization: the field's value (``None`` when absent).

    Returns:
        The token; ``None`` when there is no field or it uses another scheme (``Basic``...).

    Raises:
        TokenInvalidError: the scheme is ``Bearer`` but the token is missing or not an RFC 6750
            ``b64token``.
    """
    if not authorization:
        return None
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    credentials = credentials.strip()
    if not _B64TOKEN.fullmatch(credentials):
        raise TokenInvalidError("the Authorization header holds no well-formed bearer token")
    return credentials

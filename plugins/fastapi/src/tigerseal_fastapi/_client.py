"""The client's address, believing forwarding headers only from trusted proxies."""

from __future__ import annotations

from starlette.requests import HTTPConnection
from starlette.types import Scope
from tigerseal.web import TrustedProxies

__all__ = ["ClientIP", "client_ip", "client_ip_from_scope"]

_NO_PROXIES = TrustedProxies()


def client_ip_from_scope(scope: Scope, proxies: TrustedProxies | None = None) -> str:
    """The client address of an ASGI ``scope`` (see :meth:`TrustedProxies.client_ip`)."""
    client = scope.get("client")
    peer = client[0] if client else None
    proxies = proxies or _NO_PROXIES
    if not proxies.reads_headers:
        return proxies.client_ip(peer)
    name = proxies.header.encode("latin-1")
    values = [v.decode("latin-1") for k, v in scope.get("headers", ()) if k.lower() == name]
    return proxies.client_ip(peer, values)


def client_ip(request: HTTPConnection, proxies: TrustedProxies | None = None) -> str:
    """The client address of a request (see :meth:`TrustedProxies.client_ip`).

    Do not use uvicorn's ``--proxy-headers``/``--forwarded-allow-ips`` and this together: the
    server would already have replaced the peer address with a header's claim.
    """
    return client_ip_from_scope(request.scope, proxies)


class ClientIP:
    """Dependency returning the client's address.

    ::

        client = ClientIP(TrustedProxies(["10.0.0.0/8"]))

        @app.get("/whoami")
        async def whoami(ip: str = Depends(client)):
            return {"ip": ip}

    Args:
        proxies: the trusted proxies (default: none, the peer address is the client).
    """

    def __init__(self, proxies: TrustedProxies | None = None) -> None:
        self.proxies = proxies or _NO_PROXIES

    async def __call__(self, request: HTTPConnection) -> str:
        return client_ip_from_scope(request.scope, self.proxies)

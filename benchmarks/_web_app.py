"""The applications bench_web.py serves: one endpoint, bare and behind tigerseal.

Each variant is its own FastAPI application with that one route, behind a dispatcher that
picks the application by exact path (a dict lookup), so no variant pays for routing past the
others:

* ``/bare``: a plain ``async def`` returning a small JSON object.
* ``/jwt``: the same, behind ``BearerAuth`` with a required scope (HS256, memory revocation
  store consulted, as with the default settings).
* ``/jwt_rl``: ``/jwt`` plus the ``RateLimit`` dependency on ``memory://`` (a quota it never
  exhausts, so every request takes the full path and gets the RateLimit fields).
* ``/jwt_rl1``: the same limit given to ``BearerAuth(rate_limit=...)``: one dependency.
* ``/jwt_mw``: ``/jwt`` wrapped by ``RateLimitMiddleware`` on ``memory://``.
* ``/jwt_amw``: ``BearerAuthMiddleware`` (the same token check and scope, the quota keyed by
  the token's subject): JWT + rate limit with no FastAPI dependency; the endpoint reads
  ``request.state.token``.
* ``/rl_mw``: ``/bare`` wrapped by ``RateLimitMiddleware`` (rate limiting with no dependency).
* ``/floor``: ``/bare`` behind FastAPI's own ``HTTPBearer`` security dependency, which checks
  nothing: what any bearer dependency costs in FastAPI's dependency injection before it does
  any work (the framework's floor under ``/jwt``).
"""

import os
from typing import Annotated

from fastapi import Depends, FastAPI, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Receive, Scope, Send
from tigerseal.ratelimit import MemoryRateLimitStorage, RateLimiter
from tigerseal.tokens import KeySet, MemoryRevocationStore, TokenManager, TokenPayload
from tigerseal_fastapi import (
    BearerAuth,
    BearerAuthMiddleware,
    RateLimit,
    RateLimitMiddleware,
    RateLimitRule,
)

manager = TokenManager(
    KeySet.from_secret(os.environ["BENCH_JWT_SECRET"]), revocation=MemoryRevocationStore()
)
limiter = RateLimiter(MemoryRateLimitStorage(), algorithm="sliding_window_log", default_limit=1000)
# Never exhausted in a run: every request is admitted and counted.
rule = RateLimitRule(10**9, 3600, name="api", algorithm="gcra")
bearer = BearerAuth(manager=manager, realm="bench", audit_failures=False)
per_client = RateLimit(rule, limiter=limiter)
bearer_limited = BearerAuth(
    manager=manager, realm="bench", audit_failures=False, rate_limit=per_client
)

bare_app = FastAPI()
jwt_app = FastAPI()
jwt_rl_app = FastAPI()
jwt_rl1_app = FastAPI()
jwt_mw_app = FastAPI()
jwt_mw_app.add_middleware(RateLimitMiddleware, rule=rule, limiter=limiter)
jwt_amw_app = FastAPI()
jwt_amw_app.add_middleware(
    BearerAuthMiddleware, bearer=bearer, scopes=["read"], rate_limit=rule, limiter=limiter
)
rl_mw_app = FastAPI()
rl_mw_app.add_middleware(RateLimitMiddleware, rule=rule, limiter=limiter)
floor_app = FastAPI()
fastapi_bearer = HTTPBearer()


@bare_app.get("/bare")
async def bare() -> dict[str, bool]:
    return {"ok": True}


@jwt_app.get("/jwt")
async def jwt(token: Annotated[TokenPayload, Security(bearer, scopes=["read"])]) -> dict[str, bool]:
    return {"ok": True}


@jwt_rl_app.get("/jwt_rl", dependencies=[Depends(per_client)])
async def jwt_rl(
    token: Annotated[TokenPayload, Security(bearer, scopes=["read"])],
) -> dict[str, bool]:
    return {"ok": True}


@jwt_rl1_app.get("/jwt_rl1")
async def jwt_rl1(
    token: Annotated[TokenPayload, Security(bearer_limited, scopes=["read"])],
) -> dict[str, bool]:
    return {"ok": True}


@jwt_mw_app.get("/jwt_mw")
async def jwt_mw(
    token: Annotated[TokenPayload, Security(bearer, scopes=["read"])],
) -> dict[str, bool]:
    return {"ok": True}


@jwt_amw_app.get("/jwt_amw")
async def jwt_amw(request: Request) -> dict[str, bool]:
    return {"ok": bool(request.state.token.sub)}


@rl_mw_app.get("/rl_mw")
async def rl_mw() -> dict[str, bool]:
    return {"ok": True}


@floor_app.get("/floor")
async def floor(
    credentials: Annotated[HTTPAuthorizationCredentials, Security(fastapi_bearer, scopes=["read"])],
) -> dict[str, bool]:
    return {"ok": True}


APPS: dict[str, ASGIApp] = {
    "/rl_mw": rl_mw_app,
    "/floor": floor_app,
    "/bare": bare_app,
    "/jwt": jwt_app,
    "/jwt_rl": jwt_rl_app,
    "/jwt_rl1": jwt_rl1_app,
    "/jwt_mw": jwt_mw_app,
    "/jwt_amw": jwt_amw_app,
}


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Dispatch by exact path (lifespan and unknown paths go to the bare application)."""
    await APPS.get(scope.get("path", ""), bare_app)(scope, receive, send)

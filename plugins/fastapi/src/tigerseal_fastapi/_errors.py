"""tigerseal errors as FastAPI responses.

The dependencies of this package raise :class:`TigerSealHTTPException` (a FastAPI
``HTTPException``), so they answer correctly even without any handler installed: FastAPI's own
handler sends the status, ``{"detail": ...}`` and the ``WWW-Authenticate`` / ``Retry-After``
fields. :func:`install_exception_handlers` adds the stable ``error`` code to the body and maps
tigerseal errors raised by the application's own code (a ``RateLimitExceeded`` from
``limiter.enforce``, a ``TokenError`` from ``verify_jwt_token``) through the same table
(:func:`tigerseal.web.http_error`) instead of a bare 500.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.responses import Response
from tigerseal.errors import TigerSealError
from tigerseal.web import HTTPError, http_error

__all__ = ["TigerSealHTTPException", "install_exception_handlers", "to_http_exception"]

log = logging.getLogger("tigerseal_fastapi")


class TigerSealHTTPException(HTTPException):
    """An ``HTTPException`` that also carries tigerseal's stable ``error`` code.

    Attributes:
        error: the machine-readable code (``invalid_token``, ``rate_limited``...).
    """

    def __init__(
        self, status_code: int, error: str, detail: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(status_code=status_code, detail=detail, headers=dict(headers or {}))
        self.error = error

    @classmethod
    def from_error(cls, mapped: HTTPError) -> TigerSealHTTPException:
        """Build from a :class:`tigerseal.web.HTTPError`."""
        return cls(mapped.status, mapped.error, mapped.detail, mapped.headers)


def to_http_exception(
    exc: BaseException,
    *,
    realm: str | None = None,
    scopes: Iterable[str] | None = None,
    scheme: str = "Bearer",
) -> TigerSealHTTPException:
    """The HTTP exception for a tigerseal error (see :func:`tigerseal.web.http_error`)."""
    return TigerSealHTTPException.from_error(
        http_error(exc, realm=realm, scopes=scopes, scheme=scheme)
    )


def _response(status: int, error: str, detail: str, headers: Mapping[str, str] | None) -> Response:
    return JSONResponse({"error": error, "detail": detail}, status, headers=dict(headers or {}))


def install_exception_handlers(
    app: FastAPI, *, realm: str | None = None, echo_input: bool = False
) -> None:
    """Answer tigerseal errors with their status, code, safe message and headers.

    Args:
        app: the application.
        realm: the ``realm`` of ``WWW-Authenticate`` challenges for errors raised by the
            application's own code.
        echo_input: keep FastAPI's ``input`` member in 422 validation errors. By default it is
            left out: it repeats what the client sent, which for an :class:`EncryptedStr`
            field (or, for a missing field, the whole body holding one) is the plaintext.

    The body is ``{"error": code, "detail": message}``. The exception's own message, written
    for operators, is logged (at WARNING for 5xx, DEBUG otherwise), never sent. A 422 keeps
    FastAPI's shape (``{"detail": [{"type", "loc", "msg"...}]}``) without ``input``.
    """

    async def tigerseal_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, TigerSealHTTPException)
        return _response(exc.status_code, exc.error, str(exc.detail), exc.headers)

    async def tigerseal_error(request: Request, exc: Exception) -> Response:
        mapped = http_error(exc, realm=realm)
        level = logging.WARNING if mapped.status >= 500 else logging.DEBUG
        log.log(
            level,
            "%s %s: %s -> %d",
            request.method,
            request.url.path,
            type(exc).__name__,
            mapped.status,
            exc_info=mapped.status >= 500,
        )
        return _response(mapped.status, mapped.error, mapped.detail, mapped.headers)

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {k: v for k, v in error.items() if k not in ("input", "ctx", "url")}
            for error in exc.errors()
        ]
        return JSONResponse({"detail": jsonable_encoder(errors)}, 422)

    app.add_exception_handler(TigerSealHTTPException, tigerseal_http)
    app.add_exception_handler(TigerSealError, tigerseal_error)
    if not echo_input:
        app.add_exception_handler(RequestValidationError, validation_error)

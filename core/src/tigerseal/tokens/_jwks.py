"""Verify tokens issued by an external identity provider, with keys from its JWKS URL.

::

    from tigerseal.tokens import RemoteJWKSVerifier

    verifier = RemoteJWKSVerifier(
        "https://idp.example.com/.well-known/jwks.json",
        issuer="https://idp.example.com/",
        audience="api://orders",
        algorithms=["RS256", "ES256"],
    )
    payload = verifier.verify(token, required_scopes=["orders:read"])
    payload = await verifier.averify(token)  # in async code: a fetch runs off the event loop

What it guarantees:

* **Algorithm pinning.** Only the configured ``algorithms`` are accepted; ``none`` and the
  HMAC algorithms (``HS*``) cannot be configured (a public key must never serve as an HMAC
  secret). The token header's ``alg`` must be allowed, must equal the key's ``alg`` when the
  JWK names one, and must fit the key's type (``RS*``/``PS*``: RSA, ``ES256``: EC P-256...).
  Keys whose ``use`` is not ``sig``, or whose ``key_ops`` lacks ``verify``, are ignored; an
  RSA key shorter than 2048 bits is refused.
* **Claims.** ``iss`` and ``aud`` must match the configured values and ``exp`` must be present
  and not past (``leeway`` seconds of clock skew); ``nbf``/``iat`` are checked when present.
* **Caching.** The key set is kept for ``Cache-Control: max-age`` seconds if the response says
  so, clamped to ``[min_ttl, max_ttl]``, else ``ttl``. A token with an unknown ``kid`` causes
  at most one refetch per ``refetch_interval`` seconds, so tokens with random ``kid`` values
  cannot make this process hammer the identity provider; a failed fetch is not retried
  sooner either.
* **Outages.** While the identity provider is unreachable, cached keys keep verifying until
  their expiry; after that :class:`~tigerseal.errors.ProviderUnavailable` says so (a 503, not
  a 401, in the web integrations).
* **Transport.** ``https://`` only (redirects too), except ``http://`` to ``127.0.0.1``,
  ``::1`` or ``localhost`` (tests, a sidecar); ``timeout`` seconds for the whole fetch
  (connect, headers and body together: a server dripping bytes cannot hold it longer); a
  response larger than ``max_bytes`` or with more than ``max_keys`` keys is refused.

Parsing and signature checks are PyJWT's (``PyJWKSet``, ``PyJWK``, ``jwt.decode``).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import http.client
import json
import re
import socket
import threading
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tigerseal._text import escape_control
from tigerseal.errors import (
    ConfigError,
    ProviderUnavailable,
    TokenExpiredError,
    TokenInvalidError,
)

if TYPE_CHECKING:
    from jwt import PyJWK

    from tigerseal.tokens import TokenPayload

__all__ = ["ALLOWED_ALGORITHMS", "RemoteJWKSVerifier"]

#: Asymmetric algorithms that may be pinned, and the key type (and curve) each needs.
ALLOWED_ALGORITHMS: dict[str, tuple[str, str | None]] = {
    "RS256": ("RSA", None),
    "RS384": ("RSA", None),
    "RS512": ("RSA", None),
    "PS256": ("RSA", None),
    "PS384": ("RSA", None),
    "PS512": ("RSA", None),
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
    "ES512": ("EC", "P-521"),
    "EdDSA": ("OKP", "Ed25519"),
}
_MIN_RSA_BITS = 2048
#: The keys published under one ``kid`` (usually one), and a parsed set by ``kid``.
_Candidates = tuple[dict[str, Any], ...]
_KeySet = dict[str | None, _Candidates]
_LOCAL_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)\"?", re.IGNORECASE)
_NO_CACHE = re.compile(r"(?:^|[,\s])(?:no-store|no-cache)(?:$|[,\s=])", re.IGNORECASE)


def _check_url(url: str, what: str = "the JWKS URL") -> None:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme == "https" and host:
        return
    if parts.scheme == "http" and host in _LOCAL_HOSTS:
        return
    raise ConfigError(
        f"{what} must be https:// (http:// only to 127.0.0.1, ::1 or localhost), got "
        f"{escape_control(url, limit=200)!r}"
    )


class _HttpsOnlyRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(
        self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> Any:
        _check_url(newurl, "a redirect from the JWKS URL")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _shut(sock: socket.socket) -> None:
    # socket.socket's shutdown, not SSLSocket's: that one first drops the TLS object, which a
    # read blocked in another thread may still be using; the OS-level shutdown just ends the
    # read with an EOF, which the fetch then reports as the deadline.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Deadline:
    """Ends a whole fetch after ``seconds``: the socket timeout bounds each read, not their sum.

    A server that drips one byte per second would otherwise hold a fetch (and the refetch
    lock every verification of an unknown ``kid`` waits on) for as long as it likes. A timer
    shuts the connection's socket down at the deadline, which wakes the blocked read.
    """

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            expired = self.expired
        if expired:
            _shut(sock)

    def connection(self, base: type[http.client.HTTPConnection]) -> Any:
        deadline = self

        class Watched(base):  # type: ignore[valid-type,misc]
            def connect(self) -> None:
                super().connect()
                deadline.watch(self.sock)

        return Watched

    def opener(self) -> urllib.request.OpenerDirector:
        deadline = self

        class Http(urllib.request.HTTPHandler):
            def http_open(self, req: Any) -> Any:
                return self.do_open(deadline.connection(http.client.HTTPConnection), req)

        class Https(urllib.request.HTTPSHandler):
            def https_open(self, req: Any) -> Any:
                return self.do_open(
                    deadline.connection(http.client.HTTPSConnection),
                    req,
                    context=self._context,  # type: ignore[attr-defined]
                )

        return urllib.request.build_opener(Http(), Https(), _HttpsOnlyRedirects())

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


class RemoteJWKSVerifier:
    """Verifies JWTs signed by an identity provider whose public keys are at a JWKS URL.

    Args:
        url: the JWKS URL (``jwks_uri`` of the provider's OpenID configuration).
        issuer: the expected ``iss``.
        audience: the expected ``aud`` (one value or several accepted ones).
        algorithms: the pinned algorithms (default ``RS256`` only); asymmetric only.
        ttl: seconds to keep the key set when the response has no ``max-age``.
        min_ttl: lower bound on a response's ``max-age`` (and the TTL under ``no-cache``).
        max_ttl: upper bound on a response's ``max-age``.
        refetch_interval: at least this many seconds between fetches caused by unknown
            ``kid`` values or by failed fetches.
        timeout: seconds for a whole fetch (connect, headers and body together).
        max_bytes: largest response accepted.
        max_keys: most keys accepted in one set.
        leeway: seconds of clock skew tolerated on ``exp``, ``nbf`` and ``iat``.
        clock: time source (tests).
        fetch: replaces the HTTP fetch (tests): ``fetch(url) -> (body, cache_control)``.

    Raises:
        ConfigError: a bad URL, algorithm or bound.
    """

    def __init__(
        self,
        url: str,
        *,
        issuer: str,
        audience: str | Sequence[str],
        algorithms: Iterable[str] = ("RS256",),
        ttl: float = 300.0,
        min_ttl: float = 60.0,
        max_ttl: float = 86_400.0,
        refetch_interval: float = 30.0,
        timeout: float = 5.0,
        max_bytes: int = 256 * 1024,
        max_keys: int = 100,
        leeway: float = 30.0,
        clock: Callable[[], float] = time.time,
        fetch: Callable[[str], tuple[bytes, str | None]] | None = None,
    ) -> None:
        _check_url(url)
        algs = tuple(algorithms)
        if isinstance(algorithms, str) or not algs:
            raise ConfigError("algorithms must be a non-empty list, e.g. ['RS256']")
        for alg in algs:
            if alg not in ALLOWED_ALGORITHMS:
                raise ConfigError(
                    f"algorithm {escape_control(str(alg), limit=40)!r} cannot be pinned for a "
                    f"remote JWKS; use asymmetric ones: {', '.join(ALLOWED_ALGORITHMS)} "
                    "('none' and HS* would let anyone holding the public key forge tokens)"
                )
        if not issuer or not isinstance(issuer, str):
            raise ConfigError("issuer is required: the iss claim every token must carry")
        auds = [audience] if isinstance(audience, str) else list(audience)
        if not auds or not all(isinstance(a, str) and a for a in auds):
            raise ConfigError("audience is required: the aud value(s) this service accepts")
        if not 0 < min_ttl <= max_ttl or not min_ttl <= ttl <= max_ttl:
            raise ConfigError("need 0 < min_ttl <= ttl <= max_ttl (seconds)")
        if refetch_interval < 0 or timeout <= 0 or max_bytes < 1 or max_keys < 1 or leeway < 0:
            raise ConfigError(
                "refetch_interval and leeway must be >= 0, timeout > 0, max_bytes and max_keys >= 1"
            )
        self.url = url
        self.issuer = issuer
        self.audience: list[str] = auds
        self.algorithms = algs
        self.ttl, self.min_ttl, self.max_ttl = ttl, min_ttl, max_ttl
        self.refetch_interval = refetch_interval
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.max_keys = max_keys
        self.leeway = leeway
        self._clock = clock
        self._fetch = fetch or self._http_fetch
        self._lock = threading.Lock()
        self._keys: _KeySet = {}
        self._expires = 0.0  # when the cached set must be fetched again
        self._last_attempt = -float("inf")
        self._last_error: str | None = None
        # The fetch in progress (set under the lock): async callers wait for it without a thread.
        self._inflight: concurrent.futures.Future[None] | None = None
        self.fetches = 0  # attempts, successful or not (metrics, tests)

    # -- fetching --------------------------------------------------------------------------------
    def _http_fetch(self, url: str) -> tuple[bytes, str | None]:
        request = urllib.request.Request(  # noqa: S310 - scheme checked in _check_url
            url, headers={"Accept": "application/jwk-set+json, application/json"}
        )
        with _Deadline(self.timeout) as deadline:
            try:
                with deadline.opener().open(request, timeout=self.timeout) as response:
                    body = response.read(self.max_bytes + 1)
                    cache_control = response.headers.get("Cache-Control")
            except (OSError, http.client.HTTPException) as exc:
                if deadline.expired:
                    raise TimeoutError(f"no complete answer within {self.timeout:g}s") from None
                if isinstance(exc, OSError):
                    raise
                raise OSError(type(exc).__name__) from None  # IncompleteRead, BadStatusLine...
            if deadline.expired:  # cut short: the body may be truncated
                raise TimeoutError(f"no complete answer within {self.timeout:g}s")
        return body, cache_control

    def _load(self) -> None:
        """Fetch and parse the set (under the lock); on failure keep the old one."""
        now = self._clock()
        self._last_attempt = now
        self.fetches += 1
        where = escape_control(self.url, limit=200)
        try:
            body, cache_control = self._fetch(self.url)
        except ConfigError:
            # A redirect to http://: a failed fetch like any other, retried no sooner than
            # refetch_interval (not on every request).
            self._last_error = "redirect to a non-https URL"
            raise
        except (OSError, urllib.error.URLError, ValueError) as exc:
            self._last_error = type(exc).__name__
            why = type(exc).__name__
            if isinstance(exc, TimeoutError) and exc.args:
                why = f"{why}: {exc.args[0]}"
            raise ProviderUnavailable(
                f"cannot fetch the JWKS at {where} ({why}); tokens signed with "
                "keys not cached here cannot be verified until the identity provider answers"
            ) from None
        if len(body) > self.max_bytes:
            self._last_error = "too large"
            raise ProviderUnavailable(
                f"the JWKS at {where} is larger than {self.max_bytes} bytes; refusing it "
                "(raise max_bytes if the identity provider really publishes that many keys)"
            )
        keys = self._parse(body, where)
        ttl = self.ttl
        if cache_control:
            if _NO_CACHE.search(cache_control):
                ttl = self.min_ttl
            else:
                m = _MAX_AGE.search(cache_control)
                if m:
                    ttl = min(max(float(m.group(1)), self.min_ttl), self.max_ttl)
        self._keys = keys
        self._expires = now + ttl
        self._last_error = None

    def _parse(self, body: bytes, where: str) -> _KeySet:
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            self._last_error = "not JSON"
            raise ProviderUnavailable(f"the JWKS at {where} is not JSON") from None
        raw = data.get("keys") if isinstance(data, dict) else None
        if not isinstance(raw, list):
            self._last_error = "no keys list"
            raise ProviderUnavailable(f'the JWKS at {where} has no "keys" list')
        if len(raw) > self.max_keys:
            self._last_error = "too many keys"
            raise ProviderUnavailable(
                f"the JWKS at {where} has {len(raw)} keys, more than max_keys={self.max_keys}"
            )
        keys: _KeySet = {}
        for jwk in raw:
            if not isinstance(jwk, dict) or jwk.get("kty") not in ("RSA", "EC", "OKP"):
                continue  # symmetric or unknown keys are never usable here
            if jwk.get("use", "sig") != "sig":
                continue
            ops = jwk.get("key_ops")
            if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
                continue  # RFC 7517 4.3: a key not published for verification
            kid = jwk.get("kid")
            if kid is not None and not isinstance(kid, str):
                continue
            # A kid may name several keys (one per algorithm during a migration): keep all.
            keys[kid] = (*keys.get(kid, ()), jwk)
        return keys

    def _jwk_for(self, kid: str | None) -> _Candidates:
        """The JWK for ``kid``: cached, or after a (rate-limited) refetch."""
        now = self._clock()
        keys = self._keys
        if now < self._expires:
            jwk = self._find(keys, kid)
            if jwk is not None:
                return jwk
        with self._lock:
            now = self._clock()
            fresh = now < self._expires
            jwk = self._find(self._keys, kid) if fresh else None
            if jwk is not None:
                return jwk
            # Expired: refetch (failures are retried at most every refetch_interval).
            # Fresh but kid unknown: the provider may have rotated; refetch at most every
            # refetch_interval so random kids cannot turn into a flood of fetches.
            if now - self._last_attempt >= self.refetch_interval or (
                not fresh and self._last_error is None
            ):
                inflight: concurrent.futures.Future[None] = concurrent.futures.Future()
                inflight.set_running_or_notify_cancel()  # waiters cannot cancel it
                self._inflight = inflight
                try:
                    self._load()
                except ProviderUnavailable:
                    if not fresh:
                        raise
                    # The cached set is still valid: answer "unknown key" below.
                finally:
                    self._inflight = None
                    inflight.set_result(None)
                jwk = self._find(self._keys, kid)
                if jwk is not None:
                    return jwk
            elif not fresh:
                raise ProviderUnavailable(
                    f"the JWKS at {escape_control(self.url, limit=200)} could not be fetched "
                    f"({self._last_error}) and no valid cached keys remain; retrying at most "
                    f"every {self.refetch_interval:g}s"
                )
        raise self._unknown(kid)

    @staticmethod
    def _unknown(kid: str | None) -> TokenInvalidError:
        shown = "no kid" if kid is None else f"kid {escape_control(kid, limit=80)!r}"
        return TokenInvalidError(
            f"the token's signing key ({shown}) is not in the identity provider's JWKS"
        )

    @staticmethod
    def _find(keys: _KeySet, kid: str | None) -> _Candidates | None:
        if kid is not None:
            return keys.get(kid)
        # No kid in the token: only unambiguous with a single key in the set.
        return next(iter(keys.values())) if len(keys) == 1 else None

    def _needs_fetch(self, kid: str | None) -> bool:
        return not (self._clock() < self._expires and self._find(self._keys, kid) is not None)

    # -- verification ----------------------------------------------------------------------------
    def _header(self, token: str | bytes) -> tuple[dict[str, Any], str | None, str]:
        import jwt

        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenInvalidError("the token is not a well-formed JWT") from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise TokenInvalidError(
                f"the token's algorithm {escape_control(str(alg), limit=40)!r} is not one of "
                f"the pinned {list(self.algorithms)}"
            )
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise TokenInvalidError("the token's kid is not a string")
        return header, kid, alg

    @staticmethod
    def _pick(candidates: _Candidates, alg: str) -> dict[str, Any]:
        """The key of ``kid`` that fits ``alg`` (several when the provider reuses a kid)."""
        kty, crv = ALLOWED_ALGORITHMS[alg]
        for jwk in candidates:
            if (
                jwk.get("alg", alg) == alg
                and jwk.get("kty") == kty
                and (crv is None or jwk.get("crv") == crv)
            ):
                return jwk
        return candidates[0]  # none fits: _key says why

    def _key(self, jwk: dict[str, Any], alg: str) -> PyJWK:
        from jwt import PyJWK, PyJWTError

        kty, crv = ALLOWED_ALGORITHMS[alg]
        key_alg = jwk.get("alg")
        if key_alg is not None and key_alg != alg:
            raise TokenInvalidError(
                f"the token says alg {alg!r} but its key is for "
                f"{escape_control(str(key_alg), limit=40)!r}"
            )
        if jwk.get("kty") != kty or (crv is not None and jwk.get("crv") != crv):
            raise TokenInvalidError(
                f"the token's algorithm {alg!r} does not fit its key (kty "
                f"{escape_control(str(jwk.get('kty')), limit=10)!r})"
            )
        try:
            with warnings.catch_warnings():  # short RSA keys: refused below, not warned about
                warnings.simplefilter("ignore")
                key = PyJWK(jwk, algorithm=alg)
        except PyJWTError:
            raise TokenInvalidError(
                "the identity provider's key for this token is unusable"
            ) from None
        bits = getattr(key.key, "key_size", None)
        if kty == "RSA" and (not isinstance(bits, int) or bits < _MIN_RSA_BITS):
            raise TokenInvalidError(
                f"the identity provider's RSA key for this token has {bits} bits; "
                f"at least {_MIN_RSA_BITS} are required (NIST SP 800-131A)"
            )
        return key

    def _decode(
        self, token: str | bytes, header: dict[str, Any], jwk: _Candidates, alg: str
    ) -> TokenPayload:
        import jwt

        from tigerseal.tokens import TokenPayload

        key = self._key(self._pick(jwk, alg), alg)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenExpiredError("the token has expired; get a new one") from None
        except jwt.InvalidAudienceError:
            raise TokenInvalidError("the token is not for this service (aud)") from None
        except jwt.InvalidIssuerError:
            raise TokenInvalidError("the token is not from the configured issuer (iss)") from None
        except jwt.InvalidSignatureError:
            raise TokenInvalidError("the token signature does not verify") from None
        except jwt.MissingRequiredClaimError as exc:
            raise TokenInvalidError(f"the token lacks the {exc.claim!r} claim") from None
        except jwt.PyJWTError as exc:
            raise TokenInvalidError(f"the token is invalid ({type(exc).__name__})") from None
        return TokenPayload(claims, header)

    @staticmethod
    def _scopes(payload: TokenPayload, required_scopes: Iterable[str]) -> TokenPayload:
        required = tuple(required_scopes)
        if required:
            from tigerseal.tokens import validate_token_scopes

            validate_token_scopes(payload, required)
        return payload

    def verify(self, token: str | bytes, *, required_scopes: Iterable[str] = ()) -> TokenPayload:
        """Verify a token and return its claims.

        Raises:
            TokenExpiredError: ``exp`` has passed.
            TokenInvalidError: malformed, unpinned or mismatched algorithm, unknown key, bad
                signature, wrong issuer or audience, a required claim missing.
            InsufficientScopeError: a required scope is missing.
            ProviderUnavailable: the key set cannot be fetched and no valid cached copy exists.
        """
        header, kid, alg = self._header(token)
        jwk = self._jwk_for(kid)
        return self._scopes(self._decode(token, header, jwk, alg), required_scopes)

    async def averify(
        self, token: str | bytes, *, required_scopes: Iterable[str] = ()
    ) -> TokenPayload:
        """:meth:`verify` for ``async def`` code: a fetch runs in tigerseal's I/O pool.

        With the key cached (the usual case) the check runs on the event loop: an RS256 or
        ES256 signature check takes well under a millisecond. An unknown ``kid`` that cannot
        cause a refetch is refused on the loop too, and a call arriving during another's fetch
        waits for it without a thread, so tokens with random ``kid`` values never occupy the
        I/O pool the key providers share.
        """
        header, kid, alg = self._header(token)
        if self._needs_fetch(kid):
            jwk = await self._ajwk_for(kid)
        else:
            jwk = self._jwk_for(kid)
        return self._scopes(self._decode(token, header, jwk, alg), required_scopes)

    async def _ajwk_for(self, kid: str | None) -> _Candidates:
        """:meth:`_jwk_for` for the event loop: a pool thread only when this call may fetch.

        Tokens with unknown (random) ``kid`` values must not fill tigerseal's I/O pool, which
        the key providers share: a miss that cannot refetch is answered here, and while
        another caller fetches this one waits for that fetch without holding a thread.
        """
        import asyncio

        inflight = self._inflight
        if inflight is not None:
            await asyncio.wrap_future(inflight)
        if self._clock() < self._expires:
            jwk = self._find(self._keys, kid)
            if jwk is not None:
                return jwk
            if self._clock() - self._last_attempt < self.refetch_interval:
                raise self._unknown(kid)  # no refetch due: what _jwk_for would answer
        from tigerseal.aio._pools import run_io

        return await run_io(self._jwk_for, kid)

    def refresh(self) -> None:
        """Fetch the key set now (e.g. at start-up, to fail fast on a wrong URL)."""
        with self._lock:
            self._load()

    @property
    def metrics(self) -> dict[str, Any]:
        """Cached keys, fetch attempts, seconds until the cache expires, last error."""
        return {
            "keys": sum(len(c) for c in self._keys.values()),
            "fetches": self.fetches,
            "expires_in": max(0.0, self._expires - self._clock()),
            "last_error": self._last_error,
        }

    def __repr__(self) -> str:
        return (
            f"RemoteJWKSVerifier({escape_control(self.url, limit=200)!r}, "
            f"issuer={self.issuer!r}, algorithms={list(self.algorithms)})"
        )

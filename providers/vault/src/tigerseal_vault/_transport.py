"""HTTP to Vault through hvac's adapter: pooled, one session per thread, bounded by a timeout.

hvac's transit methods cannot send ``associated_data`` and raise on any non-2xx status (which
loses the per-item results of a batch), so every request goes through the client's adapter
(``client.adapter.request(..., raise_exception=False)``) and the status is judged here and in
the provider.

Thread safety: requests documents no thread-safety contract for ``Session``, so each thread gets
its own hvac client and session (a keep-alive pool of a few connections). A client injected by
the caller is shared instead, behind a lock.

Outages become :class:`~tigerseal.errors.ProviderUnavailable` with a remedy: connection refused,
timeouts (a frozen server never hangs a caller beyond ``timeout``), TLS failures, a sealed
server, 5xx and 429 answers. Nothing here ever puts a token in a message.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tigerseal.errors import ProviderUnavailable

from tigerseal_vault._errors import translate

if TYPE_CHECKING:
    import hvac  # type: ignore[import-untyped]

__all__ = ["Transport", "VaultResponse"]

#: Connections kept alive per thread (a thread sends one request at a time; two covers
#: a renewal racing an operation).
_POOL_SIZE = 2

#: Answers worth another try: rate limited, overloaded or failing over, a gateway in between.
_TRANSIENT = frozenset({429, 500, 502, 503, 504})
#: Answers that say the request was not acted on: safe to repeat even when not idempotent
#: (a 502/504 from a proxy may come after Vault rotated a key; a 500 after it wrote).
_NOT_ACTED_ON = frozenset({429, 503})
#: Requests sent at most per call (the first included).
MAX_ATTEMPTS = 4
#: Full-jitter exponential backoff: a random pause in [0, min(cap, base * 2**retry)] seconds.
_BACKOFF_BASE = 0.1
_BACKOFF_CAP = 2.0

_UNSEAL_REMEDY = (
    "unseal it (`bao operator unseal` or `vault operator unseal` with the unseal keys, or "
    "check the auto-unseal KMS), then retry"
)


@dataclass(frozen=True, slots=True)
class VaultResponse:
    """A Vault answer: HTTP status, the JSON body's ``data`` / ``auth`` and its ``errors``."""

    status: int
    data: dict[str, Any] = field(default_factory=dict)
    auth: dict[str, Any] | None = None
    errors: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def error_text(self) -> str:
        """Vault's error strings, flattened to one line (they never contain a token)."""
        text = "; ".join(" ".join(e.split()) for e in self.errors)
        return text.replace("1 error occurred: * ", "")


class Transport:
    """Sends requests to one Vault server.

    Args:
        addr: server URL (``https://vault:8200``).
        namespace: sent as ``X-Vault-Namespace`` when set.
        verify: TLS verification: ``True``, ``False`` or a CA bundle / directory path.
        cert: ``(client_cert, client_key)`` for TLS client auth.
        timeout: seconds for connecting and for each read.
        client: an hvac client to use (shared by all threads behind a lock) instead of
            building one per thread.
    """

    def __init__(
        self,
        *,
        addr: str,
        namespace: str | None,
        verify: bool | str,
        cert: tuple[str, str] | None,
        timeout: float,
        client: hvac.Client | None = None,
    ) -> None:
        self.addr = addr.rstrip("/")
        self.namespace = namespace
        self.verify = verify
        self.cert = cert
        self.timeout = timeout
        self._shared = client
        self._shared_lock = threading.Lock()
        self._local = threading.local()
        self._clients: weakref.WeakSet[Any] = weakref.WeakSet()
        self._closed = False
        self._count_lock = threading.Lock()
        self.requests = 0  # HTTP requests sent, for metrics and benchmarks

    # -- clients -----------------------------------------------------------------------------
    def _thread_client(self) -> hvac.Client:
        client: hvac.Client | None = getattr(self._local, "client", None)
        if client is None:
            client = self._new_client()
            self._local.client = client
            self._clients.add(client)
        return client

    def _new_client(self) -> hvac.Client:
        import hvac
        import requests
        from requests.adapters import HTTPAdapter

        session = requests.Session()
        # requests re-reads proxy variables on every request (about an eighth of this client's
        # CPU per call in profiles); read them once, the way requests would.
        session.trust_env = False
        session.proxies = requests.utils.get_environ_proxies(self.addr)
        verify = self.verify
        if verify is True:
            verify = (
                os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
            )
        # hvac copies a truthy session.verify over its own verify argument: set it here.
        session.verify = verify
        session.cert = self.cert
        pool = HTTPAdapter(pool_connections=1, pool_maxsize=_POOL_SIZE, max_retries=0)
        session.mount("http://", pool)
        session.mount("https://", pool)
        return hvac.Client(
            url=self.addr,
            token="",  # never None: hvac would fall back to ~/.vault-token
            namespace=self.namespace,
            verify=verify,
            cert=self.cert,
            timeout=self.timeout,
            session=session,
            adapter=hvac.adapters.RawAdapter,
        )

    def close(self) -> None:
        """Close the connection pools this transport opened (not an injected client's)."""
        self._closed = True
        for client in list(self._clients):
            with contextlib.suppress(Exception):
                client.adapter.close()
        self._clients = weakref.WeakSet()
        self._local = threading.local()

    # -- requests ----------------------------------------------------------------------------
    def call(
        self,
        method: str,
        path: str,
        *,
        token: str,
        body: dict[str, Any] | None = None,
        idempotent: bool = True,
        accept_errors: bool = False,
    ) -> VaultResponse:
        """Send one request; return its answer, or raise for outages.

        A connection that fails before an answer (a keep-alive socket the server closed while it
        restarted) is retried once for idempotent requests. Transient answers (429, 500, 502,
        503, 504; for non-idempotent requests only 429 and 503, which say the request was not
        acted on) are retried up to :data:`MAX_ATTEMPTS` sends with full-jitter exponential
        backoff (honouring a ``Retry-After`` of a few seconds), as long as the retry starts
        within ``timeout`` of the call's start. A timeout is never retried, so a call takes at
        most about ``2 * timeout``. A sealed server (503 "sealed") is not retried: it needs an
        operator. With ``accept_errors``, 5xx answers (other than "sealed") are returned
        instead of raised, and 500 is not retried: token renewal answers 500 past a token's
        max TTL.

        Raises:
            ProviderUnavailable: unreachable, timed out, TLS failure, sealed, 5xx or 429.
        """
        import requests

        deadline = time.monotonic() + self.timeout
        reconnects = 1 if idempotent else 0
        sent = 0
        while True:
            try:
                raw = self._send(method, path, token=token, body=body)
            except (requests.exceptions.Timeout, requests.exceptions.SSLError) as exc:
                raise self._translate(exc, method, path) from None
            except requests.exceptions.ConnectionError as exc:
                if reconnects:
                    reconnects -= 1
                    continue
                raise self._translate(exc, method, path) from None
            sent += 1
            if sent < MAX_ATTEMPTS and _worth_retrying(raw, idempotent, accept_errors):
                pause = _backoff(sent, raw)
                if time.monotonic() + pause < deadline:
                    time.sleep(pause)
                    continue
            return self._judge(method, path, raw, accept_errors=accept_errors, sent=sent)

    def _translate(self, exc: Exception, method: str, path: str) -> Exception:
        return translate(
            exc,
            operation=f"{method.upper()} {path}",
            key_id=path,
            addr=self.addr,
            timeout=self.timeout,
        )

    def _send(self, method: str, path: str, *, token: str, body: dict[str, Any] | None) -> Any:
        with self._count_lock:
            self.requests += 1
        kwargs: dict[str, Any] = {"raise_exception": False}
        if body is not None:
            kwargs["json"] = body
        if self._shared is not None:
            with self._shared_lock:
                adapter = self._shared.adapter
                if token:
                    adapter.token = token
                return adapter.request(method, f"/v1/{path}", **kwargs)
        adapter = self._thread_client().adapter
        adapter.token = token
        return adapter.request(method, f"/v1/{path}", **kwargs)

    def _judge(
        self, method: str, path: str, raw: Any, *, accept_errors: bool, sent: int = 1
    ) -> VaultResponse:
        if isinstance(raw, dict):  # an injected client with hvac's JSONAdapter: 200 + JSON
            return _from_json(200, raw)
        status = int(raw.status_code)
        payload: dict[str, Any] = {}
        if raw.content:
            try:
                decoded = raw.json()
            except ValueError:
                decoded = None
            if not isinstance(decoded, dict):
                raise ProviderUnavailable(
                    f"{method.upper()} {path} at {self.addr} answered HTTP {status} without a "
                    "JSON body: does VAULT_ADDR point at Vault (not a proxy or web page)?"
                )
            payload = decoded
        response = _from_json(status, payload)
        if status == 503 and any("sealed" in e.lower() for e in response.errors):
            raise ProviderUnavailable(f"Vault at {self.addr} is sealed: {_UNSEAL_REMEDY}")
        tries = f" after {sent} attempts" if sent > 1 else ""
        if status == 429:
            raise ProviderUnavailable(
                f"Vault at {self.addr} is rate limiting requests (HTTP 429{tries}): retry later "
                "or raise the rate-limit quota for this client"
            )
        if status >= 500 and not accept_errors:
            detail = response.error_text or "no detail"
            raise ProviderUnavailable(
                f"Vault at {self.addr} failed on {method.upper()} {path} with HTTP {status}"
                f"{tries} ({detail}): check the server's health (`bao status`) and its logs"
            )
        return response


def _from_json(status: int, payload: dict[str, Any]) -> VaultResponse:
    data = payload.get("data")
    auth = payload.get("auth")
    errors = payload.get("errors") or ()
    return VaultResponse(
        status=status,
        data=data if isinstance(data, dict) else {},
        auth=auth if isinstance(auth, dict) else None,
        errors=tuple(str(e) for e in errors) if isinstance(errors, list) else (str(errors),),
    )


def _worth_retrying(raw: Any, idempotent: bool, accept_errors: bool) -> bool:
    """Whether an answer is transient and the request safe to send again."""
    if isinstance(raw, dict):
        return False
    status = int(raw.status_code)
    if status not in (_TRANSIENT if idempotent else _NOT_ACTED_ON):
        return False
    if status == 500 and accept_errors:
        return False
    # A sealed server stays sealed until an operator unseals it.
    return not (status == 503 and b"sealed" in (raw.content or b"").lower())


def _backoff(retry: int, raw: Any) -> float:
    """Seconds to pause before retry number ``retry`` (full jitter; Retry-After if short)."""
    ceiling = min(_BACKOFF_CAP, _BACKOFF_BASE * 2**retry)
    pause = secrets.randbelow(int(ceiling * 1000) + 1) / 1000
    header = getattr(raw, "headers", {}).get("Retry-After", "")
    if isinstance(header, str) and header.strip().isdigit():
        pause = max(pause, min(float(header.strip()), _BACKOFF_CAP))
    return pause

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
import threading
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tigerseal.errors import ProviderUnavailable

if TYPE_CHECKING:
    import hvac  # type: ignore[import-untyped]

__all__ = ["Transport", "VaultResponse"]

#: Connections kept alive per thread (a thread sends one request at a time; two covers
#: a renewal racing an operation).
_POOL_SIZE = 2

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
        restarted) is retried once for idempotent requests; a timeout is never retried, so a
        call takes at most about ``2 * timeout``. With ``accept_errors``, 5xx answers (other
        than "sealed") are returned instead of raised: token renewal answers 500 past a
        token's max TTL.

        Raises:
            ProviderUnavailable: unreachable, timed out, TLS failure, sealed, 5xx or 429.
        """
        import requests

        attempts = 2 if idempotent else 1
        for attempt in range(attempts):
            try:
                raw = self._send(method, path, token=token, body=body)
                break
            except requests.exceptions.Timeout as exc:
                raise ProviderUnavailable(
                    f"Vault at {self.addr} did not answer within {self.timeout:g}s "
                    f"({type(exc).__name__}): check the server is up and not overloaded, or "
                    "raise the timeout (vault://...?timeout=30)"
                ) from None
            except requests.exceptions.SSLError:
                raise ProviderUnavailable(
                    f"TLS with Vault at {self.addr} failed: check VAULT_CACERT / cacert= "
                    "(the CA that signed the server certificate) and the client certificate"
                ) from None
            except requests.exceptions.ConnectionError:
                if attempt + 1 < attempts:
                    continue
                raise ProviderUnavailable(
                    f"cannot connect to Vault at {self.addr} (connection refused or reset): "
                    "check VAULT_ADDR / addr= and that the server is running"
                ) from None
        return self._judge(method, path, raw, accept_errors=accept_errors)

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

    def _judge(self, method: str, path: str, raw: Any, *, accept_errors: bool) -> VaultResponse:
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
        if status == 429:
            raise ProviderUnavailable(
                f"Vault at {self.addr} is rate limiting requests (HTTP 429): retry later or "
                "raise the rate-limit quota for this client"
            )
        if status >= 500 and not accept_errors:
            detail = response.error_text or "no detail"
            raise ProviderUnavailable(
                f"Vault at {self.addr} failed on {method.upper()} {path} with HTTP {status} "
                f"({detail}): check the server's health (`bao status`) and its logs"
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

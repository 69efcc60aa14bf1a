"""The Vault token a provider sends: static, renewed before it expires, or from AppRole.

* ``token``: the token is looked up once (``auth/token/lookup-self``) to learn its TTL; a
  renewable token is renewed (``renew-self``) when two thirds of its TTL have passed.
* ``approle``: log in with role_id + secret_id on first use; renew the token like above; log in
  again when renewal is refused or the token reached its max TTL, and once after a 403 (an
  expired or revoked token looks exactly like a policy denial: Vault answers "permission
  denied" for both).
* ``client``: an injected hvac client carries its own token; it is used as is.

Renewal happens lazily on the calling thread (no background thread to leak), under a lock so
eight threads hitting the deadline renew once. A generation number tells a thread that got a
403 whether another thread has already fetched a new token.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from tigerseal.errors import AccessDenied

from tigerseal_vault._transport import Transport

__all__ = ["AuthMethod", "Authenticator"]

AuthMethod = Literal["token", "approle", "client"]

#: Renew when this share of the TTL has passed (Vault Agent uses ~2/3 as well).
_RENEW_AT = 2 / 3


@dataclass(frozen=True, slots=True)
class _TokenState:
    token: str
    generation: int
    renewable: bool = False
    renew_at: float | None = None  # monotonic time; None: never renew
    ttl: float = 0.0


class Authenticator:
    """Hands out the current token and keeps it fresh. Thread-safe.

    Args:
        transport: how to reach Vault.
        method: ``token``, ``approle`` or ``client``.
        token: the static token (method ``token``).
        role_id: AppRole role_id (method ``approle``).
        secret_id: AppRole secret_id (method ``approle``).
        approle_mount: where AppRole is mounted (``auth/<mount>/login``).
        clock: monotonic clock (injectable for tests).
    """

    def __init__(
        self,
        transport: Transport,
        *,
        method: AuthMethod,
        token: str | None = None,
        role_id: str | None = None,
        secret_id: str | None = None,
        approle_mount: str = "approle",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._transport = transport
        self.method: AuthMethod = method
        self._token = token or ""
        self._role_id = role_id or ""
        self._secret_id = secret_id or ""
        self.approle_mount = approle_mount.strip("/")
        self._clock = clock
        self._lock = threading.Lock()
        self._state: _TokenState | None = None
        self._generation = 0
        self.logins = 0
        self.renewals = 0

    def __repr__(self) -> str:
        return f"<Authenticator {self.method}>"

    # -- public ------------------------------------------------------------------------------
    def current(self) -> tuple[str, int]:
        """The token to send now and its generation; logs in or renews first if due."""
        state = self._state
        if state is None or (state.renew_at is not None and self._clock() >= state.renew_at):
            with self._lock:
                self._refresh_locked()
                state = self._state
        if state is None:  # pragma: no cover - _refresh_locked always sets a state or raises
            raise AccessDenied("no Vault token is available")
        return state.token, state.generation

    def after_forbidden(self, generation: int) -> bool:
        """Called after a 403. Returns whether a different token is now available to retry."""
        if self.method != "approle":
            return False
        with self._lock:
            state = self._state
            if state is not None and state.generation != generation:
                return True  # another thread already logged in again
            self._login_locked()
            return True

    def token_is_valid(self) -> bool:
        """Whether Vault still accepts the current token (``lookup-self`` answers 200)."""
        token, _ = self.current()
        return self._transport.call("GET", "auth/token/lookup-self", token=token).ok

    # -- internals ---------------------------------------------------------------------------
    def _set(self, token: str, *, renewable: bool, ttl: float) -> None:
        self._generation += 1
        renew_at = self._clock() + ttl * _RENEW_AT if ttl > 0 else None
        self._state = _TokenState(token, self._generation, renewable, renew_at, ttl)

    def _refresh_locked(self) -> None:
        state = self._state
        if state is None:
            if self.method == "approle":
                self._login_locked()
            elif self.method == "token":
                self._lookup_locked()
            else:
                self._set("", renewable=False, ttl=0)
            return
        if state.renew_at is None or self._clock() < state.renew_at:
            return  # another thread renewed while this one waited for the lock
        if state.renewable and self._renew_locked(state):
            return
        if self.method == "approle":
            self._login_locked()
        else:
            # A static token that cannot be renewed any more: use it until Vault refuses it,
            # then the caller reports "expired" with the remedy.
            self._state = replace(state, renew_at=None)

    def _lookup_locked(self) -> None:
        resp = self._transport.call("GET", "auth/token/lookup-self", token=self._token)
        if not resp.ok:
            # Unknown TTL (invalid token, or no default policy): never renew; a refused
            # operation is classified later with a remedy.
            self._set(self._token, renewable=False, ttl=0)
            return
        ttl = float(resp.data.get("ttl") or 0)
        self._set(self._token, renewable=bool(resp.data.get("renewable")), ttl=ttl)

    def _renew_locked(self, state: _TokenState) -> bool:
        resp = self._transport.call(
            "POST", "auth/token/renew-self", token=state.token, body={}, accept_errors=True
        )
        if not resp.ok or resp.auth is None:
            return False
        self.renewals += 1
        ttl = float(resp.auth.get("lease_duration") or 0)
        # Vault caps renewals at the token's max TTL: a shorter lease than before means the end
        # is near, so let the next refresh log in again instead of renewing.
        renewable = bool(resp.auth.get("renewable")) and ttl >= state.ttl
        token = str(resp.auth.get("client_token") or state.token)
        self._generation += 1
        renew_at = self._clock() + ttl * _RENEW_AT if ttl > 0 else None
        self._state = _TokenState(token, self._generation, renewable, renew_at, ttl)
        if self.method == "token":
            self._token = token
        return True

    def _login_locked(self) -> None:
        path = f"auth/{self.approle_mount}/login"
        # Not retried on a dropped connection: a secret_id with a use limit must not be spent
        # twice by one login.
        resp = self._transport.call(
            "POST",
            path,
            token="",
            body={"role_id": self._role_id, "secret_id": self._secret_id},
            idempotent=False,
        )
        if not resp.ok or resp.auth is None or not resp.auth.get("client_token"):
            detail = resp.error_text or f"HTTP {resp.status}"
            raise AccessDenied(
                f"AppRole login at {path} on {self._transport.addr} failed ({detail}): check "
                "the role_id and secret_id (VAULT_ROLE_ID / VAULT_SECRET_ID or the variables "
                "named by role_id_var= / secret_id_var=); a secret_id may have expired or "
                "reached its use limit"
            )
        self.logins += 1
        auth = resp.auth
        self._set(
            str(auth["client_token"]),
            renewable=bool(auth.get("renewable")),
            ttl=float(auth.get("lease_duration") or 0),
        )

"""Sign-in: verify a password, upgrade its hash, audit failures, lock out brute force.

:class:`LoginGuard` does for any framework what django-axes does for Django:

* failures are counted per user name and per client address, in the rate limiter's storage
  (``memory://`` in one process, ``redis://`` shared by every worker), over a sliding window;
* after ``max_failures_per_user`` failures for a name, or ``max_failures_per_ip`` from an
  address, sign-in is refused with :class:`~tigerseal.errors.LoginLockedError` until the oldest
  failure leaves the window; no password is checked meanwhile;
* a successful sign-in clears the user's failures (not the address's: an attacker holding one
  account must not reset the counter for guessing others);
* the outcome does not tell whether a user exists: an unknown user costs one hash of a dummy
  password, counts failures under its name and is locked out the same way;
* a correct password whose hash is outdated (scheme, cost or pepper changed) is re-hashed and
  handed to ``on_rehash`` to be stored;
* failures and lockouts are written to the audit trail (``authn_login_fail``,
  ``authn_login_lock``).

Verification burns CPU by design (argon2id); in an async application run
:meth:`LoginGuard.authenticate` in a worker thread (``tigerseal_fastapi`` does).
"""

from __future__ import annotations

import logging
import threading
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tigerseal._text import escape_control
from tigerseal.errors import ConfigError, InvalidCredentialsError, LoginLockedError
from tigerseal.ratelimit.storage_keys import login_failures_key
from tigerseal.spi.services import RateLimitDecision, RateLimitPolicy

if TYPE_CHECKING:
    from tigerseal.passwords._context import PasswordContext
    from tigerseal.spi.services import RateLimitStorage

__all__ = ["AuditHook", "LoginGuard", "LoginResult"]

log = logging.getLogger(__name__)

#: ``(event_type, fields)``; fields are keyword arguments of ``audit_security_event``.
AuditHook = Callable[[str, Mapping[str, Any]], None]

_LOCKED_MESSAGE = "too many failed sign-in attempts; try again later"
_FAILED_MESSAGE = "the username or password is wrong"


def _default_username_key(username: str) -> str:
    # Case, compatibility forms and surrounding space do not make another account in most
    # applications (Django's normalize_username applies NFKC; many lookups are
    # case-insensitive); without folding, "Admin", "ADMIN", "admin " and the fullwidth
    # "\uff41dmin" would each get their own failure budget. NFKC after casefold too: folding
    # can leave a string that is not normalised (Unicode's NFKC_Casefold, approximately).
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", username).casefold())
    return folded.strip()


def _audit_trail(event_type: str, fields: Mapping[str, Any]) -> None:
    from tigerseal.audit import audit_security_event

    audit_security_event(event_type, **fields)


@dataclass(frozen=True, slots=True)
class LoginResult:
    """A successful sign-in.

    Attributes:
        username: the name as given.
        rehashed: whether the stored hash was outdated and replaced (``new_hash``).
        new_hash: the replacement hash (already passed to ``on_rehash``), or ``None``.
    """

    username: str
    rehashed: bool = False
    new_hash: str | None = None


class LoginGuard:
    """Password sign-in with rehash, audit and lockout (see the module docs).

    Args:
        max_failures_per_user: failures of one user name that lock it.
        max_failures_per_ip: failures from one client address that lock it.
        lockout_seconds: the window failures are counted in; a lock lasts until the oldest
            failure in it is this old.
        storage: where failures are counted (default: the process-wide rate limiter's,
            ``TIGERSEAL_RATE_LIMIT_STORAGE``).
        passwords: the password context (default: the process-wide one).
        audit: called for each audited event; default: the audit trail; ``None``: no audit.
        username_key: maps a user name to the name its failures are counted under (default:
            NFKC-normalised, case-folded and stripped).

    Raises:
        ConfigError: a limit is below 1 or the window is not a positive number of seconds.
    """

    def __init__(
        self,
        *,
        max_failures_per_user: int = 5,
        max_failures_per_ip: int = 20,
        lockout_seconds: float = 900.0,
        storage: RateLimitStorage | None = None,
        passwords: PasswordContext | None = None,
        audit: AuditHook | None = _audit_trail,
        username_key: Callable[[str], str] = _default_username_key,
    ) -> None:
        for name, value in (
            ("max_failures_per_user", max_failures_per_user),
            ("max_failures_per_ip", max_failures_per_ip),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a whole number >= 1, got {value!r}")
        self.user_policy = RateLimitPolicy(
            max_failures_per_user, lockout_seconds, "sliding_window_log"
        )
        self.ip_policy = RateLimitPolicy(max_failures_per_ip, lockout_seconds, "sliding_window_log")
        self._storage = storage
        self._passwords = passwords
        self._audit_hook = audit
        self._username_key = username_key
        self._lock = threading.Lock()
        self.blocked = 0  # attempts refused while locked (not audited one by one)

    # -- collaborators ---------------------------------------------------------------------
    @property
    def storage(self) -> RateLimitStorage:
        """Where failures are counted."""
        storage = self._storage
        if storage is None:
            from tigerseal.ratelimit import get_rate_limiter

            storage = self._storage = get_rate_limiter().storage
        return storage

    @property
    def passwords(self) -> PasswordContext:
        """The password context verifying and re-hashing."""
        if self._passwords is not None:
            return self._passwords
        from tigerseal.passwords._context import get_password_context

        return get_password_context()

    def _keys(self, username: str, client_ip: str) -> tuple[str, str]:
        return (
            login_failures_key("u", self._username_key(username)),
            login_failures_key("i", client_ip),
        )

    # -- the checks ------------------------------------------------------------------------
    def lockout(self, username: str, client_ip: str) -> float | None:
        """Seconds until sign-in for ``username`` from ``client_ip`` unlocks; ``None``: open."""
        user_key, ip_key = self._keys(username, client_ip)
        waits = [
            d.retry_after
            for d in (
                self.storage.peek(user_key, self.user_policy),
                self.storage.peek(ip_key, self.ip_policy),
            )
            if not d.allowed
        ]
        return max(waits) if waits else None

    def check(self, username: str, client_ip: str) -> None:
        """Raise :class:`LoginLockedError` if sign-in is locked for this user or address."""
        wait = self.lockout(username, client_ip)
        if wait is not None:
            with self._lock:
                self.blocked += 1
            raise LoginLockedError(_LOCKED_MESSAGE, retry_after=wait)

    def authenticate(
        self,
        username: str,
        password: str,
        stored_hash: str | None,
        *,
        client_ip: str,
        on_rehash: Callable[[str], object] | None = None,
    ) -> LoginResult:
        """Sign ``username`` in with ``password``.

        Args:
            username: the name the client sent (known or not).
            password: the password the client sent.
            stored_hash: the user's stored hash; ``None`` when there is no such user (a
                dummy hash is verified so the answer takes as long).
            client_ip: the client's address (see :class:`TrustedProxies`).
            on_rehash: called with the new hash when the stored one is outdated; an error in
                it is logged and does not fail the sign-in.

        Returns:
            The result of a successful sign-in.

        Raises:
            LoginLockedError: too many recent failures for this user or address.
            InvalidCredentialsError: unknown user or wrong password (not saying which).
            PasswordError: ``stored_hash`` is malformed (a server-side problem).
        """
        self.check(username, client_ip)
        context = self.passwords
        new_hash: str | None = None
        if stored_hash is None:
            ok = context.verify(password, None)  # the dummy hash: same work as a real user
        else:
            ok, new_hash = context.verify_and_update(password, stored_hash)
        if not ok:
            self.record_failure(username, client_ip)
            raise InvalidCredentialsError(_FAILED_MESSAGE)
        self.record_success(username, client_ip)
        if new_hash is not None and on_rehash is not None:
            try:
                on_rehash(new_hash)
            except Exception:
                # The user proved the password; failing to store the upgrade only delays it.
                log.warning("could not store the upgraded password hash", exc_info=True)
        return LoginResult(username, new_hash is not None, new_hash)

    def record_failure(self, username: str, client_ip: str) -> RateLimitDecision:
        """Count a failed sign-in (also for failures decided elsewhere, e.g. a wrong OTP).

        Returns:
            The user name's counter after this failure (``remaining`` failures before lock).
        """
        user_key, ip_key = self._keys(username, client_ip)
        user = self.storage.acquire(user_key, self.user_policy)
        address = self.storage.acquire(ip_key, self.ip_policy)
        shown = escape_control(username, limit=128)
        self._audit(
            "authn_login_fail",
            {"user_id": shown, "source_ip": client_ip, "risk_level": "medium"},
        )
        # acquire() admits the N-th failure with 0 left: the lock starts now.
        for what, decision, policy in (
            ("user", user, self.user_policy),
            ("ip", address, self.ip_policy),
        ):
            if decision.allowed and decision.remaining == 0:
                self._audit(
                    "authn_login_lock",
                    {
                        "user_id": shown,
                        "source_ip": client_ip,
                        "risk_level": "high",
                        "details": {
                            "locked": what,
                            "failures": policy.limit,
                            "window_seconds": policy.window,
                        },
                    },
                )
        return user

    def record_success(self, username: str, client_ip: str) -> None:
        """Clear the user name's failures (the address keeps its count)."""
        user_key, _ = self._keys(username, client_ip)
        self.storage.reset(user_key)

    def unlock(self, *, username: str | None = None, client_ip: str | None = None) -> None:
        """Forget the failures of a user name and/or an address (an administrator's reset)."""
        if username is not None:
            self.storage.reset(login_failures_key("u", self._username_key(username)))
        if client_ip is not None:
            self.storage.reset(login_failures_key("i", client_ip))

    def _audit(self, event_type: str, fields: Mapping[str, Any]) -> None:
        hook = self._audit_hook
        if hook is None:
            return
        try:
            hook(event_type, fields)
        except Exception:
            # Sign-in must keep working when the audit trail cannot be written.
            log.warning("could not audit %s", event_type, exc_info=True)

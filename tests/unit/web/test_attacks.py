"""Red-team checks of tigerseal.web: what an attacker or a typo'd configuration can do."""

from __future__ import annotations

import pytest
from tigerseal.errors import LoginLockedError
from tigerseal.passwords import Argon2Hasher
from tigerseal.passwords._context import PasswordContext
from tigerseal.ratelimit import MemoryRateLimitStorage
from tigerseal.web import LoginGuard


def _guard() -> LoginGuard:
    cheap = Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1)
    return LoginGuard(
        max_failures_per_user=2,
        max_failures_per_ip=1000,
        storage=MemoryRateLimitStorage(),
        passwords=PasswordContext("argon2", hashers={"argon2": cheap}),
        audit=None,
    )


@pytest.mark.parametrize(
    "variant",
    [
        "\uff41\uff44\uff4d\uff49\uff4e",  # fullwidth "admin": NFKC folds it (as Django does)
        "\uff21dmin",  # fullwidth capital A
        "admin\u00a0",  # no-break space: NFKC makes it a space, then stripped
        "ADMİN".replace("İ", "I"),
    ],
)
def test_unicode_variants_of_a_name_share_its_failure_budget(variant: str) -> None:
    guard = _guard()
    for _ in range(2):
        guard.record_failure("admin", "192.0.2.1")
    with pytest.raises(LoginLockedError):
        guard.check(variant, "192.0.2.2")


@pytest.mark.parametrize("peer", ["", None, "/run/app.sock"])
def test_behind_a_unix_socket_proxy_clients_are_told_apart_when_it_is_trusted(
    peer: str | None,
) -> None:
    # gunicorn/werkzeug behind nginx on a Unix socket: REMOTE_ADDR is no IP address. Without a
    # way to trust that peer every client was one id ("" or "unknown"): one per-IP lockout
    # (20 failures from anyone) locked sign-in for everybody.
    from tigerseal.web import TrustedProxies

    proxies = TrustedProxies(["unix"])
    assert proxies.client_ip(peer, "198.51.100.1, 203.0.113.5") == "203.0.113.5"
    assert proxies.client_ip(peer, ["203.0.113.9"]) == "203.0.113.9"
    assert proxies.client_ip(peer, "not-an-ip") == "unknown"
    assert proxies.client_ip(peer, None) == "unknown"
    # An IP peer is not trusted by "unix": its header is ignored.
    assert proxies.client_ip("192.0.2.7", "203.0.113.5") == "192.0.2.7"


def test_a_non_ip_peer_is_not_trusted_unless_unix_is_listed() -> None:
    from tigerseal.web import TrustedProxies

    assert TrustedProxies(["10.0.0.1"]).client_ip("", "203.0.113.5") == "unknown"
    assert TrustedProxies().client_ip("", "203.0.113.5") == "unknown"


@pytest.mark.parametrize("password", ["", "x" * 5000])
@pytest.mark.parametrize("known", [True, False])
def test_an_empty_or_oversized_password_is_a_counted_wrong_password(
    password: str, known: bool
) -> None:
    # It raised PasswordError (a 500), uncounted by the lockout.
    from tigerseal.errors import InvalidCredentialsError

    guard = _guard()
    stored = guard.passwords.hash("pw-of-ada") if known else None
    for _ in range(2):
        with pytest.raises(InvalidCredentialsError):
            guard.authenticate("ada", password, stored, client_ip="192.0.2.1")
    with pytest.raises(LoginLockedError):
        guard.check("ada", "192.0.2.1")

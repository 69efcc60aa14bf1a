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

"""Password policy and generation."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tigerseal import check_password_policy, generate_secure_password
from tigerseal.errors import PasswordError, PasswordPolicyError
from tigerseal.passwords import PasswordPolicy, is_common_password
from tigerseal.passwords._policy import _common


def test_the_shipped_list_is_small_and_lowercase() -> None:
    words = _common()
    assert 1000 <= len(words) <= 5000
    assert all(w == w.lower() and w.strip() == w for w in words)


@pytest.mark.parametrize(
    "password",
    ["password", "Password123!", "P@ssw0rd2024", "qwerty123456", "iloveyou!!", "123456789012",
     "Dragon1990#", "Tr1n1ty!!2023", "!!Welcome2024", "M0nkey123456"],
)  # fmt: skip
def test_common_passwords_and_variants_are_refused(password: str) -> None:
    assert is_common_password(password)
    result = check_password_policy(password)
    assert not result.valid
    assert "commonly used password" in " ".join(result.errors)


def test_a_good_password_passes() -> None:
    result = check_password_policy("Velvet-Orbit-73-Quartz")
    assert result.valid
    assert bool(result)
    assert result.strength in ("strong", "very strong")
    result.raise_for_errors()


def test_rules_report_every_failure_without_the_password() -> None:
    result = check_password_policy("aaaa")
    assert not result.valid
    text = " ".join(result.errors)
    assert "at least 12 characters" in text
    assert "mix at least 3" in text
    assert "different characters" in text
    assert "aaaa" not in text
    with pytest.raises(PasswordPolicyError, match="at least 12"):
        result.raise_for_errors()


def test_user_inputs_are_refused() -> None:
    result = check_password_policy("Alice.Smith-2024!x", user_inputs=["alice.smith"])
    assert not result.valid
    assert "user name" in " ".join(result.errors)


def test_custom_policy() -> None:
    lax = PasswordPolicy(min_length=8, min_character_classes=1, reject_common=False)
    assert check_password_policy("password", lax).valid
    assert not check_password_policy("a" * 300).valid


def test_to_dict() -> None:
    d = check_password_policy("short").to_dict()
    assert set(d) == {"valid", "errors", "strength", "entropy_bits"}


def test_generated_passwords() -> None:
    password = generate_secure_password()
    assert len(password) == 20
    assert check_password_policy(password).valid
    assert len({generate_secure_password() for _ in range(50)}) == 50
    plain = generate_secure_password(16, use_symbols=False, exclude_ambiguous=True)
    assert plain.isalnum()
    assert not set(plain) & set("Il1O0o")


def test_too_short_generation_is_refused() -> None:
    with pytest.raises(PasswordError, match="at least 12"):
        generate_secure_password(8)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=12, max_value=64), st.booleans(), st.booleans())
def test_generated_passwords_always_pass_the_default_policy(
    length: int, symbols: bool, ambiguous: bool
) -> None:
    password = generate_secure_password(length, use_symbols=symbols, exclude_ambiguous=ambiguous)
    assert len(password) == length
    assert check_password_policy(password).valid

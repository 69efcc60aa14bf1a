"""Secrets never reach a sink: by key name and by shape."""

from __future__ import annotations

import pytest
from tigerseal.audit import Redactor
from tigerseal.audit._redact import MAX_STRING, REDACTED

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwia"
    "WF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
PEM = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"


@pytest.fixture
def r() -> Redactor:
    return Redactor(b"k" * 32)


@pytest.mark.parametrize(
    "name",
    ["password", "new_password", "userPassword", "passwd", "pin", "otp_code", "client_secret",
     "private_key", "privateKey", "credentials", "db-password"],
)  # fmt: skip
def test_secret_names_are_dropped(r: Redactor, name: str) -> None:
    assert r.any({name: "hunter2"}) == {name: REDACTED}
    assert r.any({name: {"nested": "x"}}) == {name: REDACTED}


@pytest.mark.parametrize(
    "name",
    ["token", "access_token", "refreshToken", "api_key", "apiKey", "X-Api-Key", "Authorization",
     "session_id", "cookie", "jwt", "signing_key"],
)  # fmt: skip
def test_token_names_become_keyed_hashes(r: Redactor, name: str) -> None:
    out = r.any({name: "abc"})[name]
    assert out.startswith("[HMAC:")
    assert "abc" not in out
    assert out == r.any({name: "abc"})[name]  # same value, same hash: correlatable
    assert out != r.any({name: "abd"})[name]
    assert out != Redactor(b"j" * 32).any({name: "abc"})[name]  # keyed


@pytest.mark.parametrize(
    "name",
    ["api_key_id", "key_id", "token_type", "key_version", "public_key", "token_expires",
     "password_policy", "auth_method", "scopes", "user_id"],
)  # fmt: skip
def test_descriptive_names_are_kept(r: Redactor, name: str) -> None:
    assert r.any({name: "key_123"}) == {name: "key_123"}


@pytest.mark.parametrize(
    "value",
    [
        JWT,
        "Bearer " + "A1b2C3d4" * 4,
        "tk_9fQ2xL7pR4mN8vB3kJ6hT1wZ5yC0aD",
        "ghp_" + "a1B2c3D4e5" * 4,
        "AKIAIOSFODNN7EXAMPLE",
        "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc",
        "Zx8vQ1kP9sT3mW7yB2nR5cL0dF4hJ6gA",  # 32 random base64url chars
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    ],
)
def test_secret_shapes_are_hashed_anywhere(r: Redactor, value: str) -> None:
    out = r.any({"note": value, "list": [value], "deep": {"x": {"y": value}}})
    assert value not in repr(out)
    assert out["note"].startswith("[HMAC:")


def test_pem_private_keys_are_dropped(r: Redactor) -> None:
    assert r.any({"blob": PEM}) == {"blob": REDACTED}


def test_url_passwords_are_masked(r: Redactor) -> None:
    out = r.any({"dsn": "postgresql://app:s3cr3t-pass@db.internal:5432/tiger"})
    assert out == {"dsn": f"postgresql://app:{REDACTED}@db.internal:5432/tiger"}


@pytest.mark.parametrize(
    "value",
    [
        "192.168.1.1",
        "/api/v1/accounts/12345/orders",
        "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/115.0",
        "550e8400-e29b-41d4-a716-446655440000",
        "authentication failed for user alice",
        "read,write,admin",
        "api_key_12345",
        "ordinary_identifier_name_here",
    ],
)
def test_ordinary_values_are_kept(r: Redactor, value: str) -> None:
    assert r.any({"v": value}) == {"v": value}


def test_non_json_values(r: Redactor) -> None:
    out = r.any(
        {"raw": b"\x00" * 32, "n": float("nan"), "t": (1, 2), "s": {3}, 4: "int key", "ok": True}
    )
    assert out == {
        "raw": "[bytes 32]",
        "n": "nan",
        "t": [1, 2],
        "s": [3],
        "4": "int key",
        "ok": True,
    }


def test_bounds(r: Redactor) -> None:
    long = "word " * 1000
    assert len(r.any(long)) < MAX_STRING + 40
    deep: dict[str, object] = {}
    node = deep
    for _ in range(20):
        node["d"] = {}
        node = node["d"]  # type: ignore[assignment]
    assert "[nested too deep]" in repr(r.any(deep))
    many = r.any({str(i): i for i in range(500)})
    assert len(many) == 201
    assert r.any(list(range(500)))[-1] == "[truncated 300 more items]"


# -- issue 12 item 4: common names, secrets inside larger strings, one redactor for logs too --
@pytest.mark.parametrize(
    "name",
    ["pass", "pw", "passcode", "totp", "totp_code", "mfa_code", "new_pass", "newPw", "pepper"],
)
def test_short_and_mfa_secret_names_are_dropped(r: Redactor, name: str) -> None:
    assert r.any({name: "123456"}) == {name: REDACTED}


AWS_ID = "AKIAIOSFODNN7EXAMPLE"
TK = "tk_9fQ2xL7pR4mN8vB3kJ6hT1wZ5yC0aD"


@pytest.mark.parametrize(
    ("text", "secret", "kept"),
    [
        (
            f"https://app.example.com/cb?next=/home&id_token={JWT}",
            JWT,
            "https://app.example.com/cb",
        ),
        (f"https://app.example.com/x/{JWT}/y", JWT, "https://app.example.com/x/"),
        ("GET /login?user=bob&password=hunter2&lang=en HTTP/1.1", "hunter2", "user=bob"),
        ('POST body {"user": "bob", "pw": "s3cret!"}', "s3cret!", '"user": "bob"'),
        (f"the key {TK} leaked in a ticket", TK, "leaked in a ticket"),
        (f"found {AWS_ID} in the build log", AWS_ID, "in the build log"),
        ("Authorization: Bearer abcdefgh12345678 from 10.0.0.1", "abcdefgh12345678", "10.0.0.1"),
        ("header Basic dXNlcjpwYXNzd29yZA== seen", "dXNlcjpwYXNzd29yZA==", "seen"),
        ("otp=123456 accepted", "123456", "accepted"),
    ],
)
def test_secret_shapes_inside_larger_strings(
    r: Redactor, text: str, secret: str, kept: str
) -> None:
    from tigerseal.config import redact_text, redact_value

    for out in (r.any({"v": text})["v"], redact_text(text), redact_value("message", text)):
        assert secret not in out, out
        assert kept in out, out


@pytest.mark.parametrize("name", ["pw", "passcode", "totp_code", "mfa_code", "Authorization"])
def test_logs_drop_the_same_names(name: str) -> None:
    from tigerseal.config import redact_value

    assert redact_value(name, "123456") == "[REDACTED]"


def test_logs_keep_descriptive_names() -> None:
    from tigerseal.config import redact_value

    assert redact_value("token_type", "bearer") == "bearer"


@pytest.mark.parametrize("secret", [JWT, AWS_ID, TK, "ghp_" + "a1B2c3D4e5" * 4])
def test_shaped_secrets_never_survive_in_any_surrounding_text(secret: str) -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st
    from tigerseal.config import redact_text

    sep = st.sampled_from([" ", "/", "?", "&", "=", ":", ",", ";", '"', "'", "(", "\n", "\t"])
    r = Redactor(b"k" * 32)

    @settings(max_examples=60, deadline=None)
    @given(st.text(max_size=40), sep, sep, st.text(max_size=40))
    def check(before: str, left: str, right: str, after: str) -> None:
        text = before + left + secret + right + after
        assert secret not in r.any({"v": text})["v"]
        assert secret not in redact_text(text)

    check()


def test_key_names_and_total_size_are_bounded(r: Redactor) -> None:
    out = r.any({"n" * 100_000: 1, "ok": 2})
    assert all(len(k) <= 150 for k in out)
    chunk = "x" * 2000 + " y"
    huge = r.any({f"k{i}": {f"j{j}": chunk for j in range(100)} for i in range(100)})
    assert len(repr(huge)) < 3 * 64 * 1024
    assert "[record too large]" in repr(huge)


# -- red-team variants of item 4: secrets in dict keys, URL-encoded pairs, escaped JSON, logs --
SHORT_JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abcdefghijklmnopqrstuvwx"


@pytest.mark.parametrize(
    "details",
    [
        {"tokens": {SHORT_JWT: "alice"}},  # a map of token -> user
        {"seen": {TK: 1}},
        {"password=hunter2secret": 1},
        {"x": [{AWS_ID: "in a nested list of maps"}]},
    ],
)
def test_secrets_in_dict_keys_are_redacted(r: Redactor, details: dict[str, object]) -> None:
    import json

    from tigerseal.config import redact_value

    for out in (r.any(details), redact_value("details", details)):
        text = json.dumps(out)
        for secret in (SHORT_JWT, TK, AWS_ID, "hunter2secret"):
            assert secret not in text, text


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("/login%3Fuser%3Dbob%26password%3Dhunter2secret%26lang%3Den", "lang%3Den"),
        ("https://x/cb?next=%2Fa%3Fpw%3Dhunter2secret", "https://x/cb?next="),
        ('{\\"user\\": \\"bob\\", \\"password\\": \\"hunter2secret\\"}', '\\"user\\": \\"bob\\"'),
        ('body=\'{"otp":"hunter2secret"}\'', "body="),
    ],
)
def test_url_encoded_and_escaped_json_pairs_are_redacted(r: Redactor, text: str, kept: str) -> None:
    from tigerseal.config import redact_text

    for out in (r.any({"v": text})["v"], redact_text(text)):
        assert "hunter2secret" not in out, out
        assert kept in out, out


def test_log_fields_redact_bytes_objects_and_deep_nesting() -> None:
    import json
    import logging

    from tigerseal.config import JsonFormatter

    class Req:
        def __repr__(self) -> str:
            return "Req(password=hunter2secret)"

    deep: list[object] = []
    for _ in range(5000):
        deep = [deep]
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "m", None, None)
    record.body = b"password=hunter2secret"
    record.req = Req()
    record.deep = deep
    out = JsonFormatter().format(record)
    assert "hunter2secret" not in out
    json.loads(out)


@pytest.mark.parametrize(
    "name",
    ["TOTPCode", "MFACode", "OTPCode", "PINCode", "password1", "password2", "pass2", "pw1",
     "newpassword", "userPasswd", "recovery_code", "backup_codes", "verification_code",
     "sms_code", "privkey", "cvc"],
)  # fmt: skip
def test_acronym_digit_and_one_time_code_names_are_dropped(r: Redactor, name: str) -> None:
    """Django's password1/password2, TOTPCode (an acronym before a word), MFA backup codes."""
    from tigerseal.config import redact_value

    assert r.any({name: "123456"}) == {name: REDACTED}
    assert redact_value(name, "123456") == "[REDACTED]"


@pytest.mark.parametrize("name", ["APIKey", "XMLHttpRequest", "key_version2", "mfa_enabled"])
def test_acronym_names_keep_their_rule(r: Redactor, name: str) -> None:
    out = r.any({name: "abc"})[name]
    assert (out == "abc") == (name != "APIKey")


def test_a_url_password_with_a_raw_at_sign_is_masked_whole(r: Redactor) -> None:
    from tigerseal.config import redact_text

    text = "connect postgresql://app:p@ss@w0rd@db.example.com:5432/app failed"
    for out in (r.any({"v": text})["v"], redact_text(text)):
        assert "w0rd" not in out, out
        assert "ss@" not in out, out
        assert "@db.example.com:5432/app failed" in out, out


@pytest.mark.parametrize("secret", [TK, AWS_ID, "ghp_" + "a1B2c3D4e5" * 4])
def test_a_secret_cut_by_the_string_bound_leaves_no_part_behind(r: Redactor, secret: str) -> None:
    """Strings are cut at 2048 characters: a key straddling the cut was too short to match."""
    for offset in range(MAX_STRING - len(secret) + 1, MAX_STRING):
        text = "word " * (offset // 5) + "x" * (offset % 5) + secret + " tail " * 10
        out = r.any({"v": text})["v"]
        assert secret[:12] not in out, (offset, out[-80:])


def test_a_secret_cut_by_the_key_name_bound_leaves_no_part_behind(r: Redactor) -> None:
    for offset in range(100, 128):
        out = r.any({"k" * offset + TK: 1})
        assert all(TK[:12] not in name for name in out), out

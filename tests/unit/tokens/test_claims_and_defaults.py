"""Creating tokens, scope and account checks, and the settings-built default manager."""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path

import pytest
from tigerseal import (
    TokenPayload,
    create_jwt_token,
    validate_account_access,
    validate_token_scopes,
    verify_jwt_token,
)
from tigerseal.config import reset_settings
from tigerseal.errors import (
    AccountAccessError,
    ConfigError,
    InsufficientScopeError,
    TokenError,
    TokenInvalidError,
)
from tigerseal.tokens import (
    KeySet,
    TokenManager,
    create_token_pair,
    get_jwks,
    get_token_manager,
    refresh_tokens,
    revoke_token,
)

from tests.unit.tokens.helpers import NOW, manager


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> str:
    value = "K" + secrets.token_urlsafe(40)
    monkeypatch.setenv("JWT_SECRET", value)
    return value


def test_seed_example(secret: str, capsys: pytest.CaptureFixture[str]) -> None:
    token = create_jwt_token(subject="user_id", scopes=["read", "write"], expires_in=3600)
    payload = verify_jwt_token(token)
    print(f"Token subject: {payload.sub}")
    print(f"Token scopes: {payload.scopes}")
    assert capsys.readouterr().out == "Token subject: user_id\nToken scopes: ['read', 'write']\n"
    assert payload.exp is not None
    assert payload.iat is not None
    assert payload.exp - payload.iat == 3600
    assert payload["sub"] == "user_id"
    assert dict(payload)["iss"] == "tigerseal"


def test_tokens_survive_a_restart_with_the_same_secret(secret: str) -> None:
    token = create_jwt_token("alice")
    reset_settings()
    assert verify_jwt_token(token).sub == "alice"


def test_settings_drive_the_manager(monkeypatch: pytest.MonkeyPatch, secret: str) -> None:
    monkeypatch.setenv("JWT_ISSUER", "tiger-auth")
    monkeypatch.setenv("JWT_AUDIENCE", "tiger-api")
    monkeypatch.setenv("JWT_ACCESS_TOKEN_EXPIRE", "120")
    m = get_token_manager()
    assert (m.issuer, m.audience, m.access_token_expire) == ("tiger-auth", "tiger-api", 120)
    payload = verify_jwt_token(create_jwt_token("alice"))
    assert (payload.iss, payload.aud) == ("tiger-auth", "tiger-api")


def test_asymmetric_default_from_a_key_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = KeySet.generate("EdDSA").save(tmp_path / "jwt.json")
    monkeypatch.setenv("JWT_ALGORITHM", "EdDSA")
    monkeypatch.setenv("TIGERSEAL_JWT_KEYS_FILE", str(path))
    token = create_jwt_token("alice", ["read"])
    assert verify_jwt_token(token).header["alg"] == "EdDSA"
    assert get_jwks()["keys"][0]["kid"] == KeySet.load(path).current.kid


def test_key_file_algorithm_must_match_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = KeySet.generate("ES256").save(tmp_path / "jwt.json")
    monkeypatch.setenv("JWT_ALGORITHM", "EdDSA")
    monkeypatch.setenv("TIGERSEAL_JWT_KEYS_FILE", str(path))
    with pytest.raises(ConfigError, match="make them agree"):
        get_token_manager()


def test_module_refresh_and_revoke(secret: str) -> None:
    pair = create_token_pair("alice", ["read"])
    assert "alice" not in repr(pair)
    assert pair.access_token not in repr(pair)
    assert pair.to_dict()["token_type"] == "Bearer"
    new = refresh_tokens(pair.refresh_token)
    revoke_token(new.refresh_token, family=True)
    with pytest.raises(TokenError):
        verify_jwt_token(new.access_token)


def test_required_scopes_on_verify(secret: str) -> None:
    token = create_jwt_token("alice", ["read"])
    assert verify_jwt_token(token, required_scopes=["read"]).sub == "alice"
    with pytest.raises(InsufficientScopeError, match="write"):
        verify_jwt_token(token, required_scopes=["read", "write"])


def test_validate_token_scopes() -> None:
    payload = TokenPayload({"sub": "a", "scope": "read write"})
    assert validate_token_scopes(payload, ["read"]) is True
    assert validate_token_scopes(payload, "write") is True
    assert validate_token_scopes(payload, ["admin", "read"], require_all=False) is True
    with pytest.raises(InsufficientScopeError, match="admin"):
        validate_token_scopes(payload, ["read", "admin"])
    with pytest.raises(InsufficientScopeError):
        validate_token_scopes({"scopes": ["x"]}, ["admin", "root"], require_all=False)
    assert validate_token_scopes({"scp": ["x", "y"]}, ["y"])


def test_validate_account_access() -> None:
    payload = TokenPayload({"sub": "a", "scope": "read admin", "accounts": ["12345", "777"]})
    assert validate_account_access(payload, "12345") is True
    assert validate_account_access(payload, 777) is True
    with pytest.raises(AccountAccessError):
        validate_account_access(payload, "99999")
    assert validate_account_access(payload, "99999", admin_scope="admin") is True
    assert validate_account_access({"account_id": "5"}, "5") is True
    with pytest.raises(AccountAccessError):
        validate_account_access({"sub": "x"}, "5")


def test_create_rejects_misuse() -> None:
    m = manager()
    with pytest.raises(TokenError, match="set by tigerseal"):
        m.create("alice", exp=1)
    with pytest.raises(TokenError, match="without spaces"):
        m.create("alice", ["read write"])
    with pytest.raises(TokenError, match="positive"):
        m.create("alice", expires_in=0)
    assert m.verify(m.create("alice", expires_in=timedelta(minutes=5))).exp == int(NOW) + 300


def test_a_single_string_scope_is_one_scope() -> None:
    m = manager()
    assert m.verify(m.create("alice", "read")).scopes == ["read"]


def test_payload_accessors() -> None:
    m = manager()
    payload = m.verify(m.create("alice", ["a"], accounts=["1"], tier="gold"))
    assert payload.accounts == ["1"]
    assert payload["tier"] == "gold"
    assert payload.has_scopes("a")
    assert not payload.has_scopes("a", "b")
    assert payload.expires_at is not None
    assert payload.expires_at.timestamp() == payload.exp
    assert payload.jti is not None
    assert "alice" in repr(payload)


def test_refresh_needs_a_revocation_store() -> None:
    m = TokenManager(KeySet.generate("HS256"))
    with pytest.raises(TokenError, match="revocation store"):
        m.create_pair("alice")


def test_decode_checks_signature_but_no_claims() -> None:
    m = manager()
    expired = m.create("alice", now=NOW - 10_000, expires_in=1)
    assert m.decode(expired).sub == "alice"
    with pytest.raises(TokenInvalidError):
        manager().decode(expired)  # another key


class LocalSigner:
    """A TokenSigner whose "HSM" is a local Ed25519 key (tests only)."""

    algorithm = "EdDSA"

    def __init__(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import ed25519

        self._key = ed25519.Ed25519PrivateKey.generate()
        self.kid = "hsm-key-1"
        self.calls = 0

    def sign(self, signing_input: bytes) -> bytes:
        self.calls += 1
        return self._key.sign(signing_input)

    def public_jwk(self) -> dict[str, object]:
        import jwt

        jwk = jwt.algorithms.OKPAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "alg": "EdDSA", "use": "sig"}


def test_token_signer_plugin_signs_default_tokens(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tigerseal.hookspecs import hookimpl
    from tigerseal.plugins import get_registry
    from tigerseal.spi import TokenSigner, TokenSignerSpec

    signer = LocalSigner()
    TokenSigner.register(LocalSigner)

    class Plugin:
        @hookimpl
        def register_token_signers(self) -> list[TokenSignerSpec]:
            return [TokenSignerSpec(name="testhsm", factory=lambda uri, **_: signer)]

    old = KeySet.generate("EdDSA")
    path = old.save(tmp_path / "jwt.json")
    old_token = TokenManager(old, issuer="tigerseal").create("before-migration")
    registry = get_registry()
    name = registry.register(Plugin(), name="test-token-signer")
    try:
        monkeypatch.setenv("JWT_ALGORITHM", "EdDSA")
        monkeypatch.setenv("TIGERSEAL_JWT_SIGNER", "testhsm://key-1")
        monkeypatch.setenv("TIGERSEAL_JWT_KEYS_FILE", str(path))
        token = create_jwt_token("alice")
        assert signer.calls == 1
        assert verify_jwt_token(token).header["kid"] == "hsm-key-1"
        assert verify_jwt_token(old_token).sub == "before-migration"
        assert {k["kid"] for k in get_jwks()["keys"]} == {"hsm-key-1", old.current.kid}
    finally:
        registry.unregister(name)

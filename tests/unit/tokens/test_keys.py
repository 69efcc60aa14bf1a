"""Keys and key sets: generation, binding checks, rotation, JWKS, key files."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from tigerseal.errors import ConfigError, TokenInvalidError
from tigerseal.tokens import JWTKey, KeySet, TokenManager, jwk_thumbprint

from tests.unit.tokens.helpers import NOW

ALGS = ["HS256", "HS384", "HS512", "RS256", "PS256", "ES256", "ES384", "ES512", "EdDSA"]


@pytest.mark.parametrize("alg", ALGS)
def test_generated_keys_sign_and_verify(alg: str) -> None:
    m = TokenManager(KeySet([JWTKey.generate(alg)]), clock=lambda: NOW)
    payload = m.verify(m.create("alice", ["read"]))
    assert payload.header["alg"] == alg
    assert payload.header["kid"] == m.keys.current.kid


def test_jwks_holds_public_keys_only() -> None:
    # HMAC keys cannot share a set with asymmetric ones (issue 12 item 11), and are never
    # published.
    assert KeySet([JWTKey.generate("HS256")]).jwks() == {"keys": []}
    keys = KeySet([JWTKey.generate(a) for a in ("EdDSA", "ES256", "RS256")])
    jwks = keys.jwks()
    assert len(jwks["keys"]) == 3
    for jwk in jwks["keys"]:
        assert not {"d", "p", "q", "dp", "dq", "qi", "k"} & set(jwk)
        assert {"kid", "alg", "use", "kty"} <= set(jwk)
        assert jwk["use"] == "sig"
        assert jwk["kid"] == jwk_thumbprint(jwk)  # RFC 7638 thumbprints as key ids


def test_public_only_key_set_verifies_but_cannot_sign() -> None:
    signer = KeySet.generate("ES256")
    verifier = KeySet.from_jwks(signer.jwks())
    token = TokenManager(signer, clock=lambda: NOW).create("alice")
    assert TokenManager(verifier, clock=lambda: NOW).verify(token).sub == "alice"
    with pytest.raises(ConfigError, match="no signing key"):
        TokenManager(verifier).create("alice")


def test_rotation_keeps_old_tokens_until_the_key_is_removed() -> None:
    keys = KeySet.generate("EdDSA")
    m = TokenManager(keys, clock=lambda: NOW)
    old_token = m.create("alice")
    old_kid = keys.current.kid
    new_key = keys.rotate()
    assert keys.current is new_key
    assert new_key.kid != old_kid
    new_token = m.create("alice")
    assert m.verify(new_token).header["kid"] == new_key.kid
    assert m.verify(old_token).header["kid"] == old_kid
    keys.remove(old_kid)
    with pytest.raises(TokenInvalidError, match="unknown key"):
        m.verify(old_token)
    with pytest.raises(ConfigError, match="current signing key"):
        keys.remove(new_key.kid)


def test_rotation_can_change_algorithm() -> None:
    keys = KeySet.generate("RS256")
    keys.rotate("EdDSA")
    assert keys.current.algorithm == "EdDSA"
    assert len(keys) == 2


def test_save_and_load_key_file(tmp_path: Path) -> None:
    keys = KeySet.generate("ES256")
    keys.rotate()
    path = keys.save(tmp_path / "jwt.json")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = KeySet.load(path)
    assert loaded.current.kid == keys.current.kid
    assert {k.kid for k in loaded} == {k.kid for k in keys}
    token = TokenManager(keys, clock=lambda: NOW).create("bob")
    assert TokenManager(loaded, clock=lambda: NOW).verify(token).sub == "bob"


def test_world_readable_private_key_file_is_refused(tmp_path: Path) -> None:
    path = KeySet.generate("EdDSA").save(tmp_path / "jwt.json")
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        KeySet.load(path)


def test_bad_key_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        KeySet.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not readable JSON"):
        KeySet.load(bad)


def test_keys_must_fit_their_algorithm() -> None:
    weak = rsa.generate_private_key(65537, 1024)  # noqa: S505 - refused on purpose
    with pytest.raises(ConfigError, match="at least 2048"):
        JWTKey("k", "RS256", verifying_key=weak.public_key())
    with pytest.raises(ConfigError, match="secp256r1"):
        JWTKey("k", "ES256", verifying_key=ec.generate_private_key(ec.SECP384R1()).public_key())
    with pytest.raises(ConfigError, match="at least 64 bytes"):
        JWTKey.from_secret("x" * 40, "HS512")
    with pytest.raises(ConfigError, match="needs a ES key"):
        JWTKey("k", "ES256", verifying_key=b"x" * 32)
    with pytest.raises(ConfigError, match="unknown JWT algorithm 'none'"):
        JWTKey.generate("none")
    with pytest.raises(ConfigError, match="HS256/384/512"):
        JWTKey.from_secret("x" * 40, "RS256")


def test_pem_public_key_cannot_be_an_hmac_secret() -> None:
    from cryptography.hazmat.primitives import serialization

    pem = (
        rsa.generate_private_key(65537, 2048)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(ConfigError, match="asymmetric key"):
        JWTKey.from_secret(pem, "HS256")


def test_jwk_without_alg_is_refused() -> None:
    jwk = JWTKey.generate("ES256").public_jwk()
    assert jwk is not None
    jwk.pop("alg")
    with pytest.raises(ConfigError, match="no 'alg'"):
        JWTKey.from_jwk(jwk)
    assert JWTKey.from_jwk(jwk, algorithm="ES256").algorithm == "ES256"
    with pytest.raises(ConfigError, match="bound to"):
        JWTKey.from_jwk({**jwk, "alg": "ES256"}, algorithm="ES384")


def test_pem_round_trip() -> None:
    from cryptography.hazmat.primitives import serialization

    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    signing = JWTKey.from_pem(pem, "ES256")
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    verifying = JWTKey.from_pem(public_pem, "ES256")
    assert signing.kid == verifying.kid
    token = TokenManager(KeySet([signing]), clock=lambda: NOW).create("carol")
    assert TokenManager(KeySet([verifying]), clock=lambda: NOW).verify(token).sub == "carol"


def test_hmac_kid_does_not_contain_the_secret() -> None:
    secret = "s" * 10 + "a-long-enough-shared-secret-value"
    key = JWTKey.from_secret(secret)
    assert key.kid.startswith("hs-")
    assert secret not in key.kid
    assert JWTKey.from_secret(secret).kid == key.kid  # stable across processes


def test_reprs_show_no_key_material() -> None:
    key = JWTKey.generate("HS256")
    secret_hex = key._sign_key.hex() if isinstance(key._sign_key, bytes) else ""
    assert secret_hex not in repr(key)
    assert "signing" in repr(key)
    assert "kid" in repr(KeySet([key]))


def test_duplicate_kids_are_refused() -> None:
    key = JWTKey.generate("EdDSA")
    with pytest.raises(ConfigError, match="share the key id"):
        KeySet([key, key])
    keys = KeySet([key])
    with pytest.raises(ConfigError, match="already in the key set"):
        keys.add(key)


def test_private_jwk_export_round_trips() -> None:
    key = JWTKey.generate("EdDSA")
    again = JWTKey.from_jwk(json.loads(json.dumps(key.private_jwk())))
    assert again.can_sign
    assert again.kid == key.kid

"""JWT signing keys: each bound to one algorithm, grouped in a key set with rotation and JWKS.

Hazard: private keys live in process memory. Load them from a 0600 file or keep them in a
KMS/HSM behind a :class:`~tigerseal.spi.TokenSigner` plugin.

A key's ``alg`` is fixed when the key is made, and the verifier only ever uses that algorithm
with that key. This is what closes the classic JWT holes: ``alg: none`` matches no key, an
HS256 token cannot be checked against an RSA public key used as an HMAC secret, and a ``kid``
is only a dictionary lookup (never a path, URL or query).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tigerseal.config import JWT_ALGORITHMS
from tigerseal.errors import ConfigError, TokenInvalidError

if TYPE_CHECKING:
    from jwt.algorithms import Algorithm

    from tigerseal.spi.services import TokenSigner

__all__ = ["JWTKey", "KeySet", "jwk_thumbprint"]

_HMAC_MIN = {"HS256": 32, "HS384": 48, "HS512": 64}
_EC_CURVES = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}
_THUMBPRINT_MEMBERS = {
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
    "RSA": ("e", "kty", "n"),
    "oct": ("k", "kty"),
}
MAX_KID_LENGTH = 256


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url): a stable key id derived from the key."""
    members = _THUMBPRINT_MEMBERS.get(str(jwk.get("kty")))
    if members is None:
        raise ConfigError(f"cannot compute a thumbprint for key type {jwk.get('kty')!r}")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def _algorithm(name: str) -> Algorithm:
    from jwt.algorithms import get_default_algorithms

    if name not in JWT_ALGORITHMS:
        raise ConfigError(
            f"unknown JWT algorithm {name!r}; use one of {', '.join(sorted(JWT_ALGORITHMS))}"
        )
    return get_default_algorithms()[name]


def _check_key(algorithm: str, key: Any) -> None:
    """Refuse a key that does not fit its algorithm (type, curve, size)."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    private_or_public = {
        "RS": (rsa.RSAPrivateKey, rsa.RSAPublicKey),
        "PS": (rsa.RSAPrivateKey, rsa.RSAPublicKey),
        "ES": (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey),
        "Ed": (
            ed25519.Ed25519PrivateKey,
            ed25519.Ed25519PublicKey,
            ed448.Ed448PrivateKey,
            ed448.Ed448PublicKey,
        ),
    }
    family = algorithm[:2]
    if family == "HS":
        if not isinstance(key, bytes) or len(key) < _HMAC_MIN[algorithm]:
            raise ConfigError(
                f"{algorithm} needs a secret of at least {_HMAC_MIN[algorithm]} bytes "
                "(RFC 7518 section 3.2); use a longer JWT_SECRET"
            )
        return
    if not isinstance(key, private_or_public[family]):
        raise ConfigError(f"{algorithm} needs a {family} key, got {type(key).__name__}")
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey) and key.key_size < 2048:
        raise ConfigError(f"{algorithm} needs an RSA key of at least 2048 bits")
    if (
        isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey)
        and key.curve.name != _EC_CURVES[algorithm]
    ):
        raise ConfigError(f"{algorithm} needs curve {_EC_CURVES[algorithm]}, not {key.curve.name}")


class JWTKey:
    """One signing or verification key, bound to one JWS algorithm.

    Build with :meth:`generate`, :meth:`from_secret`, :meth:`from_jwk`, :meth:`from_pem` or
    :meth:`from_signer`. ``repr`` shows the key id and algorithm only.

    Attributes:
        kid: key id written into token headers.
        algorithm: the only ``alg`` this key signs or verifies.
        created_at: epoch seconds (for rotation policies).
    """

    __slots__ = ("_alg", "_sign_key", "_signer", "_verify_key", "algorithm", "created_at", "kid")

    def __init__(
        self,
        kid: str,
        algorithm: str,
        *,
        verifying_key: Any,
        signing_key: Any = None,
        signer: TokenSigner | None = None,
        created_at: float | None = None,
    ) -> None:
        if not isinstance(kid, str) or not kid or len(kid) > MAX_KID_LENGTH:
            raise ConfigError(f"a key id must be a non-empty string of at most {MAX_KID_LENGTH}")
        self._alg = _algorithm(algorithm)
        _check_key(algorithm, verifying_key)
        if signing_key is not None:
            _check_key(algorithm, signing_key)
        self.kid = kid
        self.algorithm = algorithm
        # Keys are prepared once: PyJWT's prepare_key parses PEM/bytes on every call otherwise.
        # It also refuses PEM/SSH public keys as HMAC secrets (the HS/RS confusion attack).
        try:
            self._verify_key = self._alg.prepare_key(verifying_key)
            self._sign_key = None if signing_key is None else self._alg.prepare_key(signing_key)
        except Exception as exc:  # jwt.InvalidKeyError and cryptography's errors
            raise ConfigError(f"not a usable {algorithm} key: {exc}") from None
        self._signer = signer
        self.created_at = time.time() if created_at is None else created_at

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def generate(
        cls, algorithm: str = "EdDSA", *, kid: str | None = None, rsa_bits: int = 2048
    ) -> JWTKey:
        """A fresh random key for ``algorithm`` (HS*, RS*, PS*, ES*, EdDSA=Ed25519)."""
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

        _algorithm(algorithm)
        family = algorithm[:2]
        private: Any
        if family == "HS":
            secret = secrets.token_bytes(_HMAC_MIN[algorithm])
            return cls.from_secret(secret, algorithm, kid=kid)
        if family in ("RS", "PS"):
            private = rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
        elif family == "ES":
            curves: dict[str, ec.EllipticCurve] = {
                "ES256": ec.SECP256R1(),
                "ES384": ec.SECP384R1(),
                "ES512": ec.SECP521R1(),
            }
            private = ec.generate_private_key(curves[algorithm])
        else:
            private = ed25519.Ed25519PrivateKey.generate()
        return cls._asymmetric(private, algorithm, kid)

    @classmethod
    def _asymmetric(cls, private: Any, algorithm: str, kid: str | None) -> JWTKey:
        public = private.public_key()
        if kid is None:
            kid = jwk_thumbprint(_algorithm(algorithm).to_jwk(public, as_dict=True))
        return cls(kid, algorithm, verifying_key=public, signing_key=private)

    @classmethod
    def from_secret(
        cls, secret: bytes | str, algorithm: str = "HS256", *, kid: str | None = None
    ) -> JWTKey:
        """An HMAC key (``JWT_SECRET``).

        The default kid is derived from the secret by HMAC: it identifies the secret without
        revealing anything a token signed with it does not already.
        """
        raw = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
        if not algorithm.startswith("HS"):
            raise ConfigError(
                f"a shared secret can only be used with HS256/384/512, not {algorithm}"
            )
        if kid is None:
            tag = hmac.new(raw, b"tigerseal/jwt-kid/v1", hashlib.sha256).digest()
            kid = f"hs-{_b64url(tag)[:12]}"
        return cls(kid, algorithm, verifying_key=raw, signing_key=raw)

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any], *, algorithm: str | None = None) -> JWTKey:
        """A key from a JWK (private parts make it a signing key).

        The algorithm is the JWK's ``alg`` (or ``algorithm``); a JWK without one is refused
        unless ``algorithm`` is given, so a key never silently gets a guessed algorithm.
        """
        import jwt

        alg = algorithm or jwk.get("alg")
        if not isinstance(alg, str):
            raise ConfigError("the JWK has no 'alg'; pass algorithm= to bind it to one")
        if jwk.get("alg") not in (None, alg):
            raise ConfigError(f"the JWK is bound to {jwk.get('alg')!r}, not {alg!r}")
        try:
            key = jwt.PyJWK(dict(jwk), algorithm=alg).key
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, KeyError) as exc:
            raise ConfigError(f"the JWK is not a valid {alg} key: {type(exc).__name__}") from None
        kid = jwk.get("kid")
        if alg.startswith("HS"):
            return cls.from_secret(key, alg, kid=kid)
        if hasattr(key, "public_key"):  # private key
            return cls._asymmetric(key, alg, kid)
        if kid is None:
            kid = jwk_thumbprint(_algorithm(alg).to_jwk(key, as_dict=True))
        return cls(kid, alg, verifying_key=key)

    @classmethod
    def from_pem(
        cls,
        pem: bytes | str,
        algorithm: str,
        *,
        kid: str | None = None,
        password: bytes | None = None,
    ) -> JWTKey:
        """A key from a PEM private key (signing) or public key (verification only)."""
        from cryptography.hazmat.primitives import serialization

        data = pem.encode("ascii") if isinstance(pem, str) else pem
        try:
            if b"PRIVATE KEY" in data:
                private = serialization.load_pem_private_key(data, password=password)
                return cls._asymmetric(private, algorithm, kid)
            public = serialization.load_pem_public_key(data)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"not a PEM key usable for {algorithm}: {exc}") from None
        if kid is None:
            kid = jwk_thumbprint(_algorithm(algorithm).to_jwk(public, as_dict=True))
        return cls(kid, algorithm, verifying_key=public)

    @classmethod
    def from_signer(cls, signer: TokenSigner) -> JWTKey:
        """A key whose private part stays in a KMS/HSM (a TokenSigner plugin)."""
        import jwt

        jwk = dict(signer.public_jwk())
        public = jwt.PyJWK(jwk, algorithm=signer.algorithm).key
        return cls(signer.kid, signer.algorithm, verifying_key=public, signer=signer)

    # -- use ---------------------------------------------------------------------------------
    @property
    def can_sign(self) -> bool:
        """Whether this key holds (or reaches) a private part."""
        return self._sign_key is not None or self._signer is not None

    @property
    def is_symmetric(self) -> bool:
        """HMAC keys are never exported in a JWKS."""
        return self.algorithm.startswith("HS")

    def sign(self, signing_input: bytes) -> bytes:
        """The raw JWS signature over ``signing_input``."""
        if self._signer is not None:
            return self._signer.sign(signing_input)
        if self._sign_key is None:
            raise ConfigError(f"key {self.kid!r} is a verification-only key; it cannot sign")
        return self._alg.sign(signing_input, self._sign_key)

    def verify(self, signing_input: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is valid over ``signing_input`` under this key's algorithm."""
        return bool(self._alg.verify(signing_input, self._verify_key, signature))

    def public_jwk(self) -> dict[str, Any] | None:
        """The public JWK (``kid``, ``alg``, ``use``), or ``None`` for an HMAC key."""
        if self.is_symmetric:
            return None
        jwk = dict(self._alg.to_jwk(self._verify_key, as_dict=True))
        jwk.update(kid=self.kid, alg=self.algorithm, use="sig")
        return jwk

    def private_jwk(self) -> dict[str, Any]:
        """The full JWK including private parts (for saving a key file; handle as a secret)."""
        if self._sign_key is None:
            raise ConfigError(f"key {self.kid!r} has no private part to export")
        jwk = dict(self._alg.to_jwk(self._sign_key, as_dict=True))
        jwk.update(kid=self.kid, alg=self.algorithm, use="sig")
        jwk["iat"] = int(self.created_at)
        return jwk

    def __repr__(self) -> str:
        kind = "signing" if self.can_sign else "verification"
        return f"<JWTKey kid={self.kid!r} alg={self.algorithm} {kind}>"


class KeySet:
    """The keys a service signs with (the current one) and accepts (all of them).

    Rotation adds a new current key and keeps the old ones for verification until every token
    they signed has expired; then :meth:`remove` them. :meth:`jwks` publishes the public keys
    (``/.well-known/jwks.json``); :meth:`save` and :meth:`load` keep private keys in a 0600
    JSON file.

    Thread-safe: readers see either the old or the new table, never a half-updated one.
    """

    def __init__(self, keys: Iterable[JWTKey] = (), *, current: str | None = None) -> None:
        self._lock = threading.Lock()
        table: dict[str, JWTKey] = {}
        for key in keys:
            if key.kid in table:
                raise ConfigError(f"two keys share the key id {key.kid!r}")
            table[key.kid] = key
        self._keys = table
        self._current: str | None = None
        if current is not None:
            self._set_current(current, table)
        else:
            signers = [k for k in table.values() if k.can_sign]
            if signers:
                self._current = max(signers, key=lambda k: k.created_at).kid

    def _set_current(self, kid: str, table: Mapping[str, JWTKey]) -> None:
        key = table.get(kid)
        if key is None or not key.can_sign:
            raise ConfigError(f"the current key {kid!r} is not a signing key of this key set")
        self._current = kid

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def generate(cls, algorithm: str = "EdDSA") -> KeySet:
        """A key set with one fresh key."""
        return cls([JWTKey.generate(algorithm)])

    @classmethod
    def from_secret(cls, secret: bytes | str, algorithm: str = "HS256") -> KeySet:
        """A key set holding one HMAC key (``JWT_SECRET``)."""
        return cls([JWTKey.from_secret(secret, algorithm)])

    @classmethod
    def from_jwks(cls, jwks: Mapping[str, Any]) -> KeySet:
        """Keys from a JWKS (``{"keys": [...]}``; a ``current`` member picks the signing key)."""
        raw = jwks.get("keys")
        if not isinstance(raw, list):
            raise ConfigError("a JWKS needs a 'keys' list")
        keys = [JWTKey.from_jwk(entry) for entry in raw]
        for key, entry in zip(keys, raw, strict=True):
            if isinstance(entry.get("iat"), int):
                key.created_at = float(entry["iat"])
        current = jwks.get("current")
        return cls(keys, current=current if isinstance(current, str) else None)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> KeySet:
        """Load a key file written by :meth:`save`.

        Raises:
            ConfigError: the file is missing, unreadable, or readable by other users.
        """
        file = Path(path)
        try:
            mode = file.stat().st_mode
            data = json.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(
                f"JWT key file {file} does not exist; create it with "
                "`tigerseal token keygen --out FILE`"
            ) from None
        except (OSError, ValueError) as exc:
            raise ConfigError(f"JWT key file {file} is not readable JSON: {exc}") from None
        if mode & 0o077 and any("d" in k or "k" in k for k in data.get("keys", [])):
            raise ConfigError(
                f"JWT key file {file} holds private keys but is readable by other users; "
                f"run: chmod 600 {file}"
            )
        return cls.from_jwks(data)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write every key with its private part (mode 0600, atomic replace)."""
        target = Path(path)
        data = {
            "current": self._current,
            "keys": [
                k.private_jwk() if k.can_sign and k._signer is None else k.public_jwk()
                for k in self._keys.values()
            ],
        }
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
        os.replace(tmp, target)
        return target

    # -- rotation ----------------------------------------------------------------------------
    def add(self, key: JWTKey, *, make_current: bool = False) -> JWTKey:
        """Add a key (for verification, or as the new signing key)."""
        with self._lock:
            if key.kid in self._keys:
                raise ConfigError(f"the key id {key.kid!r} is already in the key set")
            table = {**self._keys, key.kid: key}
            if make_current or (self._current is None and key.can_sign):
                self._set_current(key.kid, table)
            self._keys = table
        return key

    def rotate(self, algorithm: str | None = None) -> JWTKey:
        """Generate a new key (same algorithm as the current one by default) and sign with it."""
        alg = algorithm or (self.current.algorithm if self._current else "EdDSA")
        return self.add(JWTKey.generate(alg), make_current=True)

    def remove(self, kid: str) -> None:
        """Stop accepting tokens signed by ``kid`` (not the current key)."""
        with self._lock:
            if kid == self._current:
                raise ConfigError(f"{kid!r} is the current signing key; rotate before removing it")
            table = dict(self._keys)
            table.pop(kid, None)
            self._keys = table

    # -- lookup ------------------------------------------------------------------------------
    @property
    def current(self) -> JWTKey:
        """The key new tokens are signed with."""
        if self._current is None:
            raise ConfigError("this key set has no signing key; add one or load a private key")
        return self._keys[self._current]

    def get(self, kid: str) -> JWTKey | None:
        """The key with id ``kid``, if held."""
        return self._keys.get(kid)

    def select(self, kid: Any, alg: Any) -> JWTKey:
        """The key a token header designates, bound to the header's algorithm.

        Raises:
            TokenInvalidError: unknown ``kid``, ``alg`` not the key's, or no ``kid`` and not
                exactly one key for that ``alg``.
        """
        if not isinstance(alg, str):
            raise TokenInvalidError("the token header has no valid 'alg'")
        if kid is not None:
            if not isinstance(kid, str):
                raise TokenInvalidError("the token header's 'kid' is not a string")
            key = self._keys.get(kid)
            if key is None:
                raise TokenInvalidError(
                    f"the token was signed by an unknown key (kid {kid[:64]!r}); it was issued "
                    "elsewhere or its key has been removed"
                )
        else:
            matches = [k for k in self._keys.values() if k.algorithm == alg]
            if len(matches) != 1:
                raise TokenInvalidError(
                    "the token header has no 'kid' and the key set cannot pick a key for "
                    f"alg {alg[:16]!r} unambiguously"
                )
            key = matches[0]
        if key.algorithm != alg:
            raise TokenInvalidError(
                f"the token's alg {alg[:16]!r} is not the algorithm its key is bound to "
                f"({key.algorithm}); refusing it"
            )
        return key

    def jwks(self) -> dict[str, Any]:
        """The public keys as a JWKS (HMAC keys are never published)."""
        keys = [k.public_jwk() for k in self._keys.values()]
        return {"keys": [k for k in keys if k is not None]}

    def __iter__(self) -> Iterator[JWTKey]:
        return iter(list(self._keys.values()))

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, kid: object) -> bool:
        return kid in self._keys

    def __repr__(self) -> str:
        return f"<KeySet current={self._current!r} kids={list(self._keys)!r}>"

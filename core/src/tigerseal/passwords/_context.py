"""Hash and verify passwords with the configured scheme, and upgrade hashes at login.

:class:`PasswordContext` plays the role of passlib's ``CryptContext``: one default scheme for
new hashes, every registered scheme for verification (identified from the stored hash), an
optional pepper, and :meth:`~PasswordContext.verify_and_update` to move old hashes to the
current scheme, parameters and pepper when the user next logs in.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tigerseal._defaults import ProcessDefault
from tigerseal.errors import PasswordError
from tigerseal.passwords._base import acceptable, check_password
from tigerseal.passwords._pepper import PepperKeyring
from tigerseal.spi.services import PasswordHasher

if TYPE_CHECKING:
    from tigerseal.config import Settings

__all__ = [
    "PasswordContext",
    "get_password_context",
    "hash_password",
    "identify_hash",
    "needs_update",
    "set_password_context",
    "verify_and_update",
    "verify_password",
]

_PEPPERED = re.compile(r"\$ts-pepper\$v=1,id=([A-Za-z0-9._-]{1,32})(\$.+)", re.DOTALL)
_BUILTIN_ORDER = ("argon2", "bcrypt", "scrypt", "pbkdf2-sha256")


class PasswordContext:
    """The password policy of an application: a default scheme, known schemes, a pepper.

    Args:
        default: name of the scheme for new hashes (``PASSWORD_HASH_ALGORITHM``).
        hashers: scheme instances by name; missing names are built from the plugin registry
            (``tigerseal.plugins.password_hasher``) with ``options``.
        options: per-scheme constructor options, e.g. ``{"pbkdf2-sha256": {"iterations": n}}``.
        pepper: peppers for new hashes and for verifying peppered ones.

    Raises:
        UnknownProviderError: ``default`` names no installed scheme.
    """

    def __init__(
        self,
        default: str = "argon2",
        *,
        hashers: Mapping[str, PasswordHasher] | None = None,
        options: Mapping[str, Mapping[str, Any]] | None = None,
        pepper: PepperKeyring | None = None,
    ) -> None:
        self._instances: dict[str, PasswordHasher] = dict(hashers or {})
        self._options = {k: dict(v) for k, v in (options or {}).items()}
        self._all: tuple[PasswordHasher, ...] | None = None
        self._lock = threading.Lock()
        self.pepper = pepper
        self.default = self.hasher(default)
        self._dummy: str | None = None

    # -- schemes -----------------------------------------------------------------------------
    def hasher(self, name: str) -> PasswordHasher:
        """The scheme registered as ``name`` (built on first use)."""
        found = self._instances.get(name)
        if found is None:
            from tigerseal.plugins import password_hasher

            found = password_hasher(name, **self._options.get(name, {}))
            self._instances[name] = found
            self._instances.setdefault(found.name, found)
        return found

    def _schemes(self) -> tuple[PasswordHasher, ...]:
        schemes = self._all
        if schemes is None:
            from tigerseal.plugins import get_registry

            with self._lock:
                names = list(dict.fromkeys(_BUILTIN_ORDER))
                names += sorted(
                    n
                    for n, s in get_registry().specs("register_password_hashers").items()
                    if n == s.name and n not in names
                )
                found: list[PasswordHasher] = [self.default]
                for name in names:
                    h = self.hasher(name)
                    if all(h is not other for other in found):
                        found.append(h)
                found += [h for h in self._instances.values() if all(h is not o for o in found)]
                schemes = self._all = tuple(found)
        return schemes

    def identify(self, stored_hash: str) -> PasswordHasher | None:
        """The scheme that wrote ``stored_hash`` (pepper marker removed), or ``None``."""
        m = _PEPPERED.fullmatch(stored_hash)
        inner = m[2] if m else stored_hash
        if self.default.identify(inner):
            return self.default
        for scheme in self._schemes():
            if scheme.identify(inner):
                return scheme
        return None

    def _split(self, stored_hash: str) -> tuple[str | None, str, PasswordHasher]:
        if not isinstance(stored_hash, str):
            raise TypeError(f"stored hash must be str, not {type(stored_hash).__name__}")
        m = _PEPPERED.fullmatch(stored_hash)
        pepper_id, inner = (m[1], m[2]) if m else (None, stored_hash)
        scheme = self.identify(inner)
        if scheme is None:
            raise PasswordError(
                "the stored hash is in no recognised format (argon2, bcrypt, scrypt, "
                "pbkdf2-sha256, or a registered plugin scheme); check the column holds a hash"
            )
        return pepper_id, inner, scheme

    # -- operations --------------------------------------------------------------------------
    def hash(self, password: str) -> str:
        """Hash a password with the default scheme (and the current pepper, if any).

        Raises:
            PasswordError: the password is empty or longer than 4096 characters.
        """
        if self.pepper is None:
            return self.default.hash(password)
        check_password(password)
        inner = self.default.hash(self.pepper.apply(password))
        return f"$ts-pepper$v=1,id={self.pepper.current}{inner}"

    def verify(self, password: str, stored_hash: str | None) -> bool:
        """Check a password against a stored hash of any known scheme.

        Args:
            password: the candidate.
            stored_hash: the stored hash, or ``None`` when the user does not exist: a dummy
                hash is then verified so the response takes as long as for a real user.

        Raises:
            PasswordError: the stored hash is malformed or in an unknown format, or it is
                peppered and no pepper is configured.
        """
        if stored_hash is None:
            self.default.verify(password, self._dummy_hash())
            return False
        pepper_id, inner, scheme = self._split(stored_hash)
        if not acceptable(password):
            return False
        return scheme.verify(self._effective(password, pepper_id), inner)

    def needs_update(self, stored_hash: str) -> bool:
        """Whether a hash is not in the current scheme, parameters or pepper."""
        pepper_id, inner, scheme = self._split(stored_hash)
        return self._outdated(scheme, inner, pepper_id)

    def verify_and_update(self, password: str, stored_hash: str) -> tuple[bool, str | None]:
        """Verify, and return a replacement hash when the stored one is outdated.

        Returns:
            ``(False, None)`` if the password is wrong; ``(True, None)`` if it is right and the
            hash is current; ``(True, new_hash)`` if it is right and should be replaced.
        """
        pepper_id, inner, scheme = self._split(stored_hash)
        if not acceptable(password):
            return False, None
        candidate = self._effective(password, pepper_id)
        if not scheme.verify(candidate, inner):
            return False, None
        outdated = self._outdated(scheme, inner, pepper_id)
        if not outdated:
            check = getattr(scheme, "needs_update_after_verify", None)
            outdated = bool(check and check(candidate, inner))
        return True, (self.hash(password) if outdated else None)

    def _outdated(self, scheme: PasswordHasher, inner: str, pepper_id: str | None) -> bool:
        if scheme is not self.default:
            return True
        current_pepper = self.pepper.current if self.pepper else None
        if pepper_id != current_pepper:
            return True
        return scheme.needs_update(inner)

    def _effective(self, password: str, pepper_id: str | None) -> str:
        if pepper_id is None:
            return password
        if self.pepper is None:
            raise PasswordError(
                f"the stored hash is peppered (pepper {pepper_id!r}) but no pepper is "
                "configured; set TIGERSEAL_PASSWORD_PEPPER_FILE"
            )
        return self.pepper.apply(password, pepper_id)

    def _dummy_hash(self) -> str:
        if self._dummy is None:
            import secrets

            self._dummy = self.default.hash(secrets.token_urlsafe(16))
        return self._dummy

    def __repr__(self) -> str:
        return f"<PasswordContext default={self.default.name!r} pepper={self.pepper!r}>"


# -- the process-wide context -------------------------------------------------------------------
def _build_from_settings(settings: Settings) -> PasswordContext:
    settings.require("password_hash_algorithm", "pbkdf2_iterations")
    pepper = None
    if settings.password_pepper_file:
        from tigerseal.envelope._default import configured_provider_uris
        from tigerseal.passwords._pepper import load_pepper_file
        from tigerseal.plugins import key_provider_from_uri

        providers = [key_provider_from_uri(u) for u in configured_provider_uris(settings)]
        pepper = load_pepper_file(settings.password_pepper_file, providers)
    return PasswordContext(
        settings.password_hash_algorithm,
        options={"pbkdf2-sha256": {"iterations": settings.pbkdf2_iterations}},
        pepper=pepper,
    )


def _from_process_settings() -> PasswordContext:
    from tigerseal.config import get_settings

    return _build_from_settings(get_settings())


def _settings_source() -> object:
    from tigerseal.config import get_settings

    return get_settings()


_CONTEXT: ProcessDefault[PasswordContext] = ProcessDefault(
    "password context", _from_process_settings, source=_settings_source
)


def get_password_context(settings: Settings | None = None) -> PasswordContext:
    """The process-wide context, built from settings (rebuilt after ``reset_settings()``).

    ``PASSWORD_HASH_ALGORITHM`` picks the default scheme, ``PBKDF2_ITERATIONS`` the PBKDF2
    cost, ``TIGERSEAL_PASSWORD_PEPPER_FILE`` the peppers (each ``TIGERSEAL_`` name first).

    Args:
        settings: build a new context from these settings instead (not shared, not cached).
    """
    if settings is not None:
        return _build_from_settings(settings)
    return _CONTEXT.get()


def set_password_context(context: PasswordContext | None) -> None:
    """Install a context for the whole process (``None``: back to settings)."""
    _CONTEXT.set(context)


def hash_password(password: str) -> str:
    """Hash a password with the configured default scheme (argon2id unless configured)."""
    return get_password_context().hash(password)


def verify_password(password: str, stored_hash: str | None) -> bool:
    """Check a password against a stored hash of any supported scheme.

    ``stored_hash=None`` (unknown user) verifies against a dummy hash and returns ``False``,
    so response times do not reveal which users exist.
    """
    return get_password_context().verify(password, stored_hash)


def verify_and_update(password: str, stored_hash: str) -> tuple[bool, str | None]:
    """Verify, and return a new hash if the stored one is outdated (see PasswordContext)."""
    return get_password_context().verify_and_update(password, stored_hash)


def needs_update(stored_hash: str) -> bool:
    """Whether a stored hash should be replaced at the next successful login."""
    return get_password_context().needs_update(stored_hash)


def identify_hash(stored_hash: str) -> str | None:
    """The name of the scheme that wrote ``stored_hash`` (``None`` if unknown)."""
    scheme = get_password_context().identify(stored_hash)
    return scheme.name if scheme is not None else None

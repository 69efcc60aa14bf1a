"""Process-wide PKCS#11 state: one loaded module per path, one login and session pool per token.

Why this module exists:

* A PKCS#11 module is initialised once per process (``C_Initialize``) and a token is logged in
  to once per process (login state belongs to the application, not to a session): a second
  ``C_Login`` raises ``CKR_USER_ALREADY_LOGGED_IN``, and closing a session that logged in
  (python-pkcs11 calls ``C_Logout`` then) logs *every* session out. So every provider of one
  token shares one :class:`TokenPool`: the first session logs in and stays open; the others are
  opened without a PIN and inherit the login.
* Thread safety. python-pkcs11 calls ``C_Initialize(NULL)``, which tells the module that the
  application is single-threaded, so a module may (and SoftHSM2 does) switch its own locking
  off. Several threads then crashed SoftHSM (``CKR_GENERAL_ERROR``, SIGSEGV, heap corruption),
  even with one lock per session. Two safe modes, chosen per module with ``locking=``:

  - ``global`` (default): one process-wide lock per module, held around every sequence of
    PKCS#11 calls. Safe with any module. The GIL is released inside the module, so Python work
    of other threads (nonces, AAD, parsing) overlaps the HSM call.
  - ``os``: the module is re-initialised with ``CK_C_INITIALIZE_ARGS.flags =
    CKF_OS_LOCKING_OK``, which obliges it to lock internally (PKCS#11 v2.40 section 5.4), and
    no Python lock is taken: operations run in parallel on pooled sessions. For network HSMs
    whose latency a single lock would serialise. Tested under load with SoftHSM2 2.6.
    python-pkcs11 has no way to pass initialisation arguments, so the module is finalised and
    initialised again through ``ctypes`` (the same loaded library: ``dlopen`` of one file
    returns one instance, which is checked right after).

* Sessions are opened lazily up to ``max-sessions`` per token and reused; an idle pool never
  shrinks (opening a session and finding the key costs several round trips on a real HSM).
* A token that fails (its HSM restarted, SoftHSM2's token directory vanished) leaves the
  module unusable in this process: SoftHSM2 marks the token invalid for good and finds no
  objects even once the directory is back. When an operation fails and the token no longer
  answers ``C_GetTokenInfo``, the provider asks :meth:`Module.recover` to finalise and
  initialise the module again (exclusively: under the global lock, or after draining every
  call in ``os`` mode). Every pool then re-finds its token, drops its stale sessions and logs
  in again with the remembered PIN. While the token is absent that fails and the caller gets
  ``ProviderUnavailable``; once it is back, the same process works again.
* After ``fork()`` PKCS#11 state is unusable in the child: providers built before the fork
  refuse to run there (with a remedy), and modules are initialised again for new providers.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import hmac
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pkcs11
import pkcs11.exceptions as p11
from pkcs11 import MechanismFlag, ObjectClass
from tigerseal._text import escape_control
from tigerseal.errors import AccessDenied, ConfigError, KeyProviderError, ProviderUnavailable

from tigerseal_pkcs11._errors import SESSION_LOST, raise_mapped
from tigerseal_pkcs11._options import Pkcs11Uri

__all__ = ["Module", "Session", "TokenPool", "get_module"]

T = TypeVar("T")

log = logging.getLogger("tigerseal_pkcs11")

#: Looks for a token, the module initialised again before each retry (see Module.pool).
_FIND_ATTEMPTS = 5

_CKF_OS_LOCKING_OK = 0x00000002
_CKR_OK = 0
_CKR_CANT_LOCK = 0x0000000A

# A per-process key for remembering *which* PIN logged a token in (HMAC, never the PIN).
_PIN_MAC_KEY = secrets.token_bytes(32)


class _InitArgs(ctypes.Structure):
    """``CK_C_INITIALIZE_ARGS`` (PKCS#11 v2.40): no mutex callbacks, OS locking allowed."""

    _fields_ = [
        ("CreateMutex", ctypes.c_void_p),
        ("DestroyMutex", ctypes.c_void_p),
        ("LockMutex", ctypes.c_void_p),
        ("UnlockMutex", ctypes.c_void_p),
        ("flags", ctypes.c_ulong),
        ("pReserved", ctypes.c_void_p),
    ]


class _Pin:
    """The user PIN, kept for logging in again after the token dropped the login."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<PIN redacted>"

    __str__ = __repr__


def _retry_pause(attempt: int) -> None:
    """A random pause (up to 25 ms x attempt): processes starting together do not collide again."""
    time.sleep(secrets.randbelow(25_000 * attempt + 1) / 1_000_000)


def _pin_mac(pin: str) -> bytes:
    return hmac.new(_PIN_MAC_KEY, pin.encode("utf-8"), hashlib.sha256).digest()


@dataclass(eq=False)
class Session:
    """A pooled python-pkcs11 session plus the key objects already found through it."""

    raw: Any
    logged_in: bool = False
    keys: dict[tuple[str, bytes | None], Any] = field(default_factory=dict)

    def find_key(self, label: str, obj_id: bytes | None) -> Any:
        """The secret-key object labelled ``label`` (cached per session).

        Raises:
            pkcs11.exceptions.NoSuchKey / MultipleObjectsReturned: as python-pkcs11 does.
        """
        cache_key = (label, obj_id)
        key = self.keys.get(cache_key)
        if key is None:
            key = self.raw.get_key(object_class=ObjectClass.SECRET_KEY, label=label, id=obj_id)
            self.keys[cache_key] = key
        return key

    def forget(self, label: str | None = None) -> None:
        """Drop cached key objects (all, or those of one label) after a handle went stale."""
        if label is None:
            self.keys.clear()
        else:
            for cache_key in [k for k in self.keys if k[0] == label]:
                del self.keys[cache_key]


class TokenPool:
    """Login state and open sessions of one token, shared by every provider using it.

    Args:
        module: the loaded module.
        token: the python-pkcs11 token.
        max_sessions: sessions kept open at most.
    """

    def __init__(self, module: Module, token: Any, max_sessions: int) -> None:
        self.module = module
        self.token = token
        self.label = str(token.label).strip()
        serial = token.serial
        self.serial = (
            serial.decode("ascii", "replace") if isinstance(serial, bytes) else str(serial)
        ).strip()
        self.description = f"{self.label!r} (serial {self.serial or '?'})"
        self.max_sessions = max_sessions
        self.refs = 0
        self.pid = os.getpid()
        self._cond = threading.Condition(threading.Lock())
        self._idle: list[Session] = []
        self._open = 0
        self._waiting = 0
        self._pin: _Pin | None = None
        self._pin_mac: bytes | None = None
        self._needs_login = True
        self._mechanisms: dict[int, int] = {}
        self.generation = module.generation

    # -- recovery ----------------------------------------------------------------------------
    @property
    def forked(self) -> bool:
        """Whether this pool was made in a parent process (it refuses to run here)."""
        return os.getpid() != self.pid

    def healthy(self) -> bool:
        """Whether the token still answers ``C_GetTokenInfo`` (a cheap probe after a failure)."""
        try:
            with self.module.guard():
                self.token.slot.get_token()
        except p11.PKCS11Error:
            return False
        return True

    def _reattach(self) -> None:
        """After the module was re-initialised: find the token again, forget old sessions.

        Called with the module guard held. Old session handles are invalid (and may be reused
        by new sessions), so they are dropped, never closed. The next session logs in again
        with the remembered PIN.

        Raises:
            ProviderUnavailable: the token is not present after the re-initialisation.
        """
        with self._cond:
            if self.generation == self.module.generation:
                return
            self._open -= len(self._idle)
            self._idle.clear()
            self._needs_login = True
            self._cond.notify_all()
            try:
                slots = self.module.lib.get_slots(token_present=True)
            except p11.PKCS11Error as exc:
                raise_mapped(exc, what="listing slots", token=self.description)
            for slot in slots:
                try:
                    token = slot.get_token()
                except p11.PKCS11Error:
                    continue
                serial = token.serial
                serial_text = (
                    serial.decode("ascii", "replace") if isinstance(serial, bytes) else str(serial)
                ).strip()
                if serial_text == self.serial and str(token.label).strip() == self.label:
                    self.token = token
                    self.generation = self.module.generation
                    return
        raise ProviderUnavailable(
            f"token {self.description} is not present after re-initialising the PKCS#11 "
            "module; check that the HSM is connected and its token present, then retry"
        )

    # -- login -------------------------------------------------------------------------------
    def login(self, pin: str) -> None:
        """Log in (once per process) or check that ``pin`` is the PIN already logged in.

        A login that fails for another reason than the PIN is tried again after initialising
        the module again (at most ``_FIND_ATTEMPTS - 1`` times): SoftHSM2 answers
        ``CKR_GENERAL_ERROR`` to ``C_Login`` when it reads its ``token.object`` while another
        process's login rewrites it, and keeps failing until it is initialised again.

        Raises:
            AccessDenied: the token rejects the PIN, or another PIN logged this token in.
            KeyProviderError: the login kept failing for another reason.
        """
        for attempt in range(1, _FIND_ATTEMPTS + 1):
            generation = self.module.generation
            try:
                self._login_once(pin)
                return
            except AccessDenied:
                raise
            except KeyProviderError:
                if attempt == _FIND_ATTEMPTS:
                    raise
            _retry_pause(attempt)
            self.module.recover(generation)

    def _login_once(self, pin: str) -> None:
        mac = _pin_mac(pin)
        with self.module.guard():
            if self.generation != self.module.generation:
                self._reattach()  # the module was initialised again since this pool was made
            self._login_locked(pin, mac)

    def _login_locked(self, pin: str, mac: bytes) -> None:
        with self._cond:
            if self._pin_mac is not None:
                # The token accepts no second C_Login, so a provider could otherwise ride on
                # another provider's login with a wrong PIN.
                if not hmac.compare_digest(mac, self._pin_mac):
                    raise AccessDenied(
                        f"token {self.description} is already logged in in this process with "
                        "a different PIN; every pkcs11: URI of one token must use the same PIN "
                        "(check pin-source=)"
                    )
                return
            session = self._open_session(_Pin(pin))
            self._pin_mac = mac
            self._pin = _Pin(pin)
            self._open += 1
            self._idle.append(session)

    def _open_session(self, pin: _Pin | None) -> Session:
        """Open a read-write session; log in with ``pin`` if the token needs it."""
        if pin is None or not self._needs_login:
            try:
                return Session(self.token.open(rw=True))
            except p11.PKCS11Error as exc:
                raise_mapped(exc, what="opening a session", token=self.description)
        try:
            raw = self.token.open(rw=True, user_pin=pin.reveal())
        except p11.UserAlreadyLoggedIn:
            # Another component of this process logged the token in; its login serves us too.
            log.warning(
                "PKCS#11 token %s was already logged in by another component", self.description
            )
            self._needs_login = False
            return self._open_session(None)
        except p11.PKCS11Error as exc:
            raise_mapped(exc, what="logging in", token=self.description)
        self._needs_login = False
        return Session(raw, logged_in=True)

    # -- sessions ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """Check a session out for one sequence of PKCS#11 calls (under the module's lock).

        A session the module reports as closed or logged out is discarded (the login is
        renewed with the remembered PIN); everything else goes back to the pool.
        """
        if os.getpid() != self.pid:
            raise ProviderUnavailable(
                "this pkcs11 provider was created before fork(); PKCS#11 sessions do not "
                "survive it. Create providers in each worker process (after the fork, e.g. "
                "lazily on first use or in gunicorn's post_fork hook)"
            )
        with self.module.guard():
            session = self._acquire()
            try:
                yield session
            except SESSION_LOST as exc:
                self._discard(session, relogin=isinstance(exc, p11.UserNotLoggedIn))
                raise
            except BaseException:
                self._release(session)
                raise
            else:
                self._release(session)

    def run(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn`` with a pooled session (under the module lock in ``global`` mode).

        The hot path of every wrap and unwrap: :meth:`session` inlined, without a generator.
        """
        if os.getpid() != self.pid:
            with self.session() as session:  # raises the fork error
                return fn(session)  # pragma: no cover
        module = self.module
        module.enter()
        try:
            session = self._acquire()
            try:
                result = fn(session)
            except SESSION_LOST as exc:
                self._discard(session, relogin=isinstance(exc, p11.UserNotLoggedIn))
                raise
            except BaseException:
                self._release(session)
                raise
            self._release(session)
            return result
        finally:
            module.leave()

    def _acquire(self) -> Session:
        if self.generation != self.module.generation:
            self._reattach()
        with self._cond:
            while True:
                if self._idle:
                    return self._idle.pop()
                if self._open < self.max_sessions:
                    self._open += 1
                    break
                self._waiting += 1
                try:
                    self._cond.wait()
                finally:
                    self._waiting -= 1
        try:
            return self._open_session(self._pin)
        except BaseException:
            with self._cond:
                self._open -= 1
                if self._waiting:
                    self._cond.notify()
            raise

    def _release(self, session: Session) -> None:
        with self._cond:
            self._idle.append(session)
            if self._waiting:  # Condition.notify is Python code: skip it when nobody waits
                self._cond.notify()

    def _discard(self, session: Session, *, relogin: bool) -> None:
        stale = [session]
        with self._cond:
            if relogin:
                # Login state is per token: every idle session lost it too.
                stale.extend(self._idle)
                self._idle.clear()
                self._needs_login = True
            self._open -= len(stale)
            self._cond.notify_all()
        for item in stale:
            _close_quietly(item)

    def mechanism_flags(self, mechanism: int) -> int:
        """``CK_MECHANISM_INFO.flags`` of ``mechanism`` on this token (0: unsupported)."""
        if mechanism not in self._mechanisms:
            with self.module.guard():
                try:
                    info = self.token.slot.get_mechanism_info(mechanism)
                    # SoftHSM 2.6 leaves garbage in the high bits; keep the defined ones.
                    flags = int(info.flags) & 0xFFFFFFFF
                except p11.MechanismInvalid:
                    flags = 0
                except p11.PKCS11Error as exc:
                    raise_mapped(exc, what="reading the mechanism list", token=self.description)
            self._mechanisms[mechanism] = flags
        return self._mechanisms[mechanism]

    def supports(self, mechanism: int, *flags: MechanismFlag) -> bool:
        have = self.mechanism_flags(mechanism)
        return all(have & int(flag) for flag in flags)

    def close_all(self) -> None:
        """Close every idle session (the login session last, which logs the token out)."""
        with self.module.guard(), self._cond:
            sessions, self._idle = self._idle, []
            self._open -= len(sessions)
            self._pin = None
            self._pin_mac = None
            self._needs_login = True
        for session in sorted(sessions, key=lambda s: s.logged_in):
            _close_quietly(session)


def _close_quietly(session: Session) -> None:
    # python-pkcs11 logs out before closing a session that logged in; both are fine here
    # (the login is gone or being dropped on purpose) and failures are moot.
    session.keys.clear()
    with contextlib.suppress(p11.PKCS11Error):
        session.raw.close()


class _Gate:
    """Shared entry for PKCS#11 calls in ``os`` mode, exclusive for re-initialising the module.

    ``C_Finalize`` must not run while other threads are inside the module (PKCS#11 v2.40
    section 5.4); in ``global`` mode the module lock already guarantees that.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._active = 0
        self._closed = False

    def enter(self) -> None:
        with self._cond:
            while self._closed:
                self._cond.wait()
            self._active += 1

    def leave(self) -> None:
        with self._cond:
            self._active -= 1
            if self._closed and not self._active:
                self._cond.notify_all()

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        self.enter()
        try:
            yield
        finally:
            self.leave()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            while self._closed:
                self._cond.wait()
            self._closed = True
            while self._active:
                self._cond.wait()
        try:
            yield
        finally:
            with self._cond:
                self._closed = False
                self._cond.notify_all()


def init_failure_reason(path: str, exc: BaseException) -> str:
    """Why the module at ``path`` refused ``C_Initialize``, and what to do (no secrets).

    SoftHSM2 answers a bare ``CKR_GENERAL_ERROR`` when its configuration file (``SOFTHSM2_CONF``,
    default ``/etc/softhsm/softhsm2.conf``) or the token directory it names is missing; both
    are checked here so the message names the real cause.
    """
    name = type(exc).__name__
    detail = f"{name}: {exc}" if str(exc) else name
    if "softhsm" not in os.path.basename(path).lower():
        return (
            f"the PKCS#11 module {path} loaded but refused to initialise ({detail}); check the "
            "module's own configuration (its config file or environment variables) and that "
            "the HSM is reachable, as its vendor documents"
        )
    env = os.environ.get("SOFTHSM2_CONF")
    conf = escape_control(env or "/etc/softhsm/softhsm2.conf")
    source = f"SOFTHSM2_CONF={conf}" if env else f"default {conf}; SOFTHSM2_CONF unset"
    if not os.path.isfile(env or conf):
        return (
            f"SoftHSM2 did not initialise ({detail}): its configuration file {conf} "
            f"({source}) does not exist; set SOFTHSM2_CONF to your softhsm2.conf (it names "
            "directories.tokendir)"
        )
    tokendir = None
    with contextlib.suppress(OSError, UnicodeDecodeError), open(env or conf) as handle:
        for line in handle:
            key, sep, value = line.partition("=")
            if sep and key.strip() == "directories.tokendir":
                tokendir = value.strip()
    if tokendir and not os.path.isdir(tokendir):
        return (
            f"SoftHSM2 did not initialise ({detail}): the token directory "
            f"{escape_control(tokendir)} named in {conf} ({source}) does not "
            "exist or is not accessible; restore or mount it, or create it and a token "
            f"(mkdir -p DIR; softhsm2-util --init-token --free --label NAME with {source})"
        )
    return (
        f"SoftHSM2 did not initialise ({detail}); check {conf} ({source}) and "
        "that this user can read and write its token directory"
    )


class Module:
    """One loaded PKCS#11 module, initialised once per process.

    Args:
        path: absolute path of the module.
        locking: ``"global"`` or ``"os"`` (see the module docstring).
    """

    def __init__(self, path: str, locking: str) -> None:
        self.path = path
        self.locking = locking
        self.pid = os.getpid()
        self._dll: ctypes.CDLL | None = None
        self.lock: threading.Lock | None = threading.Lock() if locking == "global" else None
        self._gate = _Gate()
        #: Bumped by every successful :meth:`recover`; pools compare it to re-find their token.
        self.generation = 0
        #: A re-initialisation failed: the module is not initialised until one succeeds.
        self.broken = False
        self._pools: dict[tuple[int, str], TokenPool] = {}
        self._pools_lock = threading.Lock()
        self.lib = self._load()

    def _load(self) -> Any:
        if not os.path.exists(self.path):
            raise ConfigError(
                f"PKCS#11 module not found at {self.path}; fix module-path= in the pkcs11: URI "
                "(SoftHSM2 for development: apt-get install softhsm2, module "
                "/usr/lib/softhsm/libsofthsm2.so)"
            )
        preloaded = self.path in getattr(pkcs11, "_loaded", {})
        try:
            lib = pkcs11.lib(self.path)
        except p11.PKCS11Error as exc:
            if type(exc) is p11.PKCS11Error:  # dlopen or C_GetFunctionList failed
                raise ConfigError(
                    f"cannot load the PKCS#11 module {self.path} ({exc or type(exc).__name__}); "
                    "check that module-path= names a PKCS#11 library built for this machine"
                ) from exc
            # The library loaded; C_Initialize refused (its own configuration is at fault).
            raise ConfigError(init_failure_reason(self.path, exc)) from exc
        if self.locking == "os":
            if preloaded:
                raise ConfigError(
                    f"the PKCS#11 module {self.path} was already initialised in this process by "
                    "other code, so it cannot be switched to locking=os; use locking=global"
                )
            self._init_os_locking(lib)
        return lib

    def _init_os_locking(self, lib: Any) -> None:
        lib.finalize()
        self._dll = ctypes.CDLL(self.path)
        initialize = self._dll.C_Initialize
        initialize.restype = ctypes.c_ulong
        initialize.argtypes = [ctypes.c_void_p]
        args = _InitArgs(None, None, None, None, _CKF_OS_LOCKING_OK, None)
        rv = initialize(ctypes.byref(args))
        if rv != _CKR_OK:
            with contextlib.suppress(p11.PKCS11Error):  # the ConfigError below says why
                lib.initialize()  # leave the module usable for locking=global
            reason = "cannot lock internally" if rv == _CKR_CANT_LOCK else f"CKR {rv:#x}"
            raise ConfigError(
                f"the PKCS#11 module {self.path} refused OS locking ({reason}); use locking=global"
            )
        try:
            lib.get_slots()  # proves ctypes and python-pkcs11 share one library instance
        except p11.PKCS11Error as exc:  # pragma: no cover - would need a second instance
            raise ConfigError(
                f"re-initialising {self.path} with OS locking failed ({exc}); use locking=global"
            ) from exc

    def guard(self) -> contextlib.AbstractContextManager[object]:
        """The process-wide lock in ``global`` mode; a shared entry of the gate in ``os`` mode."""
        return self.lock if self.lock is not None else self._gate.shared()

    def enter(self) -> None:
        """Start a sequence of PKCS#11 calls (pair with :meth:`leave`); the hot-path guard."""
        if self.lock is not None:
            self.lock.acquire()
        else:
            self._gate.enter()

    def leave(self) -> None:
        if self.lock is not None:
            self.lock.release()
        else:
            self._gate.leave()

    def recover(self, seen_generation: int) -> None:
        """Finalise and initialise the module again after a token failed (see module docs).

        Only one caller re-initialises per failure: one that saw ``seen_generation`` while
        another thread already recovered returns at once.

        Raises:
            ProviderUnavailable: the module does not initialise (e.g. the token directory of
                SoftHSM2 is still gone); a later call tries again.
        """
        exclusive = self.lock if self.lock is not None else self._gate.exclusive()
        with exclusive:
            if self.generation != seen_generation:
                return
            log.warning("re-initialising the PKCS#11 module %s after a token failure", self.path)
            self._finalize_quietly()
            try:
                if self.locking == "os":
                    self._init_os_locking(self.lib)
                else:
                    self.lib.initialize()
            except (p11.PKCS11Error, ConfigError) as exc:
                self.broken = True
                cause = exc.__cause__ if isinstance(exc, ConfigError) else exc
                reason = init_failure_reason(self.path, cause or exc)
                raise ProviderUnavailable(
                    f"the PKCS#11 token is not available and its module could not be "
                    f"initialised again: {reason}. Retry once the token is back"
                ) from exc
            self.broken = False
            self.generation += 1

    def _finalize_quietly(self) -> None:
        with contextlib.suppress(p11.PKCS11Error):
            self.lib.finalize()
        if self._dll is not None:  # os mode: python-pkcs11 does not know it is initialised
            finalize = self._dll.C_Finalize
            finalize.restype = ctypes.c_ulong
            finalize.argtypes = [ctypes.c_void_p]
            finalize(None)

    def reinitialize_after_fork(self) -> None:
        """Initialise the module again in a forked child (the parent's state is unusable).

        Raises:
            ConfigError: ``locking=os`` and the module refuses OS locking in the child.
        """
        # Threads of the parent may have held the lock, a gate entry or the pools lock when it
        # forked; they do not exist here, so those would never be released.
        self.lock = threading.Lock() if self.locking == "global" else None
        self._gate = _Gate()
        self._pools_lock = threading.Lock()
        self._pools = {}
        # In os mode python-pkcs11 believes the module finalised (it was initialised through
        # ctypes): _finalize_quietly calls C_Finalize through ctypes too, or C_Initialize below
        # would fail with CKR_CRYPTOKI_ALREADY_INITIALIZED.
        self._finalize_quietly()
        if self.locking == "os":
            self._init_os_locking(self.lib)
        else:
            self.lib.initialize()
        self.broken = False
        self.pid = os.getpid()

    # -- tokens ------------------------------------------------------------------------------
    def find_token(self, uri: Pkcs11Uri) -> Any:
        """The one token ``uri`` selects.

        Raises:
            ProviderUnavailable: no present token matches (the message lists those found).
            ConfigError: several tokens match.
        """
        found: list[Any] = []
        labels: list[str] = []
        with self.guard():
            try:
                slots = self.lib.get_slots(token_present=True)
            except p11.PKCS11Error as exc:
                raise_mapped(exc, what="listing slots", token=self.path)
            for slot in slots:
                if uri.slot_id is not None and slot.slot_id != uri.slot_id:
                    continue
                try:
                    token = slot.get_token()
                except p11.PKCS11Error:
                    # Not present, not recognised, or failed (SoftHSM2: CKR_GENERAL_ERROR once
                    # its directory vanished): not a token this URI can use now.
                    continue
                label = str(token.label).strip()
                labels.append(label)
                serial = token.serial
                serial_text = (
                    serial.decode("ascii", "replace") if isinstance(serial, bytes) else str(serial)
                ).strip()
                if uri.token is not None and label != uri.token:
                    continue
                if uri.serial is not None and serial_text != uri.serial:
                    continue
                if uri.manufacturer is not None and (
                    str(token.manufacturer_id).strip() != uri.manufacturer
                ):
                    continue
                if uri.model is not None and str(token.model).strip() != uri.model:
                    continue
                found.append(token)
        if not found:
            wanted = uri.key_id.rsplit(";object=", 1)[0] or "any token"
            raise ProviderUnavailable(
                f"no PKCS#11 token matching {wanted} is present in {self.path} (tokens found: "
                f"{', '.join(repr(x) for x in labels) or 'none'}); check token= in the URI, that "
                "the HSM is connected, or create one (SoftHSM2: softhsm2-util --init-token "
                "--free --label NAME)"
            )
        if len(found) > 1:
            raise ConfigError(
                f"{len(found)} tokens in {self.path} match the pkcs11: URI; add serial= or "
                "slot-id= to pick one"
            )
        return found[0]

    def pool(self, uri: Pkcs11Uri) -> TokenPool:
        """The process-wide pool of the token ``uri`` selects (created on first use).

        When no present token matches, the module is initialised again (at most
        ``_FIND_ATTEMPTS - 1`` times, after a short random pause) before giving up. SoftHSM2
        rewrites a token's ``token.object`` at every login, in every process; a process whose
        ``C_Initialize`` reads it mid-rewrite leaves that token out of its slot list until it
        initialises again (workers starting together hit this). A token that is really absent
        costs those re-initialisations, and other pools of the module log in again.

        Raises:
            ProviderUnavailable: no present token matches (or the module does not initialise).
            ConfigError: several tokens match.
        """
        if self.broken:  # a token failed earlier and the module is still down: try again
            self.recover(self.generation)
        for attempt in range(1, _FIND_ATTEMPTS + 1):
            generation = self.generation
            try:
                token = self.find_token(uri)
                break
            except ProviderUnavailable:
                if attempt == _FIND_ATTEMPTS:
                    raise
            _retry_pause(attempt)
            self.recover(generation)
        key = (int(token.slot.slot_id), str(token.serial))
        with self._pools_lock:
            pool = self._pools.get(key)
            if pool is None:
                pool = TokenPool(self, token, uri.max_sessions)
                self._pools[key] = pool
            else:
                pool.max_sessions = max(pool.max_sessions, uri.max_sessions)
            pool.refs += 1
            return pool

    def release(self, pool: TokenPool) -> None:
        """Drop one reference; the last one closes the sessions (and logs the token out)."""
        with self._pools_lock:
            pool.refs -= 1
            if pool.refs > 0:
                return
            for key, value in list(self._pools.items()):
                if value is pool:
                    del self._pools[key]
        if os.getpid() == pool.pid:
            pool.close_all()


_modules: dict[str, Module] = {}
_modules_lock = threading.Lock()


def get_module(path: str, locking: str) -> Module:
    """The process's :class:`Module` for ``path`` (loaded and initialised on first use).

    Raises:
        ConfigError: the path is wrong, the library does not load, or ``locking`` differs
            from the mode the module was already initialised with.
    """
    real = os.path.realpath(path)
    with _modules_lock:
        module = _modules.get(real)
        if module is None:
            module = Module(real, locking)
            _modules[real] = module
            return module
        if module.locking != locking:
            raise ConfigError(
                f"the PKCS#11 module {real} is already initialised with locking={module.locking} "
                f"in this process; use locking={module.locking} in every pkcs11: URI naming it"
            )
        if module.pid != os.getpid():
            module.reinitialize_after_fork()
        return module


def _after_fork_in_child() -> None:
    # A lock held by another thread at fork time would never be released in the child.
    global _modules_lock
    _modules_lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)

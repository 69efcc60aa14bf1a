"""tigerseal.aio's pools as an operator meets them: sizes from the settings, forks, cancellation."""

from __future__ import annotations

import asyncio
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tigerseal import aio
from tigerseal.config import Settings, reset_settings
from tigerseal.errors import ConfigError

from tests.unit.aio.conftest import CaptureSink


@pytest.fixture
def fresh_pools() -> Iterator[None]:
    aio.shutdown()
    saved = dict(aio._pools._sizes)
    aio._pools._sizes.update(io=None, hash=None)
    yield
    aio.shutdown()
    aio._pools._sizes.update(saved)
    reset_settings()


def test_pool_sizes_are_settings_fields_validated_there() -> None:
    assert Settings(_environ={}).aio_io_threads == 10
    assert Settings(_environ={}).aio_hash_threads is None  # the number of cores
    assert Settings(_environ={"TIGERSEAL_AIO_HASH_THREADS": "3"}).aio_hash_threads == 3
    assert Settings(aio_io_threads=32).aio_io_threads == 32
    for bad in ("0", "257", "many", "-1"):
        with pytest.raises(ConfigError, match="TIGERSEAL_AIO_IO_THREADS"):
            Settings(_environ={"TIGERSEAL_AIO_IO_THREADS": bad})


def test_pool_sizes_follow_the_settings_dotenv_file_too(
    fresh_pools: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env_file = tmp_path / "tigerseal.env"
    env_file.write_text("TIGERSEAL_AIO_IO_THREADS=4\nTIGERSEAL_AIO_HASH_THREADS=1\n")
    monkeypatch.setenv("TIGERSEAL_ENV_FILE", str(env_file))
    reset_settings()
    assert aio.pool_sizes() == {"io": 4, "hash": 1}
    aio.configure(io_threads=6)  # explicit wins over settings
    assert aio.pool_sizes()["io"] == 6


def _in_forked_child() -> int:
    """Run one call on each pool in a forked child; its exit code says what happened."""
    pid = os.fork()
    if pid == 0:  # the child: as a gunicorn worker forked after --preload
        code = 1
        try:

            async def calls() -> tuple[int, int]:
                return (
                    await asyncio.wait_for(aio.run_io(os.getpid), 5),
                    await asyncio.wait_for(aio.run_hash(os.getpid), 5),
                )

            code = 0 if asyncio.run(calls()) == (os.getpid(), os.getpid()) else 2
        except BaseException:
            code = 3  # timed out: the inherited pool has no threads
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@pytest.mark.anyio
async def test_pools_work_in_a_child_forked_after_first_use(fresh_pools: None) -> None:
    aio.configure(io_threads=1, hash_threads=1)
    assert await aio.run_io(os.getpid) == os.getpid()  # each pool now has its one thread
    assert await aio.run_hash(os.getpid) == os.getpid()
    with warnings.catch_warnings():  # fork() with threads running: what preload servers do
        warnings.simplefilter("ignore", DeprecationWarning)
        assert _in_forked_child() == 0
    assert await aio.run_io(os.getpid) == os.getpid()  # the parent's pools still work


@pytest.mark.anyio
async def test_a_cancelled_caller_cannot_suppress_its_audit_record(
    fresh_pools: None, audit_capture: CaptureSink
) -> None:
    """A client that disconnects after a failed login must not erase the audit trail of it.

    With the I/O pool busy the record waits in the queue; cancelling the awaiting task (a
    server does that on disconnect) used to cancel the queued write.
    """
    import threading

    aio.configure(io_threads=1)
    gate = threading.Event()
    busy = asyncio.ensure_future(aio.run_io(gate.wait, 10))  # the pool's one thread, busy
    await asyncio.sleep(0.05)
    audit = asyncio.ensure_future(aio.audit_security_event("authn_login_fail", user_id="eve"))
    await asyncio.sleep(0.05)
    audit.cancel()
    with pytest.raises(asyncio.CancelledError):
        await audit
    gate.set()
    await busy
    await aio.run_io(lambda: None)  # the queue has drained
    assert audit_capture.events() == ["authn_login_fail"]


def test_first_pool_use_does_not_build_the_settings_on_the_event_loop(tmp_path: Path) -> None:
    """Creating a pool happens on the loop: it reads its size without building ``Settings``.

    Building them imports pydantic and validates every setting: seconds on a busy host, during
    which the first request's event loop would serve nobody.
    """
    import subprocess
    import sys

    code = (
        "import asyncio, sys\n"
        "from tigerseal import aio\n"
        "async def main():\n"
        "    assert await aio.run_io(lambda: 1) == 1\n"
        "    return 'pydantic' in sys.modules, aio.pool_sizes()['io']\n"
        "print(asyncio.run(main()))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIGERSEAL_")}
    env["TIGERSEAL_AIO_IO_THREADS"] = "7"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(False, 7)"


@pytest.mark.anyio
async def test_the_shared_service_is_built_off_the_event_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first request must not build the shared service (imports, keyring, KMS client)
    on the event loop; later requests find it built."""
    import threading

    from tigerseal.envelope import _default, reset_encryption_service

    monkeypatch.setenv("TIGERSEAL_ENCRYPTION_MASTER_KEY", "5e" * 16 + "a1" * 16)
    reset_settings()
    reset_encryption_service()
    built_on: list[str] = []
    build = _default._SERVICE._factory

    def recording() -> Any:
        built_on.append(threading.current_thread().name)
        return build()

    monkeypatch.setattr(_default._SERVICE, "_factory", recording)
    svc = aio.get_encryption_service()
    message = await svc.encrypt(b"first request", {"t": "1"})
    assert built_on
    assert built_on[0].startswith("tigerseal-aio-io")
    assert await aio.get_encryption_service().decrypt(message, {"t": "1"}) == b"first request"
    assert aio.get_encryption_service().service is _default._SERVICE.peek()
    assert len(built_on) == 1


@pytest.mark.anyio
async def test_shared_limiter_and_token_manager_are_built_off_the_event_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``aio.verify_rate_limit`` and ``aio.verify_jwt_token`` as a first request: building the
    process-wide limiter or token manager (settings, pydantic, a key file) runs in the pool."""
    import secrets
    import threading

    from tigerseal.ratelimit import _LIMITER, reset_rate_limiter
    from tigerseal.tokens import _default as tokens_default

    monkeypatch.setenv("TIGERSEAL_JWT_SECRET", secrets.token_urlsafe(48))
    reset_settings()
    reset_rate_limiter()
    tokens_default._MANAGER.reset()
    built_on: dict[str, str] = {}
    for name, default in (("limiter", _LIMITER), ("manager", tokens_default._MANAGER)):
        factory = default._factory

        def recording(factory: Any = factory, name: str = name) -> Any:
            built_on[name] = threading.current_thread().name
            return factory()

        monkeypatch.setattr(default, "_factory", recording)
    assert await aio.verify_rate_limit("client-1", 10, 60)
    token = await aio.run_io(lambda: tokens_default.get_token_manager().create("u"))
    built_on.pop("manager")  # built above, in the pool, to mint a token
    tokens_default._MANAGER.reset()
    reset_settings()
    assert (await aio.verify_jwt_token(token)).sub == "u"
    assert built_on["limiter"].startswith("tigerseal-aio-io")
    assert built_on["manager"].startswith("tigerseal-aio-io")


@pytest.mark.anyio
async def test_needs_update_does_not_build_the_password_context_on_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading

    from tigerseal.passwords import _context as passwords_context

    stored = await aio.hash_password("correct horse battery staple")
    passwords_context._CONTEXT.reset()
    reset_settings()
    built_on: list[str] = []
    factory = passwords_context._CONTEXT._factory

    def recording() -> Any:
        built_on.append(threading.current_thread().name)
        return factory()

    monkeypatch.setattr(passwords_context._CONTEXT, "_factory", recording)
    assert await aio.needs_update(stored) is False
    assert built_on == [built_on[0]]
    assert built_on[0].startswith("tigerseal-aio-hash")


@pytest.mark.anyio
async def test_inline_limit_counts_bytes_not_characters() -> None:
    """A text value of few characters but many UTF-8 bytes is not encrypted on the loop."""
    import threading

    from tigerseal.envelope import EncryptionService
    from tigerseal.testing.fake import FakeKeyProvider

    threads: list[str] = []

    class Recording(EncryptionService):
        def encrypt(self, data: Any, context: Any = None) -> Any:
            threads.append(threading.current_thread().name)
            return super().encrypt(data, context)

    svc = aio.AsyncEncryptionService(
        Recording(FakeKeyProvider("aio-inline-bytes")), inline_limit=1024
    )
    await svc.encrypt("x" * 1000, {"t": "1"})  # 1000 bytes: inline
    await svc.encrypt("\U0001f512" * 1000, {"t": "1"})  # 1000 characters, 4000 bytes
    assert threads[0] == threading.current_thread().name
    assert threads[1].startswith("tigerseal-aio-io")

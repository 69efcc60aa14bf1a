"""Sign-in over a real server: off the event loop, bounded, with lockout and rehash."""

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi import FastAPI, Request
from pydantic import BaseModel
from starlette.types import ASGIApp
from tigerseal import aio
from tigerseal.passwords import Argon2Hasher, Pbkdf2Sha256Hasher
from tigerseal.passwords._context import PasswordContext
from tigerseal.ratelimit import MemoryRateLimitStorage
from tigerseal_fastapi import Login, LoginGuard, install_exception_handlers

Serve = Callable[[ASGIApp], str]
WAIT = 30  # seconds before a test that would otherwise hang fails (never a timing assertion)


class Credentials(BaseModel):
    username: str
    password: str


class GatedArgon2(Argon2Hasher):
    """Cheap argon2 whose verify() blocks until the test opens the gate; counts concurrency."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.gate = threading.Event()
        self.gate.set()
        self.changed = threading.Condition()
        self.active = 0
        self.peak = 0

    def verify(self, password: str, stored_hash: str) -> bool:
        with self.changed:
            self.active += 1
            self.peak = max(self.peak, self.active)
            self.changed.notify_all()
        try:
            assert self.gate.wait(WAIT), "the test never opened the gate"
            return super().verify(password, stored_hash)
        finally:
            with self.changed:
                self.active -= 1
                self.changed.notify_all()

    def wait_active(self, count: int) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: self.active >= count, WAIT), self.active


@pytest.fixture
def hasher() -> GatedArgon2:
    return GatedArgon2()


@pytest.fixture
def context(hasher: GatedArgon2) -> PasswordContext:
    return PasswordContext(
        "argon2",
        hashers={"argon2": hasher, "pbkdf2-sha256": Pbkdf2Sha256Hasher(iterations=1000)},
    )


@pytest.fixture
def two_threads() -> Iterator[None]:
    before = aio.pool_sizes()["hash"]
    aio.configure(hash_threads=2)
    yield
    aio.configure(hash_threads=before)


@pytest.fixture
def users(context: PasswordContext) -> dict[str, str]:
    old = context.hasher("pbkdf2-sha256").hash("old scheme password")
    return {"alice": context.hash("correct horse battery"), "legacy": old}


@pytest.fixture
def url(serve: Serve, context: PasswordContext, users: dict[str, str], two_threads: None) -> str:
    app = FastAPI()
    install_exception_handlers(app, realm="api")
    guard = LoginGuard(
        max_failures_per_user=3,
        max_failures_per_ip=10,
        lockout_seconds=60,
        storage=MemoryRateLimitStorage(),
        passwords=context,
    )
    login = Login(guard, realm="api")

    async def store(username: str, new_hash: str) -> None:
        users[username] = new_hash

    @app.post("/login")
    async def sign_in(request: Request, body: Credentials) -> dict[str, object]:
        result = await login.authenticate(
            request,
            body.username,
            body.password,
            users.get(body.username),
            on_rehash=lambda new: store(body.username, new),
        )
        return {"user": result.username, "rehashed": result.rehashed}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return serve(app)


def login(url: str, username: str, password: str) -> httpx.Response:
    return httpx.post(
        url + "/login", json={"username": username, "password": password}, timeout=WAIT
    )


def test_slow_logins_do_not_block_health(url: str, hasher: GatedArgon2) -> None:
    hasher.gate.clear()
    with ThreadPoolExecutor(4) as pool:
        logins = [pool.submit(login, url, "alice", "correct horse battery") for _ in range(4)]
        hasher.wait_active(2)
        # Two sign-ins are inside the hash, two queued for the dedicated pool: the event loop
        # still answers. (A blocked loop would time the /health request out instead.)
        health = httpx.get(url + "/health", timeout=WAIT)
        assert health.json() == {"status": "ok"}
        assert not any(f.done() for f in logins)
        assert hasher.active == 2
        hasher.gate.set()
        statuses = [f.result().status_code for f in logins]
    assert statuses == [200, 200, 200, 200]
    assert hasher.peak == 2  # tigerseal.aio's hash pool, not AnyIO's 40 threads


def test_lockout_is_the_same_for_unknown_users(url: str) -> None:
    for user in ("alice", "nobody"):
        for _ in range(3):
            failed = login(url, user, "wrong password")
            assert failed.status_code == 401
            assert failed.json() == {
                "error": "invalid_credentials",
                "detail": "the username or password is wrong",
            }
            assert failed.headers["www-authenticate"] == 'Bearer realm="api"'
    known = login(url, "alice", "correct horse battery")
    unknown = login(url, "nobody", "whatever")
    for locked in (known, unknown):
        assert locked.status_code == 429
        assert locked.json() == {
            "error": "login_locked",
            "detail": "too many failed sign-in attempts; try again later",
        }
        assert 1 <= int(locked.headers["retry-after"]) <= 60
    assert known.json() == unknown.json()


def test_rehash_on_login_with_an_async_hook(url: str, users: dict[str, str]) -> None:
    first = login(url, "legacy", "old scheme password")
    assert first.json() == {"user": "legacy", "rehashed": True}
    assert users["legacy"].startswith("$argon2id$")
    again = login(url, "legacy", "old scheme password")
    assert again.json() == {"user": "legacy", "rehashed": False}

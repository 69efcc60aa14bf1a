"""What tigerseal-django and tigerseal-flask add to an endpoint's request time (issue 13).

Target: at most 10% over a bare endpoint. Each framework's application
(``benchmarks/_wsgi_apps.py``) runs in a child process under werkzeug's threaded server
(gunicorn is not a dependency of the workspace), with the same view bare, behind
``jwt_required`` (a scope), behind ``rate_limit`` on ``memory://``, and behind both. A small
HTTP/1.1 client (asyncio streams) keeps ``--concurrency`` requests in flight, one connection
per request (werkzeug closes every connection after its response).
Rounds alternate the variants in a shuffled order; overheads are the median over rounds of
the ratio to ``bare`` measured in the same round (paired: slow drifts of the machine cancel).
Besides wall-clock rates, the server's CPU time per request (``/proc/<pid>/stat``) is taken,
and, with no HTTP at all, the CPU time (``thread_time``) of calling the WSGI application in
process: on a shared, loaded machine these move far less than rates do.

    .venv/bin/python benchmarks/bench_web_wsgi.py [--quick] [--framework flask|django]

Writes ``benchmarks/results/web_wsgi.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _common import emit
from bench_web import cpu_ns, free_port, wait_up

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).parent
VARIANTS = {
    "bare": "/bare",
    "jwt_required": "/jwt",
    "rate_limit (memory://)": "/rl",
    "jwt_required + rate_limit": "/jwt_rl",
}


async def _worker(port: int, request: bytes, count: int) -> None:
    # One connection per request: werkzeug's server closes each after its response.
    for _ in range(count):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(request)
            head = (await reader.readuntil(b"\r\n\r\n")).lower()
            if head[9:12] != b"200":
                raise RuntimeError(f"unexpected response: {head[:200]!r}")
            start = head.find(b"content-length:") + 15
            await reader.readexactly(int(head[start : head.find(b"\r\n", start)]))
        finally:
            writer.close()
            await writer.wait_closed()


async def rate(
    port: int, path: str, token: str, requests: int, concurrency: int, pid: int | None = None
) -> tuple[float, float]:
    """Requests per second, and server CPU microseconds per request (0 without ``pid``)."""
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n"
    ).encode()
    per = requests // concurrency
    cpu = cpu_ns(pid) if pid else 0
    t = time.perf_counter()
    await asyncio.gather(*(_worker(port, request, per) for _ in range(concurrency)))
    elapsed = time.perf_counter() - t
    used = (cpu_ns(pid) - cpu) / 1e3 / (per * concurrency) if pid else 0.0
    return per * concurrency / elapsed, used


async def measure(
    port: int, pid: int, token: str, rounds: int, requests: int, concurrency: int
) -> dict[str, list[tuple[float, float]]]:
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in VARIANTS}
    for path in VARIANTS.values():  # warm-up: imports, caches, connections
        await rate(port, path, token, requests // 2, concurrency)
    order = list(VARIANTS)
    for _ in range(rounds):
        random.shuffle(order)
        for name in order:
            runs[name].append(await rate(port, VARIANTS[name], token, requests, concurrency, pid))
    return runs


def server_rows(
    framework: str, secret: str, token: str, rounds: int, requests: int, concurrency: int
) -> list[dict[str, Any]]:
    port = free_port()
    env = {**os.environ, "BENCH_JWT_SECRET": secret, "TIGERSEAL_AUDIT_SINKS": "logging://"}
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "_wsgi_apps.py"), framework, str(port)],
        env=env,
        cwd=ROOT,
        start_new_session=True,
    )
    try:
        asyncio.run(wait_up(port, proc))
        runs = asyncio.run(measure(port, proc.pid, token, rounds, requests, concurrency))
    finally:
        proc.terminate()
        proc.wait(10)

    def paired(name: str, index: int, invert: bool) -> float:
        ratios = []
        for mine, bare in zip(runs[name], runs["bare"], strict=True):
            ratios.append((bare[index] / mine[index] if invert else mine[index] / bare[index]) - 1)
        return statistics.median(ratios) * 100

    return [
        {
            "group": f"{framework}, werkzeug threaded server",
            "name": name,
            "req_per_s": statistics.median(r for r, _ in values),
            "server_cpu_us": statistics.median(c for _, c in values),
            "wall_overhead_pct": paired(name, 0, invert=True),
            "cpu_overhead_pct": paired(name, 1, invert=False),
            "rounds": len(values),
        }
        for name, values in runs.items()
    ]


def inprocess_rows(framework: str, secret: str, token: str, rounds: int) -> list[dict[str, Any]]:
    """CPU per request of the WSGI application called directly (no HTTP, no server)."""
    os.environ["BENCH_JWT_SECRET"] = secret
    import _wsgi_apps

    app = _wsgi_apps.make(framework)

    def environ(path: str) -> dict[str, Any]:
        return {
            "REQUEST_METHOD": "GET", "PATH_INFO": path, "SCRIPT_NAME": "", "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "127.0.0.1",
            "HTTP_AUTHORIZATION": f"Bearer {token}", "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(), "wsgi.errors": sys.stderr,
            "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False,
        }  # fmt: skip

    def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
        if not status.startswith("200"):
            raise RuntimeError(f"unexpected status {status}")

    def call(path: str) -> None:
        body = app(environ(path), start_response)
        b"".join(body)
        close = getattr(body, "close", None)
        if close is not None:
            close()

    for path in VARIANTS.values():
        for _ in range(300):
            call(path)
    out: dict[str, list[float]] = {name: [] for name in VARIANTS}
    order = list(VARIANTS)
    for _ in range(rounds):
        random.shuffle(order)
        for name in order:
            t = time.thread_time()
            for _ in range(100):
                call(VARIANTS[name])
            out[name].append((time.thread_time() - t) / 100 * 1e6)
    ratios = {
        name: statistics.median(
            v / b - 1 for v, b in zip(values, out["bare"], strict=True)
        ) * 100
        for name, values in out.items()
    }  # fmt: skip
    # The best round is the cost with the least interference from other processes (the
    # machine is shared); the median ratio is paired within rounds.
    best_bare = min(out["bare"])
    return [
        {
            "group": f"{framework}, in process (no HTTP)",
            "name": name,
            "cpu_us_median": statistics.median(values),
            "cpu_us_best": min(values),
            "best_over_bare_us": min(values) - best_bare,
            "best_overhead_pct": (min(values) / best_bare - 1) * 100,
            "cpu_overhead_pct": ratios[name],
            "rounds": len(values),
        }
        for name, values in out.items()
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--framework", choices=["flask", "django", "both"], default="both")
    parser.add_argument("--no-server", action="store_true", help="in-process figures only")
    args = parser.parse_args()
    rounds, requests = (7, 400) if args.quick else (15, 1200)

    from tigerseal.tokens import KeySet, TokenManager

    secret = secrets.token_urlsafe(48)
    manager = TokenManager(KeySet.from_secret(secret), issuer="tigerseal")  # as the settings
    token = manager.create("bench", ["read"], expires_in=3600)
    frameworks = ["flask", "django"] if args.framework == "both" else [args.framework]
    rows: list[dict[str, Any]] = []
    for framework in frameworks:
        if not args.no_server:
            rows += server_rows(framework, secret, token, rounds, requests, args.concurrency)
    for framework in frameworks:  # last: Django can be configured once per process
        rows += inprocess_rows(framework, secret, token, 25 if args.quick else 60)
    emit("web_wsgi", rows)


if __name__ == "__main__":
    main()

"""What the FastAPI integration adds to an endpoint's request time (issue 13, Performance).

Target: at most 10% over a bare endpoint. One uvicorn server (a child process, one worker,
127.0.0.1, access log off) serves the same endpoint bare and behind tigerseal
(``benchmarks/_web_app.py``): ``BearerAuth`` with a scope, plus the ``RateLimit`` dependency or
``RateLimitMiddleware`` on ``memory://``. A small keep-alive HTTP/1.1 client (asyncio streams,
far lighter than httpx, so the server is the bottleneck) keeps ``--concurrency`` requests in
flight. Rounds alternate the variants in a shuffled order; each variant's median rate over
the rounds gives its time per request, and the overhead is ``bare_rate / variant_rate - 1``.
The server's CPU time per request (``/proc/<pid>/stat`` user + system time, all its threads) is
measured too: on a shared, loaded machine it moves far less than wall-clock rates do.

    .venv/bin/python benchmarks/bench_web.py [--quick]

Writes ``benchmarks/results/web.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
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

ROOT = Path(__file__).resolve().parents[1]
FLOOR = "FastAPI HTTPBearer, no check (DI floor)"
VARIANTS = {
    "bare": "/bare",
    "bare + RateLimitMiddleware": "/rl_mw",
    FLOOR: "/floor",
    "jwt": "/jwt",
    "jwt + RateLimit dependency": "/jwt_rl",
    "jwt + RateLimitMiddleware": "/jwt_mw",
}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _worker(port: int, request: bytes, count: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for _ in range(count):
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            if head[9:12] != b"200":
                raise RuntimeError(f"unexpected response: {head[:200]!r}")
            start = head.find(b"content-length:") + 15
            length = int(head[start : head.find(b"\r\n", start)])
            await reader.readexactly(length)
    finally:
        writer.close()
        await writer.wait_closed()


_TICK_NS = 1e9 / os.sysconf("SC_CLK_TCK")


def cpu_ns(pid: int) -> int:
    """Nanoseconds of CPU (user + system, all threads) the process has used (/proc, ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int((int(fields[11]) + int(fields[12])) * _TICK_NS)


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


def start_server(port: int, secret: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BENCH_JWT_SECRET": secret, "TIGERSEAL_AUDIT_SINKS": "logging://"}
    argv = [
        sys.executable, "-m", "uvicorn", "_web_app:app",
        "--app-dir", str(Path(__file__).parent),
        "--host", "127.0.0.1", "--port", str(port),
        "--no-access-log", "--log-level", "warning", "--no-proxy-headers",
    ]  # fmt: skip
    return subprocess.Popen(argv, env=env, cwd=ROOT, start_new_session=True)


async def wait_up(port: int, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        if proc.poll() is not None:
            raise RuntimeError("the benchmark server exited")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        return
    raise RuntimeError("the benchmark server did not start")


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    rounds, requests = (5, 800) if args.quick else (9, 2000)

    from tigerseal.tokens import KeySet, TokenManager

    secret = secrets.token_urlsafe(48)
    token = TokenManager(KeySet.from_secret(secret)).create("bench", ["read"], expires_in=3600)
    port = free_port()
    proc = start_server(port, secret)
    try:
        asyncio.run(wait_up(port, proc))
        runs = asyncio.run(measure(port, proc.pid, token, rounds, requests, args.concurrency))
    finally:
        proc.terminate()
        proc.wait(10)

    def medians(name: str) -> tuple[float, float]:
        return (
            statistics.median(r for r, _ in runs[name]),
            statistics.median(c for _, c in runs[name]),
        )

    bare_rate, bare_cpu = medians("bare")
    floor_rate, floor_cpu = medians(FLOOR)
    rows: list[dict[str, Any]] = []
    for name, values in runs.items():
        req_s, cpu = medians(name)
        # tigerseal's own share: above FastAPI's DI floor for the bearer variants (what any
        # security dependency costs), above bare for the middleware alone.
        base_rate, base_cpu = (
            (floor_rate, floor_cpu) if name.startswith("jwt") else (bare_rate, bare_cpu)
        )
        rows.append(
            {
                "name": name,
                "req_per_s": req_s,
                "wall_overhead_pct": (bare_rate / req_s - 1) * 100,
                "server_cpu_us": cpu,
                "cpu_overhead_pct": (cpu / bare_cpu - 1) * 100,
                "cpu_tigerseal_share_pct": (cpu - base_cpu) / bare_cpu * 100,
                "wall_tigerseal_share_pct": (1 / req_s - 1 / base_rate) * bare_rate * 100,
                "rounds": len(values),
            }
        )
    emit("web", rows)


if __name__ == "__main__":
    main()

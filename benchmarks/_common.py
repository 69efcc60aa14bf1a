"""Shared helpers of the benchmark scripts: timing and reporting."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def best_rate(fn: Callable[[], object], seconds: float, calls: int | None = None) -> float:
    """Calls per second of ``fn``: the best of several batches (the least disturbed one).

    With ``calls``, time that many single calls and keep the fastest; otherwise run batches of
    growing size for about ``seconds``.
    """
    if calls is not None:
        best = float("inf")
        for _ in range(calls):
            t = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t)
        return 1.0 / best
    batch, best, deadline = 16, 0.0, time.perf_counter() + seconds
    while True:
        t = time.perf_counter()
        for _ in range(batch):
            fn()
        dt = time.perf_counter() - t
        best = max(best, batch / dt)
        if time.perf_counter() > deadline:
            return best
        if dt < 0.05:
            batch *= 2


def emit(name: str, rows: list[dict[str, Any]]) -> None:
    """Print a markdown table and write ``results/<name>.json``."""
    RESULTS.mkdir(exist_ok=True)
    meta = {"python": platform.python_version(), "machine": platform.machine(), "time": time.time()}
    (RESULTS / f"{name}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    keys = [k for k in ("group", "name") if any(k in r for r in rows)]
    metrics = sorted({k for r in rows for k in r} - set(keys))
    print("| " + " | ".join(keys + metrics) + " |")
    print("|" + "---|" * (len(keys) + len(metrics)))
    for r in rows:
        cells = [str(r.get(k, "")) for k in keys]
        for m in metrics:
            v = r.get(m, "")
            cells.append(
                f"{v:,.3f}"
                if isinstance(v, float) and v < 10
                else f"{v:,.0f}"
                if isinstance(v, float)
                else str(v)
            )
        print("| " + " | ".join(cells) + " |")

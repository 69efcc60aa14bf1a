"""``tigerseal rewrap`` of many small files on a real OpenBao dev server (issue 11).

Seals N small files (1,000; 200 with ``--quick``) with a ``vault://transit`` key, rotates it and
runs the CLI's ``rewrap`` command in process (click's runner) on the directory, two rounds.
Reports files per second and the Vault HTTP requests counted by the provider. Optionally the
same for an older ``tigerseal/cli/_crypto.py`` (``--baseline FILE``, e.g. from ``git show
<commit>:core/src/tigerseal/cli/_crypto.py``) in interleaved rounds, for a before/after ratio.

    .venv/bin/python benchmarks/bench_cli_rewrap.py [--quick] [--baseline OLD_CRYPTO_PY]

Writes ``benchmarks/results/cli_rewrap.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))
from _common import emit
from click.testing import CliRunner
from tigerseal.envelope import EncryptionService
from tigerseal.plugins import key_provider_from_uri

from tests.services.vault import start_vault_server


def _load(path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location("baseline_crypto", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--baseline", help="an older cli/crypto.py to compare with")
    args = parser.parse_args()
    n = 200 if args.quick else 1000
    import tigerseal.cli._crypto as current

    contenders: list[tuple[str, Any]] = [("current", current)]
    if args.baseline:
        contenders.insert(0, ("baseline", _load(args.baseline)))
    server = start_vault_server()
    base = Path(tempfile.mkdtemp(prefix="tigerseal-bench-rewrap-"))
    rows: list[dict[str, Any]] = []
    try:
        provider: Any = key_provider_from_uri(
            f"vault://transit/{server.create_key()}", addr=server.addr, token=server.root_token
        )
        svc = EncryptionService(provider)
        blobs = [bytes(svc.encrypt(f"value {i}".encode(), {"id": str(i)})) for i in range(n)]
        for rnd in range(2):
            for name, module in contenders:
                d = base / f"{name}-{rnd}"
                d.mkdir()
                for i, blob in enumerate(blobs):
                    (d / f"m{i:05d}.tsl").write_bytes(blob)
                provider.rotate()
                module._service = lambda: svc
                requests = provider.stats["requests"]
                t0 = time.perf_counter()
                result = CliRunner().invoke(module.rewrap, [str(d)])
                elapsed = time.perf_counter() - t0
                if f"{n} rewrapped" not in result.output:
                    raise SystemExit(f"{name}: {result.output}")
                rows.append(
                    {
                        "name": f"{name} round {rnd + 1}",
                        "files": n,
                        "seconds": elapsed,
                        "files_per_s": n / elapsed,
                        "vault_requests": provider.stats["requests"] - requests,
                    }
                )
        svc.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)
        server.stop()
    emit("cli_rewrap", rows)


if __name__ == "__main__":
    main()

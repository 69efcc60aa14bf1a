"""The aws-kms:// provider against the AWS Encryption SDK's KMS keyring on one moto_server.

Measures (issue 4), for 10,000 messages of 1 KiB (1,000 with ``--quick``):

* KMS calls and messages per second through ``EncryptionService``, data-key cache off and on
  (``CachePolicy(max_age=300, max_messages=1000)``); target: with the cache on, at most one
  ``GenerateDataKey`` per cache window;
* the same with the AWS Encryption SDK (``StrictAwsKmsMasterKeyProvider``), without and with
  its caching CMM (same limits: 300 s, 1,000 messages), with the committing suite without
  signatures (``AES_256_GCM_HKDF_SHA512_COMMIT_KEY``, the like-for-like comparison) and, with
  the cache, its default suite (adds an ECDSA P-384 signature per message); target: tigerseal
  with its cache encrypts more messages per second than the ESDK with its caching CMM.

Decryption is measured in a fresh reader (a new service or CMM with an empty cache), as another
process would decrypt, so each distinct data key costs one ``Decrypt`` on both sides.

KMS calls are counted by a botocore ``before-call`` hook on the clients both libraries use,
not estimated. Everything runs against one ``moto_server`` this script starts on 127.0.0.1 and
stops by PID.

    .venv/bin/python benchmarks/bench_aws_kms.py [--quick]

Writes ``benchmarks/results/aws_kms.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import math
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _common import RESULTS, emit

CONTEXT = {"table": "tiger_accounts", "column": "private_key"}
PAYLOAD = secrets.token_bytes(1024)
WINDOW = 1000  # messages per cached data key, on both sides
MAX_AGE = 300.0
FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/nonexistent/bench-aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/bench-aws-credentials",
    "AWS_EC2_METADATA_DISABLED": "true",
}


# -- a private moto_server ---------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def moto_server() -> Iterator[str]:
    """Start ``moto_server`` on a free port; yield its URL; stop it by PID."""
    binary = Path(sys.executable).with_name("moto_server")
    if not binary.exists():
        sys.exit("moto_server not found next to the interpreter: uv sync (moto[server])")
    port = _free_port()
    log = tempfile.NamedTemporaryFile(prefix="bench-moto-", suffix=".log", delete=False)  # noqa: SIM115
    proc = subprocess.Popen(
        [str(binary), "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/moto-api/", timeout=1):  # noqa: S310
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"moto_server did not start; see {log.name}")
                time.sleep(0.05)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
        log.close()
        Path(log.name).unlink(missing_ok=True)


class CallCounter:
    """Counts KMS API calls (not HTTP retries) through botocore's ``before-call`` event."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def __call__(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1

    def attach(self, events: Any) -> CallCounter:
        events.register("before-call.kms", self)
        return self


def timed(n: int, fn: Callable[[int], Any]) -> tuple[float, list[Any]]:
    start = time.perf_counter()
    out = [fn(i) for i in range(n)]
    return n / (time.perf_counter() - start), out


# -- tigerseal ---------------------------------------------------------------------------------
def run_tigerseal(url: str, arn: str, n: int, cached: bool) -> list[dict[str, Any]]:
    from tigerseal.envelope import CachePolicy, EncryptionService
    from tigerseal.plugins import key_provider_from_uri

    def service() -> tuple[Any, CallCounter]:
        provider = key_provider_from_uri(f"aws-kms://{arn}?endpoint_url={url}")
        counter = CallCounter().attach(provider.client.meta.events)  # type: ignore[attr-defined]
        policy = CachePolicy(max_age=MAX_AGE, max_messages=WINDOW) if cached else None
        return EncryptionService(provider, cache=policy), counter

    writer, w_calls = service()
    writer.encrypt(PAYLOAD, {"warm": "up"})  # connection set up; not counted below
    w_calls.calls.clear()
    enc_rate, messages = timed(n, lambda i: writer.encrypt(PAYLOAD, CONTEXT))
    w_snapshot = Counter(w_calls.calls)
    reader, r_calls = service()
    reader.decrypt(writer.encrypt(PAYLOAD, {"warm": "up"}), {"warm": "up"})
    r_calls.calls.clear()
    dec_rate, plain = timed(n, lambda i: reader.decrypt(messages[i], CONTEXT))
    assert all(p == PAYLOAD for p in plain)
    name = "tigerseal " + ("cache on" if cached else "cache off")
    return [
        _row("encrypt", name, n, enc_rate, w_snapshot, cached),
        _row("decrypt", name, n, dec_rate, r_calls.calls, cached),
    ]


# -- AWS Encryption SDK ------------------------------------------------------------------------
def run_esdk(url: str, arn: str, n: int, cached: bool, signing: bool) -> list[dict[str, Any]]:
    import aws_encryption_sdk as esdk
    import botocore.session
    from aws_encryption_sdk.identifiers import Algorithm, CommitmentPolicy

    os.environ["AWS_ENDPOINT_URL_KMS"] = url  # the ESDK builds its own clients
    client = esdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    )
    suite = (
        Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384
        if signing
        else Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
    )

    def materials() -> tuple[dict[str, Any], CallCounter]:
        session = botocore.session.Session()
        counter = CallCounter().attach(session)  # clients copy the session's handlers
        mkp = esdk.StrictAwsKmsMasterKeyProvider(key_ids=[arn], botocore_session=session)
        if not cached:
            return {"key_provider": mkp}, counter
        cmm = esdk.CachingCryptoMaterialsManager(
            master_key_provider=mkp,
            cache=esdk.LocalCryptoMaterialsCache(capacity=100),
            max_age=MAX_AGE,
            max_messages_encrypted=WINDOW,
        )
        return {"materials_manager": cmm}, counter

    writer, w_calls = materials()
    client.encrypt(source=PAYLOAD, encryption_context={"warm": "up"}, algorithm=suite, **writer)
    w_calls.calls.clear()
    enc_rate, messages = timed(
        n,
        lambda i: client.encrypt(
            source=PAYLOAD, encryption_context=CONTEXT, algorithm=suite, **writer
        )[0],
    )
    w_snapshot = Counter(w_calls.calls)
    reader, r_calls = materials()
    warm, _ = client.encrypt(
        source=PAYLOAD, encryption_context={"warm": "up"}, algorithm=suite, **writer
    )
    client.decrypt(source=warm, **reader)
    r_calls.calls.clear()
    dec_rate, plain = timed(n, lambda i: client.decrypt(source=messages[i], **reader)[0])
    assert all(p == PAYLOAD for p in plain)
    os.environ.pop("AWS_ENDPOINT_URL_KMS", None)
    name = "ESDK " + ("caching CMM" if cached else "no cache")
    name += ", signing suite" if signing else ", committing suite"
    return [
        _row("encrypt", name, n, enc_rate, w_snapshot, cached),
        _row("decrypt", name, n, dec_rate, r_calls.calls, cached),
    ]


def _row(
    group: str, name: str, n: int, rate: float, calls: Counter[str], cached: bool
) -> dict[str, Any]:
    windows = math.ceil(n / WINDOW)
    total = sum(calls.values())
    return {
        "group": group,
        "name": name,
        "messages": n,
        "msgs_per_s": rate,
        "kms_calls": total,
        "kms_calls_by_op": dict(calls),
        "cache_windows": windows if cached else "-",
        "kms_calls_per_window": total / windows if cached else "-",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 messages instead of 10,000")
    args = parser.parse_args()
    n = 1000 if args.quick else 10_000
    os.environ.update(FAKE_ENV)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_KMS"):
        os.environ.pop(name, None)

    import boto3

    rows: list[dict[str, Any]] = []
    with moto_server() as url:
        arn = boto3.client("kms", endpoint_url=url).create_key()["KeyMetadata"]["Arn"]
        rows += run_tigerseal(url, arn, n, cached=True)
        rows += run_esdk(url, arn, n, cached=True, signing=False)
        rows += run_esdk(url, arn, n, cached=True, signing=True)
        rows += run_tigerseal(url, arn, n, cached=False)
        rows += run_esdk(url, arn, n, cached=False, signing=False)

    def find(group: str, name: str) -> dict[str, Any]:
        return next(r for r in rows if r["group"] == group and r["name"] == name)

    ours = find("encrypt", "tigerseal cache on")
    esdk = find("encrypt", "ESDK caching CMM, committing suite")
    targets = {
        "at_most_one_generate_per_window": ours["kms_calls_by_op"].get("GenerateDataKey", 0)
        <= ours["cache_windows"],
        "faster_than_esdk_caching_cmm": ours["msgs_per_s"] > esdk["msgs_per_s"],
        "speedup_vs_esdk_caching_cmm": ours["msgs_per_s"] / esdk["msgs_per_s"],
    }
    table = [{k: v for k, v in r.items() if k != "kms_calls_by_op"} for r in rows]
    emit("aws_kms", table)
    import json

    path = RESULTS / "aws_kms.json"
    data = json.loads(path.read_text())
    data.update(
        rows=rows,
        targets=targets,
        setup={"messages": n, "payload_bytes": len(PAYLOAD), "window": WINDOW, "max_age": MAX_AGE},
    )
    path.write_text(json.dumps(data, indent=2))
    print(f"\ntargets: {targets}")


if __name__ == "__main__":
    main()

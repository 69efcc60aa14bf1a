"""8 threads x 1,000 round trips through one provider, in a subprocess per run.

python-pkcs11 initialises modules with ``C_Initialize(NULL)`` ("no threads"); without the
provider's locking, SoftHSM2 answered CKR_GENERAL_ERROR, crashed with SIGSEGV or corrupted its
heap under exactly this load. A crash ends the subprocess with a signal, which fails the test
here instead of killing the test runner. Both locking modes and both mechanisms are covered,
with a rotation in the middle of the run.

Run these under ``flock /tmp/tigerseal-integration.lock`` (they keep both cores busy).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.services.softhsm import SoftHSM

pytestmark = [pytest.mark.integration, pytest.mark.pkcs11, pytest.mark.slow]

WORKER = Path(__file__).with_name("_load_worker.py")
THREADS = 8
OPS = 1000


@pytest.mark.parametrize(
    ("locking", "usage"),
    [("global", "both"), ("global", "wrap"), ("os", "both"), ("os", "wrap")],
)
def test_eight_threads_thousand_round_trips(softhsm: SoftHSM, locking: str, usage: str) -> None:
    uri = softhsm.uri(softhsm.new_label(f"load-{locking}-{usage}"), locking=locking)
    env = {**os.environ, **softhsm.env, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run(
        [
            sys.executable,
            str(WORKER),
            uri,
            "--threads",
            str(THREADS),
            "--ops",
            str(OPS),
            "--usage",
            usage,
            "--rotate-at",
            str(OPS // 2),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if proc.returncode < 0:
        pytest.fail(
            f"the worker died of {signal.Signals(-proc.returncode).name} "
            f"(locking={locking}, usage={usage}):\n{proc.stderr[-3000:]}"
        )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no report (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr[-3000:]}"
    report = json.loads(lines[-1])
    assert report["errors"] == 0, report["first_errors"]
    assert report["round_trips"] == THREADS * OPS
    assert report["key_version"] == 2, "the rotation during the run took effect"
    assert report["mechanism"] == ("aes-gcm" if usage == "both" else "aes-key-wrap-pad")
    assert proc.returncode == 0, proc.stderr[-3000:]

"""Forked children (gunicorn, multiprocessing) with both locking modes.

A module in ``os`` mode was initialised through ``ctypes`` (python-pkcs11 believes it is
finalised), so re-initialising it in a child must finalise it through ``ctypes`` too; and the
locks and gate the parent's threads held at fork time must not block the child.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.services.softhsm import SoftHSM

pytestmark = [pytest.mark.integration, pytest.mark.pkcs11]

WORKER = Path(__file__).with_name("_fork_worker.py")


@pytest.mark.parametrize("locking", ["global", "os"])
def test_forked_child_uses_new_providers(softhsm: SoftHSM, locking: str) -> None:
    uri = softhsm.uri(softhsm.new_label("fork"), locking=locking)
    proc = subprocess.run(
        [sys.executable, str(WORKER), uri],
        env={**os.environ, **softhsm.env, "PYTHONPATH": os.pathsep.join(sys.path)},
        capture_output=True,
        text=True,
        timeout=180,  # the worker bounds its child at 60 s
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    outcomes = json.loads(proc.stdout.splitlines()[-1])
    assert outcomes.get("child") is None, outcomes
    assert outcomes["old.unwrap"].startswith("ProviderUnavailable"), outcomes
    assert "fork" in outcomes["old.unwrap"], outcomes
    for name, expected in (
        ("new.provider", "None"),
        ("new.unwrap", "True"),
        ("new.rotate", "2"),
        ("new.roundtrip", "True"),
        ("recover", "None"),
        ("after_recover", "True"),
        ("parent.unwrap", "True"),
    ):
        assert outcomes.get(name) == expected, (name, outcomes.get(name + ".trace", outcomes))

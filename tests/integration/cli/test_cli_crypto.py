"""`tigerseal encrypt|decrypt|inspect|rewrap` end to end, in subprocesses."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from ._cli import EXE, run


def test_file_round_trip_with_context(tmp_path: Path, env: dict[str, str]) -> None:
    data = secrets.token_bytes(3 * 1024 * 1024 + 11)
    (tmp_path / "in.bin").write_bytes(data)
    proc = run("encrypt", "in.bin", "-o", "in.tsl", "-c", "owner=alice", cwd=tmp_path, env=env)
    assert (tmp_path / "keyring.json").exists()
    # Nothing configured: the CLI says loudly which development keyring it uses.
    assert f"development keyring {tmp_path / 'keyring.json'}".encode() in proc.stderr
    run("decrypt", "in.tsl", "-o", "out.bin", "-c", "owner=alice", cwd=tmp_path, env=env)
    assert (tmp_path / "out.bin").read_bytes() == data


def test_pipes_and_text_form(tmp_path: Path, env: dict[str, str]) -> None:
    enc = run("encrypt", "-", input=b"piped secret", cwd=tmp_path, env=env).stdout
    assert enc[:3] == b"TSL"
    assert run("decrypt", "-", input=enc, cwd=tmp_path, env=env).stdout == b"piped secret"
    text = run("encrypt", "--text", "-c", "a=b", input=b"t", cwd=tmp_path, env=env).stdout
    assert text.startswith(b"ts1.")
    assert run("decrypt", "-c", "a=b", input=text, cwd=tmp_path, env=env).stdout == b"t"


def test_failed_decryption_writes_nothing(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "in.bin").write_bytes(b"x" * 5000)
    run("encrypt", "in.bin", "-o", "in.tsl", "-c", "k=v", cwd=tmp_path, env=env)
    blob = bytearray((tmp_path / "in.tsl").read_bytes())
    blob[-1] ^= 1
    (tmp_path / "bad.tsl").write_bytes(bytes(blob))
    for args in (("bad.tsl", "-c", "k=v"), ("in.tsl", "-c", "k=other"), ("in.tsl",)):
        proc = run("decrypt", *args, "-o", "out.bin", cwd=tmp_path, env=env, check=False)
        assert proc.returncode == 3, proc.stderr
        # The last line is the error (a development-keyring notice may come first).
        assert proc.stderr.splitlines()[-1].startswith(b"error: ")
        assert not (tmp_path / "out.bin").exists()
        assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]
    proc = run("decrypt", "bad.tsl", "-c", "k=v", cwd=tmp_path, env=env, check=False)
    assert proc.returncode == 3
    assert proc.stdout == b""


def test_inspect(tmp_path: Path, env: dict[str, str]) -> None:
    run("encrypt", "-", "-o", "m.tsl", "-c", "tenant=t1", input=b"abc", cwd=tmp_path, env=env)
    info = json.loads(run("inspect", "m.tsl", "--json", cwd=tmp_path, env=env).stdout)
    assert info["context"] == {"tenant": "t1"}
    assert info["wrapped_keys"][0]["provider"] == "file"
    assert info["wrapped_keys"][0]["key_version"] == 1
    human = run("inspect", "m.tsl", cwd=tmp_path, env=env).stdout.decode()
    assert "tenant" in human
    assert "version 1" in human


def test_bad_context_option(tmp_path: Path, env: dict[str, str]) -> None:
    proc = run("encrypt", "-c", "novalue", input=b"x", cwd=tmp_path, env=env, check=False)
    assert proc.returncode == 2
    assert b"key=value" in proc.stderr


def test_rotate_then_rewrap_directory(tmp_path: Path, env: dict[str, str]) -> None:
    d = tmp_path / "data"
    (d / "sub").mkdir(parents=True)
    for i, name in enumerate(["a", "b", "sub/c"]):
        run(
            "encrypt",
            "-",
            "-o",
            f"data/{name}.tsl",
            "-c",
            f"i={i}",
            input=name.encode(),
            cwd=tmp_path,
            env=env,
        )
    (d / "plain.txt").write_text("not encrypted")
    run("rotate", cwd=tmp_path, env=env)
    dry = run("rewrap", "--dry-run", "data", cwd=tmp_path, env=env, check=False)
    assert dry.returncode == 1
    assert b"3 stale" in dry.stdout
    out = run("rewrap", "data", cwd=tmp_path, env=env).stdout.decode()
    assert "3 rewrapped" in out
    assert "1 not tigerseal" in out
    again = run("rewrap", "data", cwd=tmp_path, env=env).stdout.decode()  # resumable: idempotent
    assert "0 rewrapped, 3 already current" in again
    for i, name in enumerate(["a", "b", "sub/c"]):
        info = json.loads(
            run("inspect", f"data/{name}.tsl", "--json", cwd=tmp_path, env=env).stdout
        )
        assert info["wrapped_keys"][0]["key_version"] == 2
        got = run("decrypt", f"data/{name}.tsl", "-c", f"i={i}", cwd=tmp_path, env=env).stdout
        assert got == name.encode()


_MEASURE = """
import os, sys
pid = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ)
_, status, usage = os.wait4(pid, 0)
if os.waitstatus_to_exitcode(status) != 0:
    sys.exit(f"child failed: {status}")
print(usage.ru_maxrss / 1024)
"""


@pytest.mark.slow
def test_one_gib_stream_in_constant_memory(tmp_path: Path, env: dict[str, str]) -> None:
    """1 GiB through the CLI; peak RSS of each child measured with wait4()."""
    size = 1024 * 1024 * 1024
    src = tmp_path / "big.bin"
    chunk = secrets.token_bytes(1024 * 1024)
    with open(src, "wb") as f:
        for i in range(1024):
            f.write(chunk[:-4] + i.to_bytes(4, "big"))
    peaks = {}
    for name, args in (
        ("encrypt", ["encrypt", str(src), "-o", str(tmp_path / "big.tsl")]),
        ("decrypt", ["decrypt", str(tmp_path / "big.tsl"), "-o", str(tmp_path / "back.bin")]),
    ):
        # Linux counts a child's pages from before exec() in ru_maxrss, and a child forked from
        # this large pytest process starts with its RSS. A small Python spawns the CLI instead
        # and reports the grandchild's own peak.
        out = subprocess.run(
            [sys.executable, "-c", _MEASURE, EXE, *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        peaks[name] = float(out.stdout.strip().splitlines()[-1])
    src.unlink()
    back = tmp_path / "back.bin"
    assert back.stat().st_size == size
    with open(back, "rb") as f:
        for i in range(1024):
            block = f.read(1024 * 1024)
            assert block[-4:] == i.to_bytes(4, "big")
            assert block[:64] == chunk[:64]
    print(f"peak RSS MiB: {peaks}")
    assert peaks["encrypt"] < 64, peaks
    assert peaks["decrypt"] < 64, peaks


def test_inspect_reports_the_key_section_and_escapes_header_text(
    tmp_path: Path, env: dict[str, str]
) -> None:
    from tigerseal.envelope import EncryptedData
    from tigerseal.envelope._format import encode_key_section
    from tigerseal.spi import WrappedKey

    run("encrypt", "-", "-o", "m.tsl", input=b"abc", cwd=tmp_path, env=env)
    good = run("inspect", "m.tsl", cwd=tmp_path, env=env).stdout.decode()
    assert "key section:  1 of 1 copies, as written" in good
    # An attacker with write access adds a copy whose names forge a line and clear the screen.
    ed = EncryptedData.parse((tmp_path / "m.tsl").read_bytes())
    assert ed.header.manifest is not None
    forged = WrappedKey("file\nwrapped key:  forged", "\x1b[2Jk", 1, b"\x00" * 61)
    keys = (forged, *ed.wrapped_keys, ed.header.manifest)
    data = bytes(ed)
    (tmp_path / "t.tsl").write_bytes(
        ed.header.aad + encode_key_section(keys) + data[ed.header.size :]
    )
    human = run("inspect", "t.tsl", cwd=tmp_path, env=env).stdout.decode()
    assert "\x1b" not in human
    assert not any(line.startswith("wrapped key:  forged") for line in human.splitlines())
    assert "file\\nwrapped key:  forged:\\x1b[2Jk version 1" in human
    assert "PROBLEM: 1 wrapped copies of the data key were written and 2 are present" in human
    info = json.loads(run("inspect", "t.tsl", "--json", cwd=tmp_path, env=env).stdout)
    assert info["key_section"]["written"] == 1
    assert info["key_section"]["present"] == 2
    assert info["key_section"]["problem"]

"""``tigerseal._files``: temp-file naming, sweeping of dead processes' files, backups."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tigerseal import _files


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_temp_files_carry_the_pid_are_private_and_registered(tmp_path: Path) -> None:
    fd, tmp = _files.create_temp(tmp_path / "out.bin", "part")
    os.close(fd)
    assert tmp.name.startswith(f".out.bin.ts{os.getpid()}-")
    assert stat.S_IMODE(tmp.stat().st_mode) == 0o600
    assert tmp in _files.live_temp_files()
    assert _files.is_temp_name(tmp.name)
    _files.discard(tmp)
    assert not tmp.exists()
    assert tmp not in _files.live_temp_files()


def test_sweep_removes_only_own_temp_files_of_dead_processes(tmp_path: Path) -> None:
    dead = tmp_path / f".a.txt.ts{_dead_pid()}-0123abcd.part"
    live = tmp_path / f".b.txt.ts{os.getpid()}-0123abcd.part"
    foreign = tmp_path / ".c.txt.123.part"  # another tool's naming: never swept
    plain = tmp_path / "d.ts1-0123abcd.part"  # not hidden: not ours
    for p in (dead, live, foreign, plain):
        p.write_bytes(b"secret")
    assert _files.sweep_stale(tmp_path, force=True) == [dead]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in (live, foreign, plain)
    )
    assert _files.is_temp_name(foreign.name)
    assert not _files.is_temp_name(plain.name)


@given(st.text(min_size=1, max_size=40).filter(lambda s: "/" not in s and "\x00" not in s))
def test_every_target_name_gives_a_recognised_temp_name(name: str) -> None:
    target = Path("/nonexistent-dir") / name
    tmp = target.with_name(f".{target.name}.ts{os.getpid()}-deadbeef.part")
    assert _files.is_temp_name(tmp.name)


def test_backups_are_private_and_never_overwrite(tmp_path: Path) -> None:
    src = tmp_path / "keyring.json"
    src.write_text("old key")
    src.chmod(0o644)
    dst = _files.backup_name(src)
    _files.write_backup(src, dst)
    assert dst.read_text() == "old key"
    assert stat.S_IMODE(dst.stat().st_mode) == 0o600
    second = _files.backup_name(src)
    assert second != dst
    with pytest.raises(FileExistsError):
        _files.write_backup(src, dst)

"""One rule for which files hold tigerseal messages: ``rewrap`` and the ``retire`` scan agree."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from tigerseal.envelope import EncryptedData, EncryptionService
from tigerseal.errors import ConfigError
from tigerseal.keyuse import file_key_uses
from tigerseal.providers.file import FileKeyProvider, create_keyring

BOM = b"\xef\xbb\xbf"


@pytest.fixture
def svc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EncryptionService]:
    create_keyring(tmp_path / "keyring.json")
    service = EncryptionService(FileKeyProvider(tmp_path / "keyring.json"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("tigerseal.cli._crypto._service", lambda: service)
    yield service
    service.close()


def _tree(svc: EncryptionService, d: Path) -> None:
    def text(i: int) -> bytes:
        return str(svc.encrypt(f"v{i}".encode())).encode()

    def js(i: int, **kw: object) -> bytes:
        return json.dumps(svc.encrypt(f"v{i}".encode()).to_dict(), **kw).encode()  # type: ignore[arg-type]

    d.mkdir()
    (d / "bin.tsl").write_bytes(bytes(svc.encrypt(b"v0")))
    (d / "t.txt").write_bytes(text(1) + b"\n")
    (d / "ws.txt").write_bytes(b"  " + text(2) + b"\r\n\r\n")  # Windows editor, blank line
    (d / "bom.txt").write_bytes(BOM + text(3) + b"\r\n")  # Notepad: BOM and CRLF
    (d / "j.json").write_bytes(js(4) + b"\n")
    (d / "jp.json").write_bytes(b"\n" + js(5, indent=2))
    (d / "bomj.json").write_bytes(BOM + js(6, indent=2) + b"\r\n")
    (d / "plain.json").write_text('{"hello": "world"}')
    (d / "notes.txt").write_text("plain notes\n")
    # Other commands' work in progress (tigerseal's naming, and mkstemp names of earlier
    # versions): neither rewrapped nor counted.
    live = f".bin.tsl.ts{os.getpid()}-0123abcd.part"  # a live pid's: never swept
    (d / live).write_bytes(bytes(svc.encrypt(b"in progress")))
    (d / ".t.txt.ab_cd123.part").write_bytes(text(7))
    # A user's own file whose name merely ends in .tmp is data, not a temporary file.
    (d / ".backup.tmp").write_bytes(text(8) + b"\n")
    (d / "sub").mkdir()
    (d / "sub" / "x.tmp").write_bytes(bytes(svc.encrypt(b"v9")))


def _scanned(d: Path) -> set[Path]:
    return {Path(u.what.removeprefix("message file ")) for u in file_key_uses([str(d)])}


def test_rewrap_and_the_retire_scan_see_the_same_message_files(
    tmp_path: Path, svc: EncryptionService
) -> None:
    from tigerseal.cli._crypto import rewrap

    d = tmp_path / "data"
    _tree(svc, d)
    before = {p: p.read_bytes() for p in d.rglob("*") if p.is_file()}
    svc.providers[0].rotate()  # type: ignore[attr-defined]
    # The live writer's temporary file becomes a message when it is renamed: the retire scan
    # refuses while it exists (rewrap skips it).
    with pytest.raises(ConfigError, match="still being written"):
        file_key_uses([str(d)])

    result = CliRunner().invoke(rewrap, [str(d)])
    assert result.exit_code == 0, result.output
    changed = {p for p, data in before.items() if p.read_bytes() != data}
    expected = {
        d / n
        for n in (
            "bin.tsl", "t.txt", "ws.txt", "bom.txt", "j.json", "jp.json", "bomj.json",
            ".backup.tmp", "sub/x.tmp",
        )
    }  # fmt: skip
    assert changed == expected, result.output
    assert "2 temporary files skipped" in result.output
    (d / f".bin.tsl.ts{os.getpid()}-0123abcd.part").unlink()  # its writer finished
    assert _scanned(d) == expected
    # After the rewrap the retire scan finds nothing left on version 1.
    assert {u.version for u in file_key_uses([str(d)])} == {2}
    # Each file kept its form: BOM, surrounding whitespace and line ends included.
    for name in ("ws.txt", "bom.txt", "bomj.json"):
        old, new = before[d / name], (d / name).read_bytes()
        assert new[:4] == old[:4], name
        assert new[-2:] == old[-2:], name


def test_decrypt_and_inspect_read_text_files_written_on_windows(
    tmp_path: Path, svc: EncryptionService
) -> None:
    from tigerseal.cli._crypto import decrypt, inspect

    f = tmp_path / "secret.txt"
    f.write_bytes(BOM + str(svc.encrypt(b"from notepad")).encode() + b"\r\n")
    result = CliRunner().invoke(decrypt, [str(f)])
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes == b"from notepad"
    result = CliRunner().invoke(inspect, [str(f), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["wrapped_keys"][0]["key_version"] == 1
    # The str API keeps its one canonical text form.
    with pytest.raises(Exception, match="malformed"):
        EncryptedData.parse(str(svc.encrypt(b"x")) + "\r\n")


def test_json_messages_whose_format_member_comes_late_are_found(
    tmp_path: Path, svc: EncryptionService
) -> None:
    from tigerseal.cli._crypto import rewrap

    # EncryptedData.json() sorts keys: "context" comes first, and non-ASCII values are escaped
    # six bytes a character, so "format" and "message" start beyond the first 64 KiB.
    d = tmp_path / "data"
    d.mkdir()
    ed = svc.encrypt(b"late", {"k": "\u00e9" * 20_000})
    (d / "a.json").write_text(ed.json())
    assert ed.json().index('"format"') > 65_536
    svc.providers[0].rotate()  # type: ignore[attr-defined]
    assert {u.version for u in file_key_uses([str(d)])} == {1}
    result = CliRunner().invoke(rewrap, [str(d)])
    assert result.exit_code == 0, result.output
    assert "1 rewrapped" in result.output
    assert {u.version for u in file_key_uses([str(d)])} == {2}
    assert svc.decrypt((d / "a.json").read_text(), {"k": "\u00e9" * 20_000}) == b"late"


def test_json_files_reformatted_by_jq_keep_working(tmp_path: Path, svc: EncryptionService) -> None:
    from tigerseal.cli._crypto import decrypt, rewrap

    # jq and editors write UTF-8 where EncryptedData.json() escaped (\u00e9).
    d = tmp_path / "data"
    d.mkdir()
    ed = svc.encrypt(b"caf\xc3\xa9", {"city": "Z\u00fcrich"})
    f = d / "m.json"
    f.write_text(json.dumps(ed.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert "Z\u00fcrich" in f.read_text(encoding="utf-8")
    result = CliRunner().invoke(decrypt, [str(f), "-c", "city=Z\u00fcrich"])
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes == b"caf\xc3\xa9"
    svc.providers[0].rotate()  # type: ignore[attr-defined]
    assert {u.version for u in file_key_uses([str(d)])} == {1}
    result = CliRunner().invoke(rewrap, [str(d)])
    assert result.exit_code == 0, result.output
    assert "1 rewrapped" in result.output
    assert "Z\u00fcrich" in f.read_text(encoding="utf-8")  # its form (UTF-8, indented) kept
    assert {u.version for u in file_key_uses([str(d)])} == {2}


def test_a_file_named_twice_is_handled_once(tmp_path: Path, svc: EncryptionService) -> None:
    from tigerseal.cli._crypto import rewrap

    d = tmp_path / "data"
    d.mkdir()
    (d / "a.tsl").write_bytes(bytes(svc.encrypt(b"once")))
    svc.providers[0].rotate()  # type: ignore[attr-defined]
    args = [str(d), str(d / "a.tsl"), str(tmp_path / "data" / ".." / "data")]
    assert len(file_key_uses(args)) == 1
    result = CliRunner().invoke(rewrap, args)
    assert result.exit_code == 0, result.output
    assert "1 rewrapped, 0 already current" in result.output


def test_a_file_named_on_the_command_line_is_never_skipped_as_temporary(
    tmp_path: Path, svc: EncryptionService
) -> None:
    from tigerseal.cli._crypto import rewrap

    f = tmp_path / ".old-export.part"  # named deliberately: data, whatever it looks like
    f.write_bytes(bytes(svc.encrypt(b"named")))
    svc.providers[0].rotate()  # type: ignore[attr-defined]
    assert [u.version for u in file_key_uses([str(f)])] == [1]
    assert file_key_uses([str(tmp_path)]) == []  # inside a directory it is a temporary file
    result = CliRunner().invoke(rewrap, [str(f)])
    assert result.exit_code == 0, result.output
    assert "1 rewrapped" in result.output
    assert EncryptedData.parse(f.read_bytes()).key_version == 2
    # ...except the output of a running tigerseal command (here: this process).
    live = tmp_path / f".x.tsl.ts{os.getpid()}-0123abcd.part"
    live.write_bytes(bytes(svc.encrypt(b"in progress", {"v": "1"})))
    before = live.read_bytes()
    svc.providers[0].rotate()  # type: ignore[attr-defined]
    result = CliRunner().invoke(rewrap, [str(live)])
    assert "1 temporary files skipped" in result.output
    assert live.read_bytes() == before
    with pytest.raises(ConfigError, match="still being written"):
        file_key_uses([str(live)])  # the retire scan waits for it


def test_a_named_path_that_is_no_file_says_what_it_is(tmp_path: Path) -> None:

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="not a regular file or directory"):
        file_key_uses([str(fifo)])
    with pytest.raises(ConfigError, match="does not exist"):
        file_key_uses([str(tmp_path / "missing")])

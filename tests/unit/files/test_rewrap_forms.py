"""``tigerseal rewrap`` keeps a text or JSON file's form, whitespace and own members."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tigerseal.cli._crypto import _Entry, _new_content
from tigerseal.envelope import EncryptedData, EncryptionService
from tigerseal.providers.file import FileKeyProvider, create_keyring


@pytest.fixture(scope="module")
def rotated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EncryptionService, list]]:
    path = tmp_path_factory.mktemp("kr") / "keyring.json"
    create_keyring(path)
    svc = EncryptionService(FileKeyProvider(path))
    old = [svc.encrypt(f"value {i}".encode(), {"i": str(i)}) for i in range(4)]
    svc.providers[0].rotate()  # type: ignore[attr-defined]
    yield svc, old
    svc.close()


_space = st.text(alphabet=" \t\r\n", max_size=4)


@settings(max_examples=60, deadline=None)
@given(
    index=st.integers(0, 3),
    form=st.sampled_from(["text", "json", "json-pretty"]),
    lead=_space,
    trail=_space,
    extra=st.dictionaries(st.text(min_size=1, max_size=8), st.integers(), max_size=2),
)
def test_form_whitespace_and_members_survive(
    rotated: tuple[EncryptionService, list[EncryptedData]],
    index: int,
    form: str,
    lead: str,
    trail: str,
    extra: dict[str, int],
) -> None:
    svc, old = rotated
    ed = old[index]
    if form == "text":
        body = str(ed)
    else:
        obj = {**extra, **ed.to_dict()}
        body = json.dumps(obj, indent=2 if form == "json-pretty" else None)
    raw = (lead + body + trail).encode()
    entry = _Entry(Path("x"), (0, 0, 0, 0, 0), form.split("-")[0], ed.header, raw, bytes(ed))
    (head,) = svc.rewrap_headers([ed.header])
    assert head is not None
    new = _new_content(entry, head).decode()
    assert new.startswith(lead)
    assert new.endswith(trail)
    inner = new[len(lead) : len(new) - len(trail)]
    moved = EncryptedData.parse(inner)
    assert moved.key_version == 2
    assert svc.decrypt(moved, {"i": str(index)}) == f"value {index}".encode()
    if form == "text":
        assert inner.startswith("ts1.")
    else:
        got = json.loads(inner)
        for key, value in extra.items():
            if key not in ed.to_dict():
                assert got[key] == value
        assert ("\n" in inner) == (form == "json-pretty")

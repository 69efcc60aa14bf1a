"""examples/django/app.py, started with the README's one command, end to end."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from tests.examples._notes_scenario import drive_notes_app


def test_django_example_end_to_end(
    start_example: Callable[[str, list[str]], str], fresh_clone: Path, tmp_path: Path
) -> None:
    data = tmp_path / "var"
    url = start_example("examples/django/run.py", ["--data", str(data)])
    drive_notes_app(url)
    # The development keyring was created in the working directory; the note is encrypted.
    assert (fresh_clone / ".tigerseal" / "keyring.json").exists()
    with sqlite3.connect(data / "db.sqlite3") as db:
        [(stored,)] = db.execute("SELECT text FROM notes_note").fetchall()
        [(password,)] = db.execute("SELECT password FROM auth_user").fetchall()
    assert password.startswith("tigerseal$argon2id$")
    assert stored.startswith("ts1.")
    assert "meet at noon" not in stored

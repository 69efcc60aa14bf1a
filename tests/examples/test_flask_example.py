"""examples/flask/app.py, started with the README's one command, end to end."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from tests.examples._notes_scenario import drive_notes_app


def test_flask_example_end_to_end(
    start_example: Callable[[str, list[str]], str], fresh_clone: Path, tmp_path: Path
) -> None:
    data = tmp_path / "var"
    url = start_example("examples/flask/app.py", ["--data", str(data)])
    drive_notes_app(url)
    # The development keyring was created in the working directory; the note is encrypted.
    assert (fresh_clone / ".tigerseal" / "keyring.json").exists()
    with sqlite3.connect(data / "notes.db") as db:
        [(stored,)] = db.execute("SELECT text FROM notes").fetchall()
    assert b"meet at noon" not in bytes(stored)

"""tigerseal in a Django project: sign-in, JWT auth, rate limits and an encrypted field.

Sign-in with lockout and hash upgrade (PASSWORD_HASHERS), JWT auth with scopes, rate limits,
and notes whose text is an EncryptedTextField.

Run it from a clone (no server to install: SQLite and tigerseal's development keyring)::

    python3 -m uv run --locked python examples/django/run.py           # http://127.0.0.1:8000

It creates the tables and a ``demo`` / ``demo-password`` user, then serves with Django's
development server. Data goes to ``examples/django/var/`` (``--data DIR``); the keys to
``.tigerseal/keyring.json`` in the working directory (the development keyring: set
``ENCRYPTION_MASTER_KEY`` or ``TIGERSEAL_KEY_PROVIDERS`` for anything real).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    """Create the tables and the demo user, then serve (``--host``, ``--port``, ``--data``)."""
    parser = argparse.ArgumentParser(description="tigerseal + Django example")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--data", type=Path, default=HERE / "var", help="database directory")
    args = parser.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(HERE))
    os.environ["DJANGO_SETTINGS_MODULE"] = "demo_site.settings"
    os.environ["DEMO_DATA_DIR"] = str(args.data.resolve())

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", run_syncdb=True, verbosity=0)
    from django.contrib.auth.models import User

    if not User.objects.filter(username="demo").exists():
        User.objects.create_user("demo", password="demo-password")  # noqa: S106 - demo
    call_command("runserver", f"{args.host}:{args.port}", use_reloader=False)


if __name__ == "__main__":
    main()

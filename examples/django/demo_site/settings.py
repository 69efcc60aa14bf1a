"""Settings of the example project: what tigerseal needs is marked."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

DATA = Path(os.environ.get("DEMO_DATA_DIR", Path(__file__).resolve().parents[1] / "var"))

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50)
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ROOT_URLCONF = "demo_site.urls"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "notes",
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(DATA / "db.sqlite3"),
        "ATOMIC_REQUESTS": True,  # the encrypted field's insert + UPDATE are one transaction
    }
}

# tigerseal: new hashes are argon2id through tigerseal; Django's own hashers stay so existing
# hashes verify and are upgraded at the next sign-in.
PASSWORD_HASHERS = [
    "tigerseal_django.hashers.TigerSealPasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
]
# tigerseal: lockout per user name and per address, failures audited.
AUTHENTICATION_BACKENDS = ["tigerseal_django.backends.LockoutModelBackend"]
MIDDLEWARE = [
    "tigerseal_django.middleware.TigerSealErrorMiddleware",  # tigerseal errors -> JSON 4xx
    "tigerseal_django.middleware.RateLimitMiddleware",  # TIGERSEAL["RATE_LIMIT"]
]
# tigerseal: its settings (any TIGERSEAL_* name, prefix optional) and the integration's own.
TIGERSEAL = {
    "RATE_LIMIT": (100, 60),  # every client: 100 requests a minute
    "RATE_LIMIT_EXEMPT": ["/health"],
    "LOGIN_MAX_FAILURES_PER_USER": 5,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}

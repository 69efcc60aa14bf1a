"""Every Python example of the seed README, as written there (``from shared import`` became
``from tigerseal import``), run on the embedded default and checked: what it prints is true.
"""

from __future__ import annotations

import re
import stat
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from tigerseal import EncryptedData, TokenPayload, get_encryption_service
from tigerseal.audit import reset_auditor, verify_audit_file

from .conftest import run_example

GENERATE_KEYS = """
from tigerseal import KeyManager

km = KeyManager()
print("Master Key:", km.generate_master_key())
print("JWT Secret:", km.generate_jwt_secret())
"""

BASIC_ENCRYPTION = """
from tigerseal import get_encryption_service, encrypt_tiger_credentials

# Get encryption service
encryption = get_encryption_service()

# Encrypt sensitive data
encrypted = encryption.encrypt("sensitive data")
print(f"Encrypted with key version: {encrypted.key_version}")

# Decrypt data
decrypted = encryption.decrypt_to_string(encrypted)
print(f"Decrypted: {decrypted}")

# Encrypt Tiger credentials
credentials = encrypt_tiger_credentials(
    tiger_id="your_tiger_id",
    private_key="your_private_key",
    access_token="your_access_token"
)
"""

SECURITY_SERVICE = """
from tigerseal import get_security_service, create_jwt_token

# Get security service
security = get_security_service()

# Hash password
password_hash = security.hash_password("user_password")

# Verify password
is_valid = security.verify_password("user_password", password_hash)

# Generate API key
api_key, key_hash = security.generate_api_key("tk")  # tk_xxxxx format

# Create JWT token
token = create_jwt_token(
    subject="user_id",
    scopes=["read", "write"],
    expires_in=3600
)

# Verify token
payload = security.verify_token(token)
print(f"Token subject: {payload.sub}")
print(f"Token scopes: {payload.scopes}")
"""

TIGER_ACCOUNT = """
from tigerseal import encrypt_tiger_account_data, decrypt_tiger_account_data

# Encrypt Tiger account data for database storage
encrypted_data = encrypt_tiger_account_data(
    tiger_id="12345",
    private_key="-----BEGIN PRIVATE KEY-----\\n...",
    access_token="access_token_here",
    refresh_token="refresh_token_here"
)

# Store encrypted_data in database...

# Later, decrypt for API usage
credentials = decrypt_tiger_account_data(encrypted_data)
tiger_id = credentials["tiger_id"]
private_key = credentials["private_key"]
"""

RATE_LIMITING = """
from tigerseal import verify_rate_limit, get_security_service

# Check rate limit
api_key_id = "api_key_12345"
if verify_rate_limit(api_key_id, max_requests=100, window_size=3600):
    # Process request
    print("Request allowed")
else:
    # Rate limit exceeded
    print("Rate limit exceeded")

# Get rate limit status
security = get_security_service()
status = security.get_rate_limit_status(api_key_id)
print(f"Requests remaining: {status['requests_remaining']}")
"""

AUDITING = """
from tigerseal import audit_security_event, get_security_metrics

# Log security event
audit_security_event(
    event_type="api_key_created",
    api_key_id="key_123",
    details={"scopes": ["read", "write"]},
    risk_level="low",
    source_ip="192.168.1.1"
)

# Get security metrics
metrics = get_security_metrics()
print(f"Total events: {metrics['security_summary']['total_events']}")
print(f"Critical events: {metrics['security_summary']['critical_events_count']}")
"""

SECURITY_CONFIG = """
from tigerseal import get_security_config

config = get_security_config()
print(f"PBKDF2 iterations: {config.pbkdf2_iterations}")
print(f"Password algorithm: {config.password_hash_algorithm}")
print(f"JWT expiration: {config.jwt_access_token_expire}")
"""

DATABASE_CONFIG = """
from tigerseal import get_database_config

db_config = get_database_config()
connection_string = db_config.connection_string
print(f"Database: {connection_string}")
"""

ENV_TEMPLATE = """
from tigerseal import generate_env_template

# Generate .env template with secure defaults
generate_env_template(".env.template")
"""

DATABASE_MODELS = """
from tigerseal import encrypt_tiger_account_data, EncryptedData
from database.models import TigerAccount

# When creating a new account
encrypted_creds = encrypt_tiger_account_data(
    tiger_id=form_data.tiger_id,
    private_key=form_data.private_key
)

account = TigerAccount(
    account_name=form_data.name,
    account_number=form_data.number,
    tiger_id=encrypted_creds["tiger_id"].json(),  # Store as JSON
    private_key=encrypted_creds["private_key"].json()
)
"""

ERROR_HANDLING = """
from tigerseal import EncryptionError, DecryptionError, TokenError

try:
    encrypted = encryption_service.encrypt(data)
except EncryptionError as e:
    print(f"Encryption failed: {e}")

try:
    payload = security_service.verify_token(token)
except TokenError as e:
    print(f"Token validation failed: {e}")
"""


def lines(output: str) -> list[str]:
    return output.strip().splitlines()


def test_generate_keys() -> None:
    _, out = run_example(GENERATE_KEYS)
    master, jwt = lines(out)
    key = master.removeprefix("Master Key: ")
    assert re.fullmatch(r"[0-9a-f]{64}", key)  # 256 bits, as ENCRYPTION_MASTER_KEY expects
    secret = jwt.removeprefix("JWT Secret: ")
    assert len(secret) >= 32
    _, again = run_example(GENERATE_KEYS)
    assert set(lines(again)).isdisjoint(lines(out))  # fresh every time


def test_basic_encryption(fresh_clone: Path) -> None:
    ns, out = run_example(BASIC_ENCRYPTION)
    version_line, decrypted_line = lines(out)
    encrypted = ns["encrypted"]
    assert isinstance(encrypted, EncryptedData)
    assert version_line == f"Encrypted with key version: {encrypted.key_version}"
    assert encrypted.key_version >= 1
    assert decrypted_line == "Decrypted: sensitive data"
    assert b"sensitive data" not in bytes(encrypted)
    # No key configured: a development keyring was created, private to the user.
    keyring = fresh_clone / ".tigerseal" / "keyring.json"
    assert stat.S_IMODE(keyring.stat().st_mode) == 0o600
    creds = ns["credentials"]
    assert set(creds) == {"tiger_id", "private_key", "access_token"}
    assert all(isinstance(v, EncryptedData) for v in creds.values())
    svc = get_encryption_service()
    assert (
        svc.decrypt_to_string(
            creds["access_token"], {"purpose": "tiger-credentials", "field": "access_token"}
        )
        == "your_access_token"
    )


def test_security_service() -> None:
    ns, out = run_example(SECURITY_SERVICE)
    assert lines(out) == ["Token subject: user_id", "Token scopes: ['read', 'write']"]
    assert ns["password_hash"].startswith("$argon2id$")
    assert ns["is_valid"] is True
    assert ns["security"].verify_password("wrong_password", ns["password_hash"]) is False
    assert ns["api_key"].startswith("tk_")
    assert ns["security"].verify_api_key(ns["api_key"], ns["key_hash"])
    assert ns["api_key"] not in ns["key_hash"]
    payload = ns["payload"]
    assert isinstance(payload, TokenPayload)
    assert payload.sub == "user_id"
    assert payload["exp"] - payload["iat"] == 3600


def test_tiger_account_integration() -> None:
    ns, out = run_example(TIGER_ACCOUNT)
    assert out == ""
    assert ns["tiger_id"] == "12345"
    assert ns["private_key"] == "-----BEGIN PRIVATE KEY-----\n..."
    assert ns["credentials"]["refresh_token"] == "refresh_token_here"
    assert set(ns["encrypted_data"]) == {"tiger_id", "private_key", "access_token", "refresh_token"}


def test_rate_limiting() -> None:
    _ns, out = run_example(RATE_LIMITING)
    assert lines(out) == ["Request allowed", "Requests remaining: 99"]
    for _ in range(99):
        run_example(RATE_LIMITING)
    _, out = run_example(RATE_LIMITING)
    assert lines(out) == ["Rate limit exceeded", "Requests remaining: 0"]


def test_auditing(fresh_clone: Path) -> None:
    _, out = run_example(AUDITING)
    assert lines(out) == ["Total events: 1", "Critical events: 0"]
    reset_auditor()
    trail = fresh_clone / ".tigerseal" / "audit.jsonl"
    text = trail.read_text()
    assert '"event_type":"api_key_created"' in text
    assert '"source_ip":"192.168.1.1"' in text
    assert verify_audit_file(trail).ok


def test_security_configuration() -> None:
    ns, out = run_example(SECURITY_CONFIG)
    config = ns["config"]
    assert lines(out) == [
        f"PBKDF2 iterations: {config.pbkdf2_iterations}",
        f"Password algorithm: {config.password_hash_algorithm}",
        f"JWT expiration: {config.jwt_access_token_expire}",
    ]
    assert config.password_hash_algorithm == "argon2"
    assert config.jwt_access_token_expire == 3600
    assert config.pbkdf2_iterations >= 100_000


def test_database_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    from tigerseal.config import reset_settings

    monkeypatch.setenv("DATABASE_URL", "postgresql://user:password@localhost:5432/tiger_mcp")
    reset_settings()
    _ns, out = run_example(DATABASE_CONFIG)
    printed = out.strip().removeprefix("Database: ")
    assert "localhost:5432/tiger_mcp" in printed
    assert "password@" not in printed  # the password never shows


def test_generate_env_template(fresh_clone: Path) -> None:
    _, _out = run_example(ENV_TEMPLATE)
    template = fresh_clone / ".env.template"
    text = template.read_text()
    assert "ENCRYPTION_MASTER_KEY=" in text
    assert "JWT_SECRET=" in text
    assert stat.S_IMODE(template.stat().st_mode) == 0o600
    with pytest.raises(Exception, match="exists"):
        run_example(ENV_TEMPLATE)  # never overwritten silently


def test_integration_with_database_models(monkeypatch: pytest.MonkeyPatch) -> None:
    class TigerAccount:  # stands in for the application's ORM model
        def __init__(self, **columns: Any) -> None:
            self.__dict__.update(columns)

    models = types.ModuleType("database.models")
    models.TigerAccount = TigerAccount  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "database", types.ModuleType("database"))
    monkeypatch.setitem(sys.modules, "database.models", models)
    form_data = types.SimpleNamespace(
        tiger_id="20150001", private_key="-----BEGIN RSA PRIVATE KEY-----\nMIIB", name="main",
        number="U1234567",
    )  # fmt: skip
    ns, _ = run_example(DATABASE_MODELS, {"form_data": form_data})
    account = ns["account"]
    assert account.account_name == "main"
    assert "20150001" not in account.tiger_id
    from tigerseal import decrypt_tiger_account_data

    creds = decrypt_tiger_account_data(
        {"tiger_id": account.tiger_id, "private_key": account.private_key}
    )
    assert creds == {"tiger_id": "20150001", "private_key": form_data.private_key}


def test_error_handling() -> None:
    from tigerseal import get_security_service

    _ns, out = run_example(
        ERROR_HANDLING,
        {
            "encryption_service": get_encryption_service(),
            "data": {"not": "text"},
            "security_service": get_security_service(),
            "token": "not-a-token",
        },
    )
    encryption_line, token_line = lines(out)
    assert encryption_line.startswith("Encryption failed: ")
    assert "str or bytes" in encryption_line
    assert token_line.startswith("Token validation failed: ")
    assert "not-a-token" not in token_line

"""``tigerseal plugins`` and ``tigerseal doctor``."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from tigerseal import KeyManager
from tigerseal.cli import cli
from tigerseal.cli._admin import redact_uri
from tigerseal.config import reset_settings
from tigerseal.plugins import PluginRegistry, set_registry

from .conftest import MakeDist, provider_plugin

GROUP = "tigerseal.key_providers"


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)
    for var in ("TIGERSEAL_KEY_PROVIDERS", "ENCRYPTION_MASTER_KEY", "ENVIRONMENT", "JWT_SECRET"):
        monkeypatch.delenv(var, raising=False)
    reset_settings()
    previous = set_registry(PluginRegistry())
    yield
    set_registry(previous)
    reset_settings()


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def doctor_json(*args: str) -> tuple[int, dict[str, object]]:
    code, output = invoke("doctor", "--json", *args)
    return code, json.loads(output)


def test_plugins_lists_without_importing(site: MakeDist) -> None:
    u = site(
        "tigerseal-listed",
        {GROUP: {"listed": "ts_listed_{u}"}},
        {"ts_listed_{u}": "raise SystemExit('imported')\n"},
        version="3.1.4",
    )
    code, output = invoke("plugins", "--json")
    assert code == 0, output
    rows = json.loads(output)["plugins"]
    listed = next(r for r in rows if r["name"] == "listed")
    assert listed == {
        "group": GROUP,
        "name": "listed",
        "target": f"ts_listed_{u}",
        "distribution": "tigerseal-listed",
        "version": "3.1.4",
        "builtin": False,
    }
    assert {"env", "file"} <= {r["name"] for r in rows if r["builtin"]}
    assert "fake" not in {r["name"] for r in rows}  # opt-in test provider, not built in
    assert f"ts_listed_{u}" not in sys.modules

    code, output = invoke("plugins", "--group", GROUP)
    assert code == 0
    assert output.splitlines()[0].split() == ["GROUP", "NAME", "DISTRIBUTION", "VERSION", "SOURCE"]
    assert any(
        line.split()[:4] == ["key_providers", "listed", "tigerseal-listed", "3.1.4"]
        for line in output.splitlines()
    )


def test_plugins_load_reports_failures_by_name(site: MakeDist) -> None:
    site("tigerseal-bad", {GROUP: {"badplug": "ts_badplug_{u}"}}, {"ts_badplug_{u}": "1/0\n"})
    site(
        "tigerseal-ok",
        {GROUP: {"okplug": "ts_okplug_{u}"}},
        {"ts_okplug_{u}": provider_plugin("okplug")},
    )
    result = CliRunner().invoke(cli, ["plugins", "--load", "--json"])
    assert result.exit_code == 1
    failures = json.loads(result.output)["failures"]
    assert [(f["name"], f["distribution"]) for f in failures if f["group"] == GROUP] == [
        ("badplug", "tigerseal-bad")
    ]
    assert "ZeroDivisionError" in failures[0]["error"]


def test_doctor_healthy_file_keyring(tmp_path: Path) -> None:
    provider = KeyManager.create_keyring(tmp_path / ".tigerseal" / "keyring.json")
    code, report = doctor_json()
    checks = report["checks"]
    assert isinstance(checks, list)
    [key_check] = [c for c in checks if c["name"].startswith("key provider")]
    assert key_check["ok"]
    assert key_check["latency_ms"] >= 0
    assert key_check["extra"] == {"key_id": provider.key_id, "key_version": 1}
    settings = report["settings"]
    assert isinstance(settings, dict)
    assert settings["ENCRYPTION_MASTER_KEY"] == "not set"
    # Other helpers' built-in plugins decide the rest; the key provider is ours.
    assert code == (0 if all(c["ok"] for c in checks) else 1)


def test_doctor_reports_the_development_keyring_it_will_create() -> None:
    code, output = invoke("doctor")
    assert code == 0, output
    # The development keyring is named by its absolute path (select_key_providers resolves it).
    keyring = Path(".tigerseal/keyring.json").resolve()
    assert f"ok   development keyring: no key configured: the development keyring {keyring} " in (
        output
    )
    assert "will be created on first use" in output
    assert "healthy" in output
    assert not Path(".tigerseal/keyring.json").exists(), "doctor must not write anything"


def test_doctor_reports_a_missing_configured_keyring_with_remedy_and_exit_1(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    missing = Path("elsewhere/keyring.json").resolve()
    monkeypatch.setenv("TIGERSEAL_KEY_PROVIDERS", f"file://{missing}")
    code, output = invoke("doctor")
    assert code == 1
    assert f"FAIL key provider file://{missing}" in output
    assert "tigerseal keygen" in output
    assert "UNHEALTHY" in output
    assert not missing.exists(), "doctor must not write anything"


def test_doctor_never_prints_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    master = KeyManager.generate_master_key()
    jwt_secret = KeyManager.generate_jwt_secret()
    monkeypatch.setenv("ENCRYPTION_MASTER_KEY", master)
    monkeypatch.setenv("JWT_SECRET", jwt_secret)
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:hunter2hunter2@db/tiger")
    monkeypatch.setenv("TIGERSEAL_RATE_LIMIT_STORAGE", "redis://:redispass123@localhost:6379/0")
    for args in ((), ("--json",)):
        _, output = invoke("doctor", *args)
        for secret in (master, jwt_secret, "hunter2hunter2", "redispass123"):
            assert secret not in output
    _, report = doctor_json()
    settings = report["settings"]
    assert isinstance(settings, dict)
    assert settings["ENCRYPTION_MASTER_KEY"] == "set"
    assert settings["key_providers"] == ["env://ENCRYPTION_MASTER_KEY"]
    assert settings["DATABASE_URL"] == "postgresql://app:***@db/tiger"


def test_doctor_unhealthy_provider(
    monkeypatch: pytest.MonkeyPatch, fake_provider_registered: None
) -> None:
    monkeypatch.setenv("TIGERSEAL_KEY_PROVIDERS", "fake://doctor-ok env://DOCTOR_MISSING nope://x")
    code, report = doctor_json()
    assert code == 1
    assert report["ok"] is False
    checks = {c["name"]: c for c in report["checks"]}  # type: ignore[union-attr]
    assert checks["key provider fake://doctor-ok"]["ok"]
    assert not checks["key provider env://DOCTOR_MISSING"]["ok"]
    assert "DOCTOR_MISSING is not set" in checks["key provider env://DOCTOR_MISSING"]["detail"]
    assert "UnknownProviderError" in checks["key provider nope://x"]["detail"]


def test_doctor_refuses_fake_provider_in_production(
    monkeypatch: pytest.MonkeyPatch, fake_provider_registered: None
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("JWT_SECRET", KeyManager.generate_jwt_secret())
    monkeypatch.setenv("TIGERSEAL_KEY_PROVIDERS", "fake://prod")
    code, report = doctor_json()
    assert code == 1
    details = " ".join(str(c["detail"]) for c in report["checks"])  # type: ignore[union-attr]
    assert "never use it in production" in details


def test_doctor_reports_invalid_host_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PBKDF2_ITERATIONS", "many")  # a seed-named fallback: set aside
    code, report = doctor_json()
    assert code == 1
    assert report["settings"] is not None
    failed = [c for c in report["checks"] if not c["ok"]]  # type: ignore[union-attr]
    assert failed[0]["name"] == "settings"
    assert "PBKDF2_ITERATIONS" in failed[0]["detail"]
    assert "TIGERSEAL_PBKDF2_ITERATIONS" in failed[0]["detail"]


def test_doctor_reports_invalid_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIGERSEAL_PBKDF2_ITERATIONS", "many")
    code, report = doctor_json()
    assert code == 1
    assert report["ok"] is False
    assert report["settings"] is None
    [check] = report["checks"]  # type: ignore[misc]
    assert check["name"] == "settings"
    assert "PBKDF2_ITERATIONS" in check["detail"]
    code, output = invoke("doctor")
    assert code == 1
    assert "FAIL settings" in output


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("memory://", "memory://"),
        ("redis://:pw@h:6379/0", "redis://:***@h:6379/0"),
        ("redis://user@h", "redis://user@h"),
        ("vault://transit/k?token=abc&namespace=ns", "vault://transit/k?token=***&namespace=ns"),
        ("pkcs11:token=t;object=k?pin-value=1234", "pkcs11:token=t;object=k?pin-value=***"),
        ("env://X", "env://X"),
    ],
)
def test_redact_uri(uri: str, expected: str) -> None:
    assert redact_uri(uri) == expected


def test_doctor_names_the_key_selection_and_refuses_the_dev_keyring_in_staging(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """doctor uses select_key_providers(), like the service and rotate (issue 11 items 8, 9)."""
    KeyManager.create_keyring(tmp_path / ".tigerseal" / "keyring.json")
    _, report = doctor_json()
    settings = report["settings"]
    assert isinstance(settings, dict)
    assert settings["key_providers_source"] == "development keyring"
    checks = {c["name"]: c for c in report["checks"]}  # type: ignore[union-attr]
    assert checks["development keyring"]["ok"]
    assert str(tmp_path / ".tigerseal" / "keyring.json") in checks["development keyring"]["detail"]

    monkeypatch.setenv("ENVIRONMENT", "staging")
    reset_settings()
    code, report = doctor_json()
    assert code == 1
    checks = {c["name"]: c for c in report["checks"]}  # type: ignore[union-attr]
    assert not checks["key providers"]["ok"]
    assert "ENCRYPTION_MASTER_KEY is required in staging" in checks["key providers"]["detail"]
    assert not any(name.startswith("key provider file://") for name in checks)

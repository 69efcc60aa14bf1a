"""configure_logging: text or JSON lines, secrets redacted, handlers never stacked."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from tigerseal import configure_logging
from tigerseal.config import redact_text

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJlc2lnbmF0dXJl"
API_KEY = "tk_" + "A" * 30 + "b1C2d3"


@pytest.fixture
def logger_name() -> Iterator[str]:
    name = "tigerseal.test.logging"
    yield name
    logger = logging.getLogger(name)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)
    logger.propagate = True


def test_json_lines_with_extra_fields_and_redaction(logger_name: str) -> None:
    stream = io.StringIO()
    configure_logging("INFO", json_format=True, stream=stream, logger=logger_name)
    log = logging.getLogger(logger_name)
    log.propagate = False
    log.info(
        "login for %s with %s",
        "alice",
        JWT,
        extra={"password": "hunter2", "user": "alice", "details": {"api_key": "k", "n": 1}},
    )
    entry = json.loads(stream.getvalue().strip())
    assert entry["level"] == "INFO"
    assert entry["logger"] == logger_name
    assert entry["message"] == "login for alice with [REDACTED-JWT]"
    assert entry["password"] == "[REDACTED]"
    assert entry["user"] == "alice"
    assert entry["details"] == {"api_key": "[REDACTED]", "n": 1}
    assert entry["timestamp"].endswith("+00:00")


def test_json_exceptions_are_included(logger_name: str) -> None:
    stream = io.StringIO()
    configure_logging("INFO", json_format=True, stream=stream, logger=logger_name)
    log = logging.getLogger(logger_name)
    log.propagate = False
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("failed")
    entry = json.loads(stream.getvalue().strip())
    assert "RuntimeError: boom" in entry["exception"]


def test_text_format_redacts(logger_name: str) -> None:
    stream = io.StringIO()
    configure_logging("DEBUG", json_format=False, stream=stream, logger=logger_name)
    log = logging.getLogger(logger_name)
    log.propagate = False
    log.debug("key %s url %s", API_KEY, "postgresql://u:pw123@h/db")
    out = stream.getvalue()
    assert API_KEY not in out
    assert "pw123" not in out
    assert "tk_[REDACTED]" in out
    assert "postgresql://u:***@h/db" in out


def test_repeated_calls_replace_the_handler(logger_name: str) -> None:
    for _ in range(3):
        configure_logging("INFO", stream=io.StringIO(), logger=logger_name)
    marked = [
        h
        for h in logging.getLogger(logger_name).handlers
        if getattr(h, "_tigerseal_handler", False)
    ]
    assert len(marked) == 1


def test_format_defaults_to_settings(logger_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIGERSEAL_LOG_FORMAT", "json")
    monkeypatch.setenv("TIGERSEAL_LOG_LEVEL", "warning")
    stream = io.StringIO()
    configure_logging(stream=stream, logger=logger_name)
    log = logging.getLogger(logger_name)
    log.propagate = False
    log.info("hidden")
    log.warning("shown")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["message"] == "shown"


def test_logging_still_works_with_broken_configuration(
    logger_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JWT_SECRET", "short")
    handler = configure_logging(stream=io.StringIO(), logger=logger_name)
    assert isinstance(handler, logging.StreamHandler)


def test_redact_text_leaves_ordinary_text_alone() -> None:
    text = "user alice logged in from 10.0.0.1 at https://example.com/path"
    assert redact_text(text) == text

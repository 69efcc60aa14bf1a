"""Event names and risk levels.

Names follow the OWASP Logging Vocabulary Cheat Sheet (``authn_login_fail``, ``authz_fail``,
``excess_rate_limit_exceeded``, ...) where one fits. Other lowercase names are accepted as they
are (the seed's ``api_key_created`` keeps working); when such a name has an OWASP equivalent,
the record also carries it under ``"owasp"`` so a SIEM can group on one vocabulary.
"""

from __future__ import annotations

import re
from enum import StrEnum

from tigerseal.errors import AuditError

__all__ = [
    "OWASP_EVENTS",
    "SEED_ALIASES",
    "SINK_EVENTS",
    "TIGERSEAL_EVENTS",
    "RiskLevel",
    "check_event_type",
    "check_risk_level",
    "owasp_name",
]


class RiskLevel(StrEnum):
    """How urgent an event is.

    ``low`` (routine), ``medium`` (worth a look), ``high`` (investigate), ``critical`` (page
    someone).
    """

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


#: The OWASP Logging Vocabulary (event names without their ``:arguments``).
OWASP_EVENTS = frozenset(
    {
        "authn_login_success",
        "authn_login_successafterfail",
        "authn_login_fail",
        "authn_login_fail_max",
        "authn_login_lock",
        "authn_password_change",
        "authn_password_change_fail",
        "authn_impossible_travel",
        "authn_token_created",
        "authn_token_revoked",
        "authn_token_reuse",
        "authn_token_delete",
        "authz_fail",
        "authz_change",
        "authz_admin",
        "excess_rate_limit_exceeded",
        "upload_complete",
        "upload_stored",
        "upload_validation",
        "upload_delete",
        "input_validation_fail",
        "malicious_excess_404",
        "malicious_extraneous",
        "malicious_attack_tool",
        "malicious_cors",
        "malicious_direct_reference",
        "privilege_permissions_changed",
        "sensitive_create",
        "sensitive_read",
        "sensitive_update",
        "sensitive_delete",
        "sequence_fail",
        "session_created",
        "session_renewed",
        "session_expired",
        "session_use_after_expire",
        "sys_startup",
        "sys_shutdown",
        "sys_restart",
        "sys_crash",
        "sys_monitor_disabled",
        "sys_monitor_enabled",
        "user_created",
        "user_updated",
        "user_archived",
        "user_deleted",
    }
)

#: tigerseal's own events, where OWASP has no name.
TIGERSEAL_EVENTS = frozenset(
    {
        "authn_token_invalid",  # a JWT or API key failed verification
        "crypto_decrypt_fail",  # a ciphertext did not decrypt (tampered, wrong key or context)
        "crypto_key_rotated",
        "crypto_rewrap",
        "audit_chain_start",  # written by the file sink: first record of a file
        "audit_chain_resume",  # written by the file sink: a process reopened the file
        "audit_checkpoint",  # written by the file sink: HMAC over the chain so far
    }
)

#: Names used by the seed (and common in applications) -> OWASP equivalent.
SEED_ALIASES: dict[str, str] = {
    "api_key_created": "authn_token_created",
    "api_key_revoked": "authn_token_revoked",
    "api_key_deleted": "authn_token_delete",
    "api_key_invalid": "authn_token_invalid",
    "token_created": "authn_token_created",
    "token_issued": "authn_token_created",
    "token_revoked": "authn_token_revoked",
    "token_reuse": "authn_token_reuse",
    "token_validation_failed": "authn_token_invalid",
    "login_success": "authn_login_success",
    "login_failed": "authn_login_fail",
    "login_failure": "authn_login_fail",
    "account_locked": "authn_login_lock",
    "password_changed": "authn_password_change",
    "access_denied": "authz_fail",
    "permission_denied": "authz_fail",
    "rate_limit_exceeded": "excess_rate_limit_exceeded",
    "decryption_failed": "crypto_decrypt_fail",
    "credentials_accessed": "sensitive_read",
    "credentials_created": "sensitive_create",
    "credentials_updated": "sensitive_update",
    "credentials_deleted": "sensitive_delete",
}

_NAME = re.compile(r"[a-z][a-z0-9_.]{0,63}")
#: Written by the sinks only: an application record under one of these names would pose as the
#: chain's own (a chain start fails `verify`, `audit tail` hides them).
SINK_EVENTS = frozenset({"audit_chain_start", "audit_chain_resume", "audit_checkpoint"})
_known: set[str] = set(OWASP_EVENTS | TIGERSEAL_EVENTS | set(SEED_ALIASES)) - SINK_EVENTS
_LEVELS = {level.value: level.value for level in RiskLevel}
_LEVELS.update({level.value.upper(): level.value for level in RiskLevel})


def check_event_type(event_type: object) -> str:
    """Return ``event_type`` if it is a valid name (lowercase, ``[a-z0-9_.]``, <= 64 chars).

    Raises:
        AuditError: it is not (the message shows the rule, not the value, which may be
            attacker-supplied).
    """
    if event_type.__class__ is str and event_type in _known:
        return event_type
    if isinstance(event_type, str) and _NAME.fullmatch(event_type):
        if event_type in SINK_EVENTS:
            raise AuditError(
                f"the audit event type {event_type!r} is reserved for the audit sinks' own "
                "records (chain starts and checkpoints); choose another name"
            )
        if len(_known) < 10_000:
            _known.add(event_type)
        return event_type
    raise AuditError(
        "an audit event type must be a lowercase name of letters, digits, '_' or '.' "
        "(at most 64 characters), such as 'authn_login_fail' from the OWASP Logging Vocabulary"
    )


def check_risk_level(risk_level: object) -> str:
    """Normalise a risk level (``"low"``, ``RiskLevel.HIGH``, ``"CRITICAL"``).

    Raises:
        AuditError: it is not one of low, medium, high, critical.
    """
    level = _LEVELS.get(risk_level) if isinstance(risk_level, str) else None
    if level is None:
        raise AuditError(
            f"unknown risk level {risk_level!r}; use one of: low, medium, high, critical"
        )
    return level


def owasp_name(event_type: str) -> str | None:
    """The OWASP vocabulary name of a seed or alias name (``None`` if none or the same)."""
    return SEED_ALIASES.get(event_type)

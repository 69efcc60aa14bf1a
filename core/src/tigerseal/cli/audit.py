"""``tigerseal audit verify|tail|stats``: check and read hash-chained audit files."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import click

__all__ = ["audit"]

_LEVEL_COLOURS = {"low": None, "medium": "yellow", "high": "red", "critical": "magenta"}


def _default_file() -> str:
    """The first ``file://`` sink of ``TIGERSEAL_AUDIT_SINKS``."""
    from tigerseal.config import get_settings

    for uri in get_settings().audit_sinks.split():
        parts = urlsplit(uri)
        if parts.scheme == "file":
            return parts.netloc + parts.path if parts.netloc in (".", "..") else parts.path
    raise click.UsageError(
        "no FILE given and TIGERSEAL_AUDIT_SINKS names no file:// sink; pass the audit file"
    )


file_argument = click.argument("file", required=False, type=click.Path(dir_okay=False))


@click.group()
def audit() -> None:
    """Verify, tail and summarise hash-chained audit files.

    FILE defaults to the file sink of TIGERSEAL_AUDIT_SINKS (.tigerseal/audit.jsonl).
    """


@audit.command()
@file_argument
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--no-macs",
    is_flag=True,
    help="Check the hash chain only (no access to the checkpoint keys needed).",
)
@click.option("--strict", is_flag=True, help="Fail on warnings too (torn lines, no head file).")
@click.option(
    "--key-provider",
    "key_providers",
    multiple=True,
    metavar="URI",
    help="Key URI that decrypts checkpoint keys (default: the configured providers).",
)
def verify(
    file: str | None, as_json: bool, no_macs: bool, strict: bool, key_providers: tuple[str, ...]
) -> None:
    """Check FILE for edits, deletions, reordering and truncation.

    Exit status 0 if the trail is intact, 1 if it was altered (or, with --strict, if there is
    any warning).
    """
    from tigerseal.audit import AuditKeys

    keys = None
    if key_providers:
        from tigerseal.envelope import EncryptionService
        from tigerseal.plugins import key_provider_from_uri

        keys = AuditKeys(
            encryption=EncryptionService([key_provider_from_uri(u) for u in key_providers])
        )
    path = file or _default_file()
    report = _verify(path, keys, check_macs=not no_macs)
    failed = not report.ok or (strict and bool(report.issues))
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        span = (
            f"seq {report.first_seq}..{report.last_seq}"
            if report.first_seq is not None
            else "empty"
        )
        verdict = "OK" if report.ok else "TAMPERED"
        click.secho(
            f"{path}: {verdict} - {report.records} records ({span}), "
            f"{report.verified_checkpoints}/{report.checkpoints} checkpoints verified",
            fg="green" if report.ok else "red",
            bold=not report.ok,
        )
        if report.last_checkpoint_seq is not None:
            click.echo(
                f"last verified checkpoint at seq {report.last_checkpoint_seq}; "
                f"{report.unanchored} records after it are chained but not yet anchored"
            )
        for issue in report.issues:
            where = f"line {issue.line}: " if issue.line else ""
            click.secho(
                f"{issue.severity}: [{issue.kind}] {where}{issue.message}",
                fg="red" if issue.severity == "error" else "yellow",
                err=False,
            )
    if failed:
        raise SystemExit(1)


def _verify(target: str, keys: Any, *, check_macs: bool) -> Any:
    """Verify a file, or the URI of a sink that verifies itself (``postgresql://``, ``sqlite://``)."""
    from tigerseal.audit import verify_audit_file

    parts = urlsplit(target)
    scheme = parts.scheme
    if "://" not in target or scheme == "":
        return verify_audit_file(target, keys=keys, check_macs=check_macs)
    if scheme == "file":  # file:///abs/path or file://./relative/path, query ignored
        path = parts.netloc + parts.path if parts.netloc in (".", "..") else parts.path
        return verify_audit_file(path, keys=keys, check_macs=check_macs)
    from tigerseal.plugins import audit_sink_from_uri

    sink = audit_sink_from_uri(target)
    try:
        verifier = getattr(sink, "verify", None)
        if verifier is None:
            raise click.UsageError(f"the {scheme} audit sink keeps no verifiable trail")
        return verifier(keys=keys, check_macs=check_macs)
    finally:
        sink.close()


def _format(record: dict[str, Any]) -> str:
    skip = {"seq", "prev", "ts", "event_type", "risk_level", "event_id", "host", "pid"}
    parts = [
        str(record.get("ts", "?")),
        f"{record.get('risk_level', '?'):8}",
        str(record.get("event_type", "?")),
    ]
    for name, value in record.items():
        if name in skip:
            continue
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        parts.append(f"{name}={text}")
    return " ".join(parts)


@audit.command()
@file_argument
@click.option("-n", "--lines", "count", default=10, show_default=True, help="How many records.")
@click.option("--json", "as_json", is_flag=True, help="Print records as JSON lines.")
@click.option("--all", "internal", is_flag=True, help="Include chain starts and checkpoints.")
def tail(file: str | None, count: int, as_json: bool, internal: bool) -> None:
    """Print the last records of FILE."""
    from tigerseal.audit.trail import tail as read_tail

    for record in read_tail(file or _default_file(), count, internal=internal):
        if as_json:
            click.echo(json.dumps(record, separators=(",", ":")))
        else:
            click.secho(_format(record), fg=_LEVEL_COLOURS.get(str(record.get("risk_level"))))


@audit.command()
@file_argument
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def stats(file: str | None, as_json: bool) -> None:
    """Count FILE's events by type and risk level."""
    from tigerseal.audit.trail import stats as read_stats

    summary = read_stats(file or _default_file())
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    click.echo(f"total events: {summary['total_events']}")
    click.echo(f"critical events: {summary['critical_events_count']}")
    click.echo(f"span: {summary['first_event']} .. {summary['last_event']}")
    click.echo(
        f"checkpoints: {summary['checkpoints']}, writer sessions: {summary['writer_sessions']}"
    )
    click.echo("by risk level:")
    for level, n in summary["events_by_risk_level"].items():
        click.echo(f"  {level:9} {n}")
    click.echo("by type:")
    for name, n in summary["events_by_type"].items():
        click.echo(f"  {name:32} {n}")

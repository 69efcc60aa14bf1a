"""``tigerseal audit verify|tail|stats``: check and read hash-chained audit files."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import click

from tigerseal._text import escape_control

__all__ = ["audit"]

_LEVEL_COLOURS = {"low": None, "medium": "yellow", "high": "red", "critical": "magenta"}


def _default_file() -> str:
    """The first ``file://`` sink of ``TIGERSEAL_AUDIT_SINKS``."""
    from tigerseal.config import get_settings

    for uri in get_settings().audit_sinks.split():
        if uri.lower().startswith("file:"):
            from tigerseal.audit._filesink import path_from_uri

            return path_from_uri(uri)
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
@click.option("--strict", is_flag=True, help="Fail on warnings too (torn lines, legacy format).")
@click.option(
    "--anchor",
    metavar="SEQ:SHA256",
    help="A record printed earlier by `tigerseal audit anchor` and kept off the host: the "
    "trail must still hold it (detects cuts, rollbacks and replacement back past it).",
)
@click.option(
    "--allow-unanchored",
    is_flag=True,
    help="Accept a trail without any MAC or without its head file (a plain hash chain, which "
    "anyone who can write the file can rewrite).",
)
@click.option(
    "--key-provider",
    "key_providers",
    multiple=True,
    metavar="URI",
    help="Key URI that decrypts checkpoint keys (default: the configured providers).",
)
def verify(
    file: str | None,
    as_json: bool,
    no_macs: bool,
    strict: bool,
    anchor: str | None,
    allow_unanchored: bool,
    key_providers: tuple[str, ...],
) -> None:
    """Check FILE for edits, deletions, reordering, stripped MACs and truncation.

    Exit status 0 if the trail is intact, 1 if it was altered or is not authenticated (or,
    with --strict, if there is any warning).
    """
    from tigerseal.audit import AuditKeys

    keys = AuditKeys(encryption=_service(key_providers)) if key_providers else None
    path = file or _default_file()
    report = _verify(
        path,
        keys,
        check_macs=not no_macs,
        allow_unanchored=allow_unanchored,
        anchor=_parse_anchor(anchor) if anchor else None,
    )
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
            f"{escape_control(path)}: {verdict} - {report.records} records ({span}), "
            f"{report.authenticated} MACs and "
            f"{report.verified_checkpoints}/{report.checkpoints} checkpoints verified",
            fg="green" if report.ok else "red",
            bold=not report.ok,
        )
        if report.last_checkpoint_seq is not None:
            click.echo(
                f"last verified checkpoint at seq {report.last_checkpoint_seq}; "
                f"{report.unanchored} records after the head can be cut off undetected"
            )
        for issue in report.issues:
            where = f"line {issue.line}: " if issue.line else ""
            click.secho(
                f"{issue.severity}: [{issue.kind}] {where}{escape_control(issue.message)}",
                fg="red" if issue.severity == "error" else "yellow",
                err=False,
            )
    if failed:
        raise SystemExit(1)


def _service(key_providers: tuple[str, ...]) -> Any:
    from tigerseal.envelope import EncryptionService
    from tigerseal.plugins import key_provider_from_uri

    return EncryptionService([key_provider_from_uri(u) for u in key_providers])


def _parse_anchor(text: str) -> tuple[int, str]:
    seq, _, sha = text.strip().partition(":")
    if not seq.isdigit() or len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise click.BadParameter(
            "expected SEQ:SHA256 as printed by `tigerseal audit anchor`", param_hint="--anchor"
        )
    return int(seq), sha


def _verify(
    target: str,
    keys: Any,
    *,
    check_macs: bool,
    allow_unanchored: bool,
    anchor: tuple[int, str] | None = None,
) -> Any:
    """Verify a file, or the URI of a sink that verifies itself (``postgresql://``, ``sqlite://``)."""
    from tigerseal.audit import verify_audit_file
    from tigerseal.audit.keystore import file_target_path

    path = file_target_path(target)
    if path is not None:
        return verify_audit_file(
            path,
            keys=keys,
            check_macs=check_macs,
            allow_unanchored=allow_unanchored,
            anchor=anchor,
        )
    from tigerseal.plugins import audit_sink_from_uri

    sink = audit_sink_from_uri(target)
    try:
        verifier = getattr(sink, "verify", None)
        if verifier is None:
            raise click.UsageError(
                f"the {escape_control(urlsplit(target).scheme)} audit sink keeps no verifiable "
                "trail"
            )
        return verifier(
            keys=keys, check_macs=check_macs, allow_unanchored=allow_unanchored, anchor=anchor
        )
    finally:
        sink.close()


@audit.command()
@file_argument
@click.option(
    "--key-provider",
    "key_providers",
    multiple=True,
    metavar="URI",
    help="Key URI that decrypts the MAC keys (default: the configured providers).",
)
def anchor(file: str | None, key_providers: tuple[str, ...]) -> None:
    """Print SEQ:SHA256 of FILE's newest record, after verifying it.

    Keep the line off the host (a ticket, another system's log, a notary): `tigerseal audit
    verify --anchor SEQ:SHA256` later proves the trail still holds that record, which no
    attacker with write access can fake by cutting, rolling back or replacing the trail.
    """
    from tigerseal.audit import AuditKeys

    keys = AuditKeys(encryption=_service(key_providers)) if key_providers else None
    path = file or _default_file()
    report = _verify(path, keys, check_macs=True, allow_unanchored=False)
    if not report.ok or report.last_sha256 is None:
        click.secho(
            f"{escape_control(path)}: not anchored - the trail does not verify "
            "(run `tigerseal audit verify`)",
            fg="red",
            err=True,
        )
        raise SystemExit(1)
    click.echo(f"{report.last_seq}:{report.last_sha256}")


@audit.command("rewrap-keys")
@click.argument("sinks", nargs=-1)
@click.option(
    "--key-provider",
    "key_providers",
    multiple=True,
    metavar="URI",
    help="Key URI(s) to rewrap with (default: the configured providers, newest first).",
)
def rewrap_keys(sinks: tuple[str, ...], key_providers: tuple[str, ...]) -> None:
    """Rewrap the audit trail's MAC keys to the newest key versions.

    SINKS are audit files, file:// URIs or SQL sink URIs (default: TIGERSEAL_AUDIT_SINKS).
    The chain itself is not touched: it only names each key and commits to it. Keys of
    legacy (tigerseal-audit/1) trails are copied, rewrapped, into the key store. Run it after
    rotating the key provider and before retiring the old version.
    """
    from tigerseal.audit.keystore import file_target_path, rewrap_file_keys

    service = _service(key_providers) if key_providers else None
    targets = list(sinks)
    if not targets:
        from tigerseal.config import get_settings

        targets = [u for u in get_settings().audit_sinks.split() if not u.startswith("logging:")]
    for target in targets:
        shown = escape_control(target, limit=200)
        path = file_target_path(target)
        if path is not None:
            count = rewrap_file_keys(path, service)
        else:
            from tigerseal.plugins import audit_sink_from_uri

            sink = audit_sink_from_uri(target)
            try:
                rewrap = getattr(sink, "rewrap_keys", None)
                if rewrap is None:
                    raise click.UsageError(f"the audit sink {shown} stores no MAC keys")
                count = rewrap(service)
            finally:
                sink.close()
        click.echo(
            f"{shown}: {count.rewrapped} MAC keys rewrapped, {count.current} already current"
            + (f", {count.other} of providers not configured here" if count.other else "")
        )


def _format(record: dict[str, Any]) -> str:
    """One record as a terminal line; every field escaped (records hold attacker text)."""
    skip = {"seq", "prev", "ts", "event_type", "risk_level", "event_id", "host", "pid", "mac"}
    parts = [
        escape_control(str(record.get("ts", "?"))),
        f"{escape_control(str(record.get('risk_level', '?'))):8}",
        escape_control(str(record.get("event_type", "?"))),
    ]
    for name, value in record.items():
        if name in skip:
            continue
        # ensure_ascii=False keeps letters readable; escape_control then removes controls,
        # bidi overrides and separators that json.dumps leaves in non-ASCII text.
        text = (
            value
            if isinstance(value, str)
            else json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        )
        parts.append(f"{escape_control(str(name))}={escape_control(text)}")
    return " ".join(parts)


@audit.command()
@file_argument
@click.option("-n", "--lines", "count", default=10, show_default=True, help="How many records.")
@click.option("--json", "as_json", is_flag=True, help="Print records as JSON lines.")
@click.option("--all", "internal", is_flag=True, help="Include chain starts and checkpoints.")
def tail(file: str | None, count: int, as_json: bool, internal: bool) -> None:
    """Print the last records of FILE."""
    from tigerseal.audit._trail import tail as read_tail

    for record in read_tail(file or _default_file(), count, internal=internal):
        if as_json:
            click.echo(json.dumps(record, separators=(",", ":")))
        else:
            colour = _LEVEL_COLOURS.get(str(record.get("risk_level")))
            click.secho(_format(record), fg=colour)


@audit.command()
@file_argument
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def stats(file: str | None, as_json: bool) -> None:
    """Count FILE's events by type and risk level."""
    from tigerseal.audit._trail import stats as read_stats

    summary = read_stats(file or _default_file())
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    click.echo(f"total events: {summary['total_events']}")
    click.echo(f"critical events: {summary['critical_events_count']}")
    click.echo(
        f"span: {escape_control(str(summary['first_event']))} .. "
        f"{escape_control(str(summary['last_event']))}"
    )
    click.echo(
        f"checkpoints: {summary['checkpoints']}, writer sessions: {summary['writer_sessions']}"
    )
    click.echo("by risk level:")
    for level, n in summary["events_by_risk_level"].items():
        click.echo(f"  {level:9} {n}")
    click.echo("by type:")
    for name, n in summary["events_by_type"].items():
        click.echo(f"  {escape_control(str(name), limit=64):32} {n}")

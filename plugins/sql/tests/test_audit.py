"""SQL audit sink: one verifiable hash chain for many processes, tampering detected."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from tigerseal.audit import Auditor
from tigerseal.audit._chain import AuditKeys
from tigerseal.errors import AuditError, ConfigError
from tigerseal.plugins import PluginRegistry, audit_sink_from_uri, set_registry
from tigerseal_sql.audit import SQLAuditSink, from_uri

from .conftest import VAR, Keys

WORKER = Path(__file__).with_name("_audit_worker.py")

Make = Callable[..., SQLAuditSink]


@pytest.fixture
def audit_keys(keys: Keys) -> AuditKeys:
    return AuditKeys(encryption=keys.service())


@pytest.fixture
def make(db_url: str, audit_keys: AuditKeys) -> Iterator[Make]:
    made: list[SQLAuditSink] = []

    def build(**options: Any) -> SQLAuditSink:
        options.setdefault("keys", audit_keys)
        sink = from_uri(db_url, **options)
        made.append(sink)
        return sink

    yield build
    for sink in made:
        sink.close()


def event(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "ts": f"2025-01-01T00:00:{i % 60:02d}.000000Z",
        "event_type": "authz_fail",
        "risk_level": "medium",
        "i": i,
        **extra,
    }


def execute(db_url: str, sql: str, **params: Any) -> None:
    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(sql), params)
    finally:
        engine.dispose()


def test_records_chain_and_verify(make: Make, audit_keys: AuditKeys, db_url: str) -> None:
    sink = make(checkpoint_every=4)
    for i in range(10):
        sink.write(event(i))
    sink.close()
    report = make().verify(keys=audit_keys)
    assert report.ok, report.issues
    # start + 10 records + 2 checkpoints (every 4) + final checkpoint at close
    assert report.records == 14
    assert report.first_seq == 0
    assert report.last_seq == 13
    assert report.checkpoints == report.verified_checkpoints == 3
    assert report.head_seq == 13
    assert report.unanchored == 0


def test_database_password_never_shows() -> None:
    from tigerseal_sql.audit import _display

    engine = create_engine("postgresql+psycopg://app:s3cretpw@db.internal/tiger")
    assert "s3cretpw" not in _display(engine)
    engine.dispose()


def test_a_second_process_resumes_the_same_chain(make: Make, audit_keys: AuditKeys) -> None:
    first, second = make(checkpoint_every=3), make(checkpoint_every=3)
    for i in range(6):
        (first if i % 2 else second).write(event(i))
    first.close()
    second.close()
    report = make().verify(keys=audit_keys)
    assert report.ok, report.issues
    assert len(report.chain_ids) == 1
    engine = first.engine
    del engine  # the sink disposed it
    kinds = [
        json.loads(line)["event_type"]
        for (line,) in _rows(make, "SELECT line FROM tigerseal_audit ORDER BY seq")
    ]
    assert kinds[0] == "audit_chain_start"
    assert kinds.count("audit_chain_resume") == 1


def _rows(make: Make, sql: str) -> list[Any]:
    sink = make()
    with sink.engine.connect() as conn:
        return list(conn.execute(text(sql)).all())


@pytest.mark.parametrize(
    ("tamper", "kind"),
    [
        (
            "UPDATE tigerseal_audit SET line = REPLACE(line, 'medium', 'low') WHERE seq = 3",
            "edited",
        ),
        ("DELETE FROM tigerseal_audit WHERE seq = 4", "deleted"),
        ("DELETE FROM tigerseal_audit WHERE seq >= 9", "truncated"),
        ("UPDATE tigerseal_audit SET seq = seq + 100 WHERE seq = 2", "reordered"),
    ],
)
def test_tampering_is_detected(
    make: Make, audit_keys: AuditKeys, db_url: str, tamper: str, kind: str
) -> None:
    sink = make(checkpoint_every=5)
    for i in range(10):
        sink.write(event(i))
    sink.close()
    execute(db_url, tamper)
    report = make().verify(keys=audit_keys)
    assert not report.ok
    assert kind in report.kinds(), report.issues


def test_rewritten_chain_fails_the_checkpoint_mac(
    make: Make, audit_keys: AuditKeys, db_url: str
) -> None:
    """An attacker who recomputes every hash after an edit still cannot forge the MACs."""
    import hashlib

    sink = make(checkpoint_every=5)
    for i in range(8):
        sink.write(event(i))
    sink.close()
    rows = _rows(make, "SELECT seq, line FROM tigerseal_audit ORDER BY seq")
    prev = None
    fixed: list[tuple[int, str]] = []
    for seq, line in rows:
        rec = json.loads(line)
        if seq == 2:
            rec["risk_level"] = "low"
        if prev is not None:
            rec["prev"] = prev
        new = json.dumps(rec, separators=(",", ":"))
        prev = hashlib.sha256(new.encode()).hexdigest()
        fixed.append((seq, new))
    for seq, line in fixed:
        execute(
            db_url, "UPDATE tigerseal_audit SET line = :line WHERE seq = :seq", line=line, seq=seq
        )
    report = make().verify(keys=audit_keys)
    assert "forged" in report.kinds()


def test_batch_mode_commits_on_flush_and_close(make: Make, audit_keys: AuditKeys) -> None:
    sink = make(durability="batch", batch_size=50)
    for i in range(10):
        sink.write(event(i))
    from sqlalchemy import inspect

    assert not inspect(sink.engine).has_table("tigerseal_audit")  # nothing written yet
    sink.flush()
    assert _rows(make, "SELECT COUNT(*) FROM tigerseal_audit")[0][0] == 11  # + chain start
    sink.write(event(11))
    sink.close()
    report = make().verify(keys=audit_keys)
    assert report.ok, report.issues
    assert report.records == 13


def test_auditor_writes_redacted_records(make: Make, audit_keys: AuditKeys) -> None:
    sink = make()
    auditor = Auditor([sink], notify=False)
    auditor.log(
        "api_key_created",
        api_key_id="key_123",
        details={"password": "hunter2hunter2", "scopes": ["read"]},
        risk_level="low",
        source_ip="192.168.1.1",
    )
    auditor.close()
    lines = [r[0] for r in _rows(make, "SELECT line FROM tigerseal_audit ORDER BY seq")]
    assert not any("hunter2" in line for line in lines)
    rows = _rows(make, "SELECT event_type, risk_level FROM tigerseal_audit WHERE seq = 1")
    assert tuple(rows[0]) == ("api_key_created", "low")
    assert make().verify(keys=audit_keys).ok


def test_closed_sink_and_bad_records(make: Make) -> None:
    sink = make()
    with pytest.raises(AuditError, match="mapping"):
        sink.write(["not", "a", "mapping"])  # type: ignore[arg-type]
    sink.close()
    with pytest.raises(AuditError, match="closed"):
        sink.write(event(0))


def test_bad_options(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    with pytest.raises(ConfigError, match="unknown keyword option 'colour'"):
        from_uri(f"{url}?colour=blue", colour="red")
    with pytest.raises(ConfigError, match="durability"):
        from_uri(url, durability="eventually")
    with pytest.raises(ConfigError, match="table name"):
        from_uri(url, table="audit; DROP TABLE x")
    with pytest.raises(ConfigError, match="postgresql"):
        from_uri("mysql://h/db")
    with pytest.raises(ConfigError, match="batch_size"):
        from_uri(f"{url}?batch_size=lots")


def test_registry_resolves_sqlite_and_postgresql(tmp_path: Path, audit_keys: AuditKeys) -> None:
    previous = set_registry(PluginRegistry())
    try:
        sink = audit_sink_from_uri(f"sqlite:///{tmp_path / 'r.db'}?table=trail", keys=audit_keys)
        assert isinstance(sink, SQLAuditSink)
        sink.write(event(1))
        sink.close()
        from tigerseal.plugins import get_registry

        specs = get_registry().specs("register_audit_sinks")
        assert {"postgresql", "postgresql+psycopg", "sqlite"} <= set(specs)
    finally:
        set_registry(previous)


def test_four_processes_share_one_verifiable_chain(
    db_url: str, keys: Keys, audit_keys: AuditKeys, make: Make
) -> None:
    make().close()  # create the tables first, so workers race only on the chain
    env = {k: v for k, v in os.environ.items() if not k.startswith(VAR)}
    env.update(keys.env)
    env["TIGERSEAL_KEY_PROVIDERS"] = f"env://{VAR}"
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), db_url, "--records", "60", "--threads", "3"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=180) for p in procs]
    for (_, err), p in zip(outputs, procs, strict=True):
        assert p.returncode == 0, err
    report = make().verify(keys=audit_keys)
    assert report.ok, report.issues
    events = _rows(
        make, "SELECT COUNT(*) FROM tigerseal_audit WHERE event_type = 'authn_login_success'"
    )
    assert events[0][0] == 240
    resumes = _rows(
        make,
        "SELECT COUNT(*) FROM tigerseal_audit "
        "WHERE event_type IN ('audit_chain_start', 'audit_chain_resume')",
    )
    assert resumes[0][0] == 4  # one key announcement per process
    seqs = [r[0] for r in _rows(make, "SELECT seq FROM tigerseal_audit ORDER BY seq")]
    assert seqs == list(range(len(seqs)))
    assert report.verified_checkpoints == report.checkpoints >= 4 + 8


def test_tigerseal_audit_verify_takes_a_database_uri(
    make: Make, db_url: str, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner
    from tigerseal.cli import cli as tigerseal_cli

    sink = make(checkpoint_every=3)
    for i in range(5):
        sink.write(event(i))
    sink.close()
    for name, value in keys.env.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    args = ["audit", "verify", db_url, "--key-provider", f"env://{VAR}"]
    out = runner.invoke(tigerseal_cli, args)
    assert out.exit_code == 0, out.output
    assert "OK" in out.output
    assert "2/2 checkpoints verified" in out.output
    execute(db_url, "DELETE FROM tigerseal_audit WHERE seq = 2")
    out = runner.invoke(tigerseal_cli, args)
    assert out.exit_code == 1
    assert "TAMPERED" in out.output
    assert "deleted" in out.output
    missing = runner.invoke(tigerseal_cli, ["audit", "verify", f"{db_url}?table=nothing_here"])
    assert isinstance(missing.exception, AuditError)
    assert "no audit table" in str(missing.exception)


def test_threads_share_transactions_and_lose_nothing(make: Make, audit_keys: AuditKeys) -> None:
    import threading

    sink = make(checkpoint_every=50)

    def work(t: int) -> None:
        for i in range(40):
            sink.write(event(i, thread=t))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    sink.close()
    report = make().verify(keys=audit_keys)
    assert report.ok, report.issues
    count = _rows(make, "SELECT COUNT(*) FROM tigerseal_audit WHERE event_type = 'authz_fail'")
    assert count[0][0] == 320


def test_unreachable_database_is_an_audit_error(audit_keys: AuditKeys) -> None:
    from tests.services._proc import free_port

    url = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/nothing?connect_timeout=1"
    sink = from_uri(url, keys=audit_keys)
    with pytest.raises(AuditError, match="check the database"):
        sink.write(event(1))
    batched = from_uri(url, keys=audit_keys, durability="batch", batch_size=2)
    batched.write(event(1))
    with pytest.raises(AuditError):
        batched.write(event(2))  # the batch is due: the commit fails, the records stay queued
    with pytest.raises(AuditError):
        batched.flush()
    sink.engine.dispose()
    batched.engine.dispose()


@pytest.mark.integration
@pytest.mark.postgres
def test_sink_survives_a_database_restart(
    pg_url: str, postgres_server: Any, audit_keys: AuditKeys
) -> None:
    sink = from_uri(pg_url, keys=audit_keys)
    sink.write(event(1))
    postgres_server.stop()
    postgres_server.start()
    sink.write(event(2))  # the dead pooled connection is replaced, the write goes through
    sink.close()
    verifier = from_uri(pg_url, keys=audit_keys)
    report = verifier.verify(keys=audit_keys)
    verifier.close()
    assert report.ok, report.issues
    assert report.records == 4  # start, 2 events, final checkpoint


def _rewrite_rows(make: Make, db_url: str, edit: Callable[[list[dict[str, Any]]], None]) -> None:
    """An attacker with write access to the tables: edit rows, recompute every hash."""
    import hashlib

    recs = [json.loads(line) for _, line in _rows(make, "SELECT seq, line FROM tigerseal_audit")]
    edit(recs)
    execute(db_url, "DELETE FROM tigerseal_audit")
    prev = "0" * 64
    for seq, rec in enumerate(recs):
        rec["seq"], rec["prev"] = seq, prev
        line = json.dumps(rec, separators=(",", ":"))
        prev = hashlib.sha256(line.encode()).hexdigest()
        execute(
            db_url,
            "INSERT INTO tigerseal_audit (seq, ts, event_type, risk_level, line) "
            "VALUES (:seq, :ts, :et, :risk, :line)",  # the columns copied as a writer does
            seq=seq,
            ts=str(rec.get("ts", ""))[:32],
            et=rec["event_type"],
            risk=str(rec.get("risk_level", ""))[:16],
            line=line,
        )
    execute(
        db_url, "UPDATE tigerseal_audit_head SET head = NULL, seq = :s, prev = :p", s=seq, p=prev
    )


def test_stripping_macs_and_checkpoints_and_the_head_is_detected(
    make: Make, audit_keys: AuditKeys, db_url: str
) -> None:
    sink = make(checkpoint_every=4)
    for i in range(10):
        sink.write(event(i))
    sink.close()

    def strip(recs: list[dict[str, Any]]) -> None:
        recs[:] = [r for r in recs if r["event_type"] != "audit_checkpoint"]
        for r in recs:
            for name in ("mac", "mac_key_id", "mac_key_commit", "mac_key"):
                r.pop(name, None)
        recs[3]["risk_level"] = "low"

    _rewrite_rows(make, db_url, strip)
    report = make().verify(keys=audit_keys)
    assert not report.ok
    assert "unanchored" in report.kinds(), report.issues
    assert make().verify(keys=audit_keys, allow_unanchored=True).ok


def test_cutting_rows_off_the_end_and_clearing_the_head_is_detected(
    make: Make, audit_keys: AuditKeys, db_url: str
) -> None:
    sink = make(checkpoint_every=4)
    for i in range(10):
        sink.write(event(i))
    sink.close()
    execute(db_url, "DELETE FROM tigerseal_audit WHERE seq >= 6")
    execute(db_url, "UPDATE tigerseal_audit_head SET head = NULL")
    report = make().verify(keys=audit_keys)
    assert not report.ok
    assert "unanchored" in report.kinds()


def test_editing_a_record_after_the_last_checkpoint_is_detected(
    make: Make, audit_keys: AuditKeys, db_url: str
) -> None:
    sink = make(checkpoint_every=100)
    for i in range(5):
        sink.write(event(i))  # committed, no checkpoint yet: only the line MACs protect them

    def edit(recs: list[dict[str, Any]]) -> None:
        recs[-1]["i"] = 99

    _rewrite_rows(make, db_url, edit)
    report = make().verify(keys=audit_keys)
    assert "forged" in report.kinds(), report.issues


def test_mac_keys_are_rewrapped_after_rotation_and_the_old_version_can_go(
    make: Make, keys: Keys, db_url: str
) -> None:
    """Issue 11: after rotate + retire, `audit verify` said TAMPERED (keys inside the chain)."""
    from tigerseal.envelope import EncryptionService
    from tigerseal.providers.env import EnvKeyProvider
    from tigerseal_sql.audit import audit_key_uses

    sink = make(checkpoint_every=3)
    for i in range(5):
        sink.write(event(i))
    sink.close()
    chained = _rows(make, "SELECT seq, line FROM tigerseal_audit ORDER BY seq")
    assert [u.version for u in audit_key_uses(db_url)] == [1]
    assert "rewrap-keys" in audit_key_uses(db_url)[0].remedy
    from tigerseal.keyuse import KeyUseScan, key_uses

    assert [u.version for u in key_uses(KeyUseScan(audit_sinks=(db_url,)))] == [1]
    service = keys.rotate()
    only_new = {k: v for k, v in keys.env.items() if k != f"{VAR}_V1"}

    def newest_only() -> AuditKeys:
        return AuditKeys(encryption=EncryptionService(EnvKeyProvider(VAR, environ=only_new)))

    assert "key" in make().verify(keys=newest_only()).kinds()  # v1 retired too early
    count = make().rewrap_keys(service)
    assert (count.rewrapped, count.current) == (1, 0)
    assert _rows(make, "SELECT seq, line FROM tigerseal_audit ORDER BY seq") == chained
    assert [u.version for u in audit_key_uses(db_url)] == [2]
    report = make().verify(keys=newest_only())
    assert report.ok, report.issues


@pytest.mark.parametrize("clear_head", [False, True])
def test_cut_rows_and_a_rewound_head_row_stay_detected_after_the_next_writer(
    make: Make, audit_keys: AuditKeys, db_url: str, clear_head: bool
) -> None:
    """The next writer must not launder the cut by moving the head to the new end."""
    import hashlib

    sink = make(checkpoint_every=4)
    for i in range(10):
        sink.write(event(i))
    sink.close()
    (last,) = _rows(make, "SELECT line FROM tigerseal_audit WHERE seq = 5")
    execute(db_url, "DELETE FROM tigerseal_audit WHERE seq >= 6")
    prev = hashlib.sha256(last[0].encode()).hexdigest()
    execute(db_url, "UPDATE tigerseal_audit_head SET seq = 5, prev = :p", p=prev)
    if clear_head:
        execute(db_url, "UPDATE tigerseal_audit_head SET head = NULL")
    writer = make(checkpoint_every=4)  # a process starting later
    writer.write(event(50))
    writer.close()
    report = make().verify(keys=audit_keys)
    assert not report.ok, report.issues


def test_cut_rows_under_a_running_writer_stay_detected(
    make: Make, audit_keys: AuditKeys, db_url: str
) -> None:
    import hashlib

    sink = make(checkpoint_every=4)
    for i in range(10):
        sink.write(event(i))
    (last,) = _rows(make, "SELECT line FROM tigerseal_audit WHERE seq = 5")
    execute(db_url, "DELETE FROM tigerseal_audit WHERE seq >= 6")
    prev = hashlib.sha256(last[0].encode()).hexdigest()
    execute(db_url, "UPDATE tigerseal_audit_head SET seq = 5, prev = :p", p=prev)
    sink.write(event(50))  # the same process writes on
    sink.close()
    report = make().verify(keys=audit_keys)
    assert not report.ok, report.issues
    assert "truncated" in report.kinds()


def test_editing_the_indexed_columns_of_a_row_is_detected(
    make: Make, audit_keys: AuditKeys, db_url: str
) -> None:
    """Queries and dashboards read event_type / risk_level / ts: they must match the MACed line."""
    sink = make(checkpoint_every=4)
    for i in range(6):
        sink.write(event(i, risk_level="critical"))
    sink.close()
    execute(
        db_url,
        "UPDATE tigerseal_audit SET event_type = 'sys_startup', risk_level = 'low' WHERE seq = 3",
    )
    report = make().verify(keys=audit_keys)
    assert not report.ok, report.issues
    assert "edited" in report.kinds()

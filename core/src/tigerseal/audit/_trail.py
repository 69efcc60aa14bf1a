"""Reading audit files: the last records (``audit tail``) and summaries (``audit stats``)."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tigerseal.audit._chain import CHECKPOINT, RESUME, START
from tigerseal.errors import AuditError

__all__ = ["iter_records", "stats", "tail"]

_INTERNAL = frozenset({START, RESUME, CHECKPOINT})


def _open(path: str | os.PathLike[str]) -> Any:
    from tigerseal.audit._verify import _open_regular

    try:
        return _open_regular(Path(path))
    except OSError as exc:
        raise AuditError(f"cannot read the audit file {path}: {exc.strerror}") from exc


def _is_record(rec: Any) -> bool:
    """Whether ``rec`` is a chained record (``seq`` and ``prev``), not just any JSON object.

    A planted "torn" line that a writer terminated is no record. (Neither tail nor stats
    check MACs: ``verify`` does.)
    """
    return (
        isinstance(rec, dict)
        and isinstance(rec.get("seq"), int)
        and isinstance(rec.get("prev"), str)
    )


def iter_records(
    path: str | os.PathLike[str], *, internal: bool = False
) -> Iterator[dict[str, Any]]:
    """Yield the records of an audit file in order, skipping lines that do not parse.

    Args:
        path: the JSONL file.
        internal: also yield the sink's own records (chain starts, checkpoints).
    """
    from tigerseal.audit._verify import _MAX_LINE, _skip_line

    with _open(path) as handle:
        while raw := handle.readline(_MAX_LINE + 1):
            if len(raw) > _MAX_LINE:
                _skip_line(handle)  # a planted giant line: not a record, never read whole
                continue
            try:
                rec = json.loads(raw)
            except ValueError:
                continue
            if _is_record(rec) and (internal or rec.get("event_type") not in _INTERNAL):
                yield rec


def tail(
    path: str | os.PathLike[str], n: int = 10, *, internal: bool = False
) -> list[dict[str, Any]]:
    """The last ``n`` records, read from the end of the file (cheap on large files)."""
    from tigerseal.audit._verify import _MAX_LINE

    if n <= 0:
        return []
    with _open(path) as handle:
        handle.seek(0, os.SEEK_END)
        end = handle.tell()
        data = b""
        records: list[dict[str, Any]] = []
        block = 64 * 1024
        pos = end
        while pos > 0:
            step = min(block, pos)
            pos -= step
            handle.seek(pos)
            data = handle.read(step) + data
            lines = data.split(b"\n")
            # A partial first line longer than any record was planted: stop reading back.
            giant = pos > 0 and len(lines[0]) > _MAX_LINE
            complete = lines[1:] if pos > 0 else lines
            records = []
            for raw in complete:
                try:
                    rec = json.loads(raw)
                except ValueError:
                    continue
                if _is_record(rec) and (internal or rec.get("event_type") not in _INTERNAL):
                    records.append(rec)
            if len(records) >= n or giant:
                break
        return records[-n:]


def stats(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Counts by event type and risk level, time span and sink records of an audit file."""
    by_type: Counter[str] = Counter()
    by_level: Counter[str] = Counter()
    internal: Counter[str] = Counter()
    first = last = None
    total = 0
    for rec in iter_records(path, internal=True):
        event_type = str(rec.get("event_type"))
        if event_type in _INTERNAL:
            internal[event_type] += 1
            continue
        total += 1
        by_type[event_type] += 1
        by_level[str(rec.get("risk_level"))] += 1
        ts = rec.get("ts")
        if isinstance(ts, str):
            first = ts if first is None else min(first, ts)
            last = ts if last is None else max(last, ts)
    return {
        "total_events": total,
        "critical_events_count": by_level.get("critical", 0),
        "events_by_type": dict(by_type.most_common()),
        "events_by_risk_level": {
            level: by_level.get(level, 0) for level in ("low", "medium", "high", "critical")
        },
        "first_event": first,
        "last_event": last,
        "checkpoints": internal.get(CHECKPOINT, 0),
        "writer_sessions": internal.get(START, 0) + internal.get(RESUME, 0),
    }

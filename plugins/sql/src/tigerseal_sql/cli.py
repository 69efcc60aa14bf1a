"""``tigerseal sql`` (also ``tigerseal-sql``): bulk rewrap and key-version reports.

Keys come from the usual settings (``TIGERSEAL_KEY_PROVIDERS`` or ``ENCRYPTION_MASTER_KEY``);
the table is reflected from the database, so no application code is needed::

    tigerseal sql report postgresql+psycopg://app@db/tiger tiger_accounts -c tiger_id
    tigerseal sql rewrap postgresql+psycopg://app@db/tiger tiger_accounts -c tiger_id
    tigerseal sql rewrap-blind-index postgresql+psycopg://app@db/tiger

``rewrap`` resumes an interrupted job by default (``--restart`` starts over).
"""

from __future__ import annotations

import sys
from typing import Any

import click

__all__ = ["main"]


def _table(url: str, name: str) -> tuple[Any, Any]:
    from sqlalchemy import MetaData, Table
    from sqlalchemy.exc import NoSuchTableError
    from tigerseal.errors import ConfigError

    from tigerseal_sql._engine import engine_from_url

    try:
        engine = engine_from_url(url)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    schema, _, table = name.rpartition(".")
    try:
        return engine, Table(table, MetaData(), autoload_with=engine, schema=schema or None)
    except NoSuchTableError:
        engine.dispose()
        raise click.ClickException(f"no table {name!r} in {engine.url!r}") from None


@click.group()
def main() -> None:
    """Maintain tables whose columns hold tigerseal envelopes."""


@main.command()
@click.argument("url")
@click.argument("table")
@click.option("-c", "--column", "columns", multiple=True, required=True, help="Envelope column.")
@click.option("--batch-size", default=1000, show_default=True, help="Rows per transaction.")
@click.option("--job", default=None, help="Checkpoint name (default rewrap:<schema.table>).")
@click.option("--restart", is_flag=True, help="Ignore the checkpoint and start over.")
@click.option("--force", is_flag=True, help="Rewrap every value, stale or not.")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Worker processes sharing the table (PostgreSQL; FOR UPDATE SKIP LOCKED).",
)
@click.option("--progress/--no-progress", default=True, show_default=True)
def rewrap(
    url: str,
    table: str,
    columns: tuple[str, ...],
    batch_size: int,
    job: str | None,
    restart: bool,
    force: bool,
    workers: int,
    progress: bool,
) -> None:
    """Move every value of TABLE to the providers' newest key versions (resumable).

    With --workers N the rows are shared out among N processes; an interrupted parallel job
    is resumed by the same command with any number of workers.
    """
    from tigerseal.errors import TigerSealError

    from tigerseal_sql.rewrap import rewrap_table

    engine, tbl = _table(url, table)
    try:
        report = rewrap_table(
            engine,
            tbl,
            columns=columns,
            batch_size=batch_size,
            job=job,
            resume=not restart,
            force=force,
            progress=progress,
            workers=workers,
        )
    except TigerSealError as exc:
        raise click.ClickException(str(exc)) from exc
    except KeyboardInterrupt:
        click.echo("interrupted: run the same command again to resume", err=True)
        sys.exit(130)
    finally:
        engine.dispose()
    resumed = f" (resumed after {report.resumed_from})" if report.resumed_from else ""
    click.echo(
        f"{report.rows} rows read{resumed}, {report.rewrapped} values rewrapped, "
        f"{report.already_current} already current, {report.unreadable} unreadable, "
        f"{report.rows_per_second:,.0f} rows/s"
        + (f" with {report.workers} workers" if report.workers > 1 else "")
    )
    if report.lost_workers:
        click.echo(
            f"{report.lost_workers} worker(s) lost (killed or crashed); their chunks were "
            "taken over by the others" + ("" if report.finished else " or are left for a resume"),
            err=True,
        )
    if report.changed_meanwhile:
        click.echo(
            f"{report.changed_meanwhile} value(s) changed by the application meanwhile were "
            "left as the application wrote them",
            err=True,
        )
    if not report.finished:
        click.echo("the job is not finished: run the same command again to resume", err=True)
        sys.exit(1)
    if report.versions is not None:
        click.echo(report.versions.summary())
        if report.versions.stale_values:
            # A resumed job skips chunks done before a newer rotation, and the application
            # may have written with an old key meanwhile: the job is finished, so the next
            # run walks the whole table again.
            click.echo(
                f"{report.versions.stale_values} value(s) still on old key versions (written "
                "meanwhile, or done before a newer rotation): run the same command again",
                err=True,
            )
            sys.exit(1)


@main.command()
@click.argument("url")
@click.argument("table")
@click.option("-c", "--column", "columns", multiple=True, required=True, help="Envelope column.")
def report(url: str, table: str, columns: tuple[str, ...]) -> None:
    """Count the key versions TABLE's values use (headers only, nothing decrypted)."""
    from tigerseal.errors import TigerSealError

    from tigerseal_sql.rewrap import key_version_report

    engine, tbl = _table(url, table)
    try:
        rep = key_version_report(engine, tbl, columns=columns)
    except TigerSealError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        engine.dispose()
    click.echo(rep.summary())
    if rep.stale_values:
        sys.exit(1)


@main.command("rewrap-blind-index")
@click.argument("url")
def rewrap_blind_index(url: str) -> None:
    """Move the blind-index root keys (tigerseal_blind_index_keys) to the newest key versions.

    The root keys do not change, so every stored digest keeps matching. Run it after a key
    rotation and before `tigerseal retire`. Idempotent.
    """
    from tigerseal.errors import TigerSealError

    from tigerseal_sql.blind_index import rewrap_blind_index_keys

    try:
        count = rewrap_blind_index_keys(url)
    except TigerSealError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"tigerseal_blind_index_keys: {count.rewrapped} rewrapped, {count.current} already "
        f"current, {count.other} wrapped by providers not configured here (left as they are)"
    )
    if count.other:
        sys.exit(1)

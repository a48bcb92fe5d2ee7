"""Store commands: ingest, query, history and export, each a thin layer over store.py.

Readers (`query`, `history`, `export`) open the store read-only; only `ingest` writes. Output is
a rich table on a terminal and plain tab-separated text otherwise (pipes, files, tests), or CSV
or JSON with `--format`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import sys
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import click

from .target import desk_folder_option

STORE_OPTION = click.option("--store", "store_file", type=click.Path(path_type=Path),
                            help="The DuckDB file (default: the desk's `store` setting, data/claimdesk.duckdb).")
# Commands with a positional argument of their own take the desk as an option, like `explain`.
DESK_OPTION = click.option("--desk", "path", type=click.Path(path_type=Path), callback=desk_folder_option,
                           help="The desk's folder (default: the current folder or its nearest parent holding kb/).")
FORMAT_OPTION = click.option("--format", "output", type=click.Choice(["table", "csv", "json"]), default="table",
                             show_default=True, help="table: rich on a terminal, tab-separated otherwise.")


def register(main: click.Group) -> None:
    """Add the store's commands to the `claimdesk` group."""
    from .cli import DESK_ARG, clean_errors

    @main.command()
    @DESK_ARG
    @STORE_OPTION
    @click.option("--rebuild", is_flag=True, help="Re-read every page, not only the changed ones "
                                                  "(the run history is kept).")
    @clean_errors
    def ingest(path: Path | None, store_file: Path | None, rebuild: bool) -> None:
        """Bring the store, one DuckDB file, up to date with the desk.

        Reads only the pages whose content changed since the last ingest, removes pages that are
        gone and rewrites sources and the model when their files changed, all in one transaction.
        Pages with format problems are stored without their invalid claims (see validate).
        The check runs are recorded by `claimdesk check`; this command keeps them.

        Example: claimdesk ingest --store /tmp/desk.duckdb
        """
        from .store import open_store

        with open_store(path, store_file, write=True) as store:
            stats = store.ingest(path, rebuild=rebuild)
            click.echo(f"{store.label}: {stats.summary()}")

    @main.command()
    @click.argument("sql")
    @DESK_OPTION
    @STORE_OPTION
    @FORMAT_OPTION
    @clean_errors
    def query(sql: str, path: Path | None, store_file: Path | None, output: str) -> None:
        """Run SQL against the store, read-only, and print the rows.

        The tables and views, with example queries, are described in kb/guide/store.md. A
        statement that would change the store is refused.

        Example: claimdesk query "SELECT status, count(*) FROM latest_results GROUP BY ALL"
        """
        from .store import open_store

        with open_store(path, store_file) as store:
            result = store.query(sql)
        if result.columns:
            click.echo(render_rows(result.columns, result.rows, output))
        if result.truncated:
            click.echo(f"claimdesk: the result has more than {len(result.rows)} rows and only the first {len(result.rows)} "
                       "are shown; narrow it with WHERE or LIMIT ... OFFSET, or use `claimdesk export`", err=True)

    @main.command()
    @click.argument("key", metavar="CLAIM_ID_OR_METRIC")
    @DESK_OPTION
    @STORE_OPTION
    @FORMAT_OPTION
    @clean_errors
    def history(key: str, path: Path | None, store_file: Path | None, output: str) -> None:
        """Show how a claim's (or a metric's) values and statuses changed over the check runs.

        One row per stretch of runs in which the claim's stated value, recomputed value and status
        stayed the same. A metric shows every claim that measures it.

        Example: claimdesk history token_model.cost_per_mtok
        """
        from .store import open_store

        with open_store(path, store_file) as store:
            entries = store.history(key)
        columns = ["since", "runs", "claim", "as_of", "stated", "recomputed", "status", "reason"]
        rows = [(e.since.isoformat(sep=" ", timespec="minutes"), f"{e.first_run}" if e.first_run == e.last_run
                 else f"{e.first_run}-{e.last_run}", e.claim_id, e.as_of, e.stated,
                 None if e.recomputed is None else f"{e.recomputed:.6g} {e.unit or ''}".strip(), e.status, e.reason)
                for e in entries]
        click.echo(render_rows(columns, rows, output))

    @main.command()
    @click.argument("folder", metavar="DIR", type=click.Path(path_type=Path, file_okay=False))
    @DESK_OPTION
    @STORE_OPTION
    @clean_errors
    def export(folder: Path, path: Path | None, store_file: Path | None) -> None:
        """Write every table and view of the store to DIR as Parquet files, one per table.

        For pandas, a notebook or a warehouse engine: pandas.read_parquet("DIR/claims.parquet").

        Example: claimdesk export export/
        """
        from .store import open_store

        with open_store(path, store_file) as store:
            written = store.export(folder)
        for name, rows in written.items():
            click.echo(f"{folder / (name + '.parquet')}\t{rows} rows")


def render_rows(columns: Sequence[str], rows: Sequence[Sequence[Any]], output: str) -> str:
    """Rows as a table (rich on a terminal, tab-separated otherwise), CSV or JSON."""
    if output == "json":  # NaN and ±Infinity, which JSON cannot hold, become null
        return json.dumps([dict(zip(columns, (_finite(v) for v in row))) for row in rows], default=_json_value,
                          ensure_ascii=False, indent=1, allow_nan=False)
    if output == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([_plain(value) for value in row] for row in rows)
        return buffer.getvalue().rstrip("\n")
    if not sys.stdout.isatty():
        return "\n".join("\t".join(_plain(v).replace("\t", " ").replace("\n", " ") for v in row)
                         for row in [list(columns), *rows])
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table()
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("[dim]NULL[/dim]" if v is None else escape(_plain(v)) for v in row))
    console = Console(color_system=None)  # no colours: the terminal guard (terminal.py) escapes every ESC
    with console.capture() as capture:
        console.print(table)
        console.print(f"{len(rows)} rows", style="dim", highlight=False)
    return capture.get().rstrip("\n")


def _finite(value: Any) -> Any:
    """`value` with every NaN or infinite float in it (in lists and maps too) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


def _json_value(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, dict, tuple)):
        return json.dumps(value, default=_json_value, ensure_ascii=False)
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)

"""The store against a real DuckDB file: incremental ingest, history of runs, migration, export,
read-only queries and the command line."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from claimdesk import page_cache
from claimdesk.check import check_desk
from claimdesk.cli import main
from claimdesk.problems import DeskError
from claimdesk.results import CheckRun, Result
from claimdesk.store import Store
from claimdesk.store_schema import PAGE_TABLES

TODAY = dt.date(2026, 6, 1)


def page(title: str, *claims: str) -> str:
    return f"---\ntitle: {title}\nclaims:\n{''.join(claims)}---\n# {title}\n"


def claim(claim_id: str, value: str = "10", unit: str = "USD bn", sources: str = "[src_a]",
          extra: str = "") -> str:
    text = f"""\
      - id: {claim_id}
        text: The claim {claim_id}.
        stance: neutral
        sources: {sources}
        as_of: 2026-05
        value: {value}
        unit: {unit}
    """
    return textwrap.indent(textwrap.dedent(text), "  ") + extra


@pytest.fixture
def desk(make_desk) -> Path:
    return make_desk({
        "kb/alpha.md": page("Alpha", claim("alpha_one", extra="    metric: demo.revenue\n"),
                            claim("alpha_two", "[3, 4]", sources="[src_a, divergent_token_economics]")),
        "kb/topic/beta.md": page("Beta", claim("beta_one", '"~2.19"', "USD/Mtok", "[divergent_token_economics]",
                                               "    check: cost_per_mtok\n    given: {batch: 40}\n")),
    })


def dump(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the desk's tables, in a stable order (mtime left out: it is the file's)."""
    out = {}
    for table in (*PAGE_TABLES, "sources", "models", "parameters", "parameter_sources", "quantities"):
        select = "* EXCLUDE (mtime)" if table == "pages" else "*"
        out[table] = store.query(f"SELECT {select} FROM {table} ORDER BY ALL").rows
    return out


def fresh_dump(desk: Path, tmp_path: Path) -> dict[str, list[tuple[Any, ...]]]:
    path = tmp_path / f"fresh-{time.monotonic_ns()}.duckdb"
    with Store.open(path, write=True) as fresh:
        fresh.ingest(desk)
        return dump(fresh)


# -- ingest ------------------------------------------------------------------------------------
def test_ingest_reads_only_what_changed_and_leaves_nothing_behind(desk: Path, tmp_path: Path) -> None:
    with Store.open(tmp_path / "store.duckdb", write=True) as store:
        cold = store.ingest(desk)
        assert (cold.pages, cold.parsed, cold.reused, cold.claims) == (3, 3, 0, 4)
        warm = store.ingest(desk)
        assert (warm.parsed, warm.reused, warm.written, warm.removed) == (0, 3, 0, 0)

        # edit: a value changes, a claim is deleted
        (desk / "kb" / "alpha.md").write_text(page("Alpha", claim("alpha_one", "12")), encoding="utf-8")
        edited = store.ingest(desk)
        assert (edited.parsed, edited.reused, edited.written) == (1, 2, 1)
        assert store.query("SELECT value_written FROM claims WHERE claim_id = 'alpha_one'").rows == [("12",)]
        assert store.query("SELECT count(*) FROM claim_sources WHERE claim_id = 'alpha_two'").rows == [(0,)]
        assert dump(store) == fresh_dump(desk, tmp_path)

        # rename: the old path leaves nothing behind in any table
        (desk / "kb" / "topic" / "beta.md").rename(desk / "kb" / "gamma.md")
        renamed = store.ingest(desk)
        assert (renamed.parsed, renamed.removed) == (1, 1)
        for table in PAGE_TABLES:
            assert store.query(f"SELECT count(*) FROM {table} WHERE path = 'kb/topic/beta.md'").rows == [(0,)]
        assert store.query("SELECT path FROM claims WHERE claim_id = 'beta_one'").rows == [("kb/gamma.md",)]
        assert dump(store) == fresh_dump(desk, tmp_path)

        # delete a page; change a source and the model
        (desk / "kb" / "alpha.md").unlink()
        sources = desk / "data" / "sources.yaml"
        sources.write_text(sources.read_text(encoding="utf-8").replace("A report", "A better report"),
                           encoding="utf-8")
        model = desk / "data" / "models" / "token_cost.yaml"
        model.write_text(model.read_text(encoding="utf-8").replace("value: 30\n", "value: 31\n", 1),
                         encoding="utf-8")
        deleted = store.ingest(desk)
        assert (deleted.removed, deleted.pages, deleted.claims) == (1, 2, 2)
        assert store.query("SELECT title FROM sources WHERE source_id = 'src_a'").rows == [("A better report",)]
        assert store.query("SELECT value_low FROM parameters WHERE parameter_id = 'node_cost_per_hour'").rows \
            == [(31.0,)]
        assert dump(store) == fresh_dump(desk, tmp_path)


def test_the_store_holds_every_field(desk: Path, tmp_path: Path) -> None:
    with Store.open(tmp_path / "store.duckdb", write=True) as store:
        store.ingest(desk)
        row = store.query("""
            SELECT c.claim_id, value_kind, value_low, value_high, value_band, value_written, unit, check_expr,
                   given['batch'], as_of_written, as_of_start, as_of_end, list(s.source_id ORDER BY rank)
            FROM claims c JOIN claim_sources s USING (path, position)
            WHERE c.claim_id = 'beta_one' GROUP BY ALL""").rows
        pages = store.query("SELECT path, title, tags, claims, problems, body_line FROM pages ORDER BY path").rows
        quantities = store.query("SELECT count(*) FROM quantities WHERE expr IS NOT NULL").rows[0][0]
    assert row == [("beta_one", "approx", 2.19, 2.19, 0.005, "~2.19", "USD/Mtok", "cost_per_mtok", 40.0, "2026-05",
                    dt.date(2026, 5, 1), dt.date(2026, 5, 31), ["divergent_token_economics"])]
    assert pages[0] == ("kb/alpha.md", "Alpha", [], 2, 0, 20)
    assert quantities > 0


def test_a_page_with_problems_keeps_its_valid_claims(make_desk, tmp_path: Path) -> None:
    broken = page("Broken", claim("kept_claim"), "  - id: lost_claim\n    text: No stance.\n")
    desk = make_desk({"kb/broken.md": broken, "kb/prose.md": "# No front-matter\n"})
    with Store.open(tmp_path / "store.duckdb", write=True) as store:
        stats = store.ingest(desk)
        again = store.ingest(desk)
        rows = store.query("SELECT path, title, claims, problems FROM pages ORDER BY path").rows
        claims = store.query("SELECT claim_id FROM claims ORDER BY ALL").rows
    assert stats.problem_pages == 2 and again.written == 0 and again.parsed == 2
    assert rows == [("kb/base.md", "Base", 1, 0), ("kb/broken.md", "Broken", 1, 3), ("kb/prose.md", None, 0, 1)]
    assert claims == [("base_claim",), ("kept_claim",)]


def test_the_store_path_comes_from_the_settings(make_desk) -> None:
    desk = make_desk({"data/desk.yaml": "store: build/the-store.duckdb\n"})
    result = CliRunner().invoke(main, ["ingest", str(desk)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("build/the-store.duckdb: ") or "the-store.duckdb: " in result.stdout
    assert (desk / "build" / "the-store.duckdb").exists()


# -- writers and readers -----------------------------------------------------------------------
HOLD = """
import sys, time
from claimdesk.store import Store
store = Store.open(sys.argv[1], write=True)
store._connect()
print("holding", flush=True)
time.sleep(60)
"""


@pytest.fixture
def held_store(desk: Path, tmp_path: Path):
    """A store that another process holds open for writing."""
    path = tmp_path / "store.duckdb"
    with Store.open(path, write=True) as store:
        store.ingest(desk)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
    yield path, holder.pid
    holder.kill()
    holder.wait()


def test_a_second_writer_is_told_who_holds_the_store(held_store, desk: Path) -> None:
    path, pid = held_store
    result = CliRunner().invoke(main, ["ingest", str(desk), "--store", str(path)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"is in use by process {pid}" in result.stderr
    assert "store.duckdb" in result.stderr


def test_a_reader_waits_then_says_who_is_writing(held_store) -> None:
    path, pid = held_store
    with pytest.raises(DeskError, match=f"in use by process {pid}"):
        Store.open(path, wait=0.3)


def test_two_writers_in_one_process(desk: Path, tmp_path: Path) -> None:
    path = tmp_path / "store.duckdb"
    with Store.open(path, write=True):
        with pytest.raises(DeskError, match=f"in use by process {os.getpid()}"):
            Store.open(path, write=True)
    with Store.open(path, write=True) as again:  # the lock went with the first writer
        again.ingest(desk)


def test_a_writer_waits_for_readers_to_finish(desk: Path, tmp_path: Path) -> None:
    path = tmp_path / "store.duckdb"
    with Store.open(path, write=True) as store:
        store.ingest(desk)
    reader = subprocess.Popen([sys.executable, "-c", "import sys, time, duckdb\n"
                               "con = duckdb.connect(sys.argv[1], read_only=True)\n"
                               "print('reading', flush=True); time.sleep(1.5)", str(path)],
                              stdout=subprocess.PIPE, text=True)
    assert reader.stdout is not None and reader.stdout.readline().strip() == "reading"
    with pytest.raises(DeskError, match=f"in use by process {reader.pid}"):
        Store.open(path, write=True, wait=0).ingest(desk)
    with Store.open(path, write=True) as store:  # waits up to ten seconds for the reader
        assert store.ingest(desk).written == 0
    reader.wait()


# -- runs and history --------------------------------------------------------------------------
def result(claim_id: str, status: str, stated: str | None = "10 USD bn", recomputed: float | None = None,
           path: str = "kb/alpha.md", line: int = 4) -> Result:
    return Result(claim_id, path, line, status, f"{claim_id} is {status}", stated=stated, recomputed=recomputed,
                  unit="USD bn")


def test_runs_history_and_views(desk: Path, tmp_path: Path) -> None:
    with Store.open(tmp_path / "store.duckdb", write=True) as store:
        store.ingest(desk)
        first = store.record_run(CheckRun(TODAY, [result("alpha_one", "ok", recomputed=10.0),
                                                  result("alpha_two", "mismatch", "3–4 USD bn", 5.0, line=12)],
                                          "fp1"), "abc123")
        store.record_run(CheckRun(TODAY, [result("alpha_one", "ok", recomputed=10.0),
                                          result("alpha_two", "mismatch", "3–4 USD bn", 5.0, line=12)], "fp1"),
                         "abc124")
        third = store.record_run(CheckRun(TODAY, [result("alpha_one", "stale", recomputed=10.0),
                                                  result("gamma_new", "ok", path="kb/gamma.md")], "fp2"), None)
        assert (first, third) == (1, 3)
        runs = store.query("SELECT run_id, desk_version, model_fingerprint, claims, ok, mismatch, stale "
                           "FROM runs ORDER BY run_id").rows
        changes = store.query("SELECT run_id, previous_run_id, claim_id, old_status, new_status "
                              "FROM status_changes ORDER BY ALL").rows
        latest = store.query("SELECT claim_id, run_id, status FROM latest_results ORDER BY claim_id").rows
        snapshot = store.query("SELECT metric, value_kind, value_low, as_of_written FROM results "
                               "WHERE claim_id = 'alpha_one' AND run_id = 1").rows
        history = store.history("alpha_one")
        by_metric = store.history("demo.revenue")
        stored = store.latest_run()
        store.record_run(CheckRun(TODAY, [result("alpha_two", "mismatch", "3–4 USD bn", 5.0, line=12)]), None)
        back_again = store.history("alpha_two")
    assert runs == [(1, "abc123", "fp1", 2, 1, 1, 0), (2, "abc124", "fp1", 2, 1, 1, 0), (3, None, "fp2", 2, 1, 0, 1)]
    assert changes == [(3, 2, "alpha_one", "ok", "stale"), (3, 2, "alpha_two", "mismatch", None),
                       (3, 2, "gamma_new", None, "ok")]
    assert latest == [("alpha_one", 3, "stale"), ("alpha_two", 2, "mismatch"), ("gamma_new", 3, "ok")]
    assert snapshot == [("demo.revenue", "exact", 10.0, "2026-05")]
    assert [(e.status, e.first_run, e.last_run) for e in history] == [("ok", 1, 2), ("stale", 3, 3)]
    assert by_metric == history
    assert [(e.first_run, e.last_run) for e in back_again] == [(1, 2), (4, 4)]  # not a stretch across run 3
    assert stored is not None and stored.run_id == 3 and stored.desk_version is None
    assert stored.run.by_id()["gamma_new"] == result("gamma_new", "ok", path="kb/gamma.md")


def test_a_real_check_run_is_recorded(desk: Path, tmp_path: Path) -> None:
    with Store.open(tmp_path / "store.duckdb", write=True) as store:
        stats = store.ingest(desk)
        assert stats.desk is not None
        run = check_desk(stats.desk, TODAY)
        run_id = store.record_run(run, "deadbeef")
        stored = store.latest_run()
        counts = store.query(f"SELECT {', '.join(run.counts())} FROM runs").rows[0]
    assert stored is not None and stored.run_id == run_id
    assert stored.run.today == TODAY and sorted(stored.run.results, key=lambda r: (r.path, r.line)) == \
        sorted(run.results, key=lambda r: (r.path, r.line))
    assert counts == tuple(run.counts().values())


def test_history_needs_a_known_name(desk: Path, tmp_path: Path) -> None:
    with Store.open(tmp_path / "store.duckdb", write=True) as store:
        store.ingest(desk)
        with pytest.raises(DeskError, match="no check results yet"):
            store.history("alpha_one")
        with pytest.raises(DeskError, match="did you mean 'alpha_one'"):
            store.history("alpha_onee")


def test_history_survives_a_rebuild_and_a_migration(desk: Path, tmp_path: Path) -> None:
    path = tmp_path / "store.duckdb"
    with Store.open(path, write=True) as store:
        store.ingest(desk)
        store.record_run(CheckRun(TODAY, [result("alpha_one", "ok", recomputed=10.0)]), "v1")
        rebuilt = store.ingest(desk, rebuild=True)
        assert rebuilt.parsed == 3 and rebuilt.reused == 0
        assert store.query("SELECT count(*) FROM results").rows == [(1,)]
        before = dump(store)
        # an older store: another schema version, a column the old code did not have, one it had
        con = store._connect()
        con.execute("UPDATE store_meta SET value = '0' WHERE key = 'schema_version'")
        con.execute("ALTER TABLE result_versions DROP COLUMN metric")
        con.execute("ALTER TABLE runs ADD COLUMN retired_column VARCHAR")
    with pytest.raises(DeskError, match="older claimdesk; run `claimdesk ingest`"):
        Store.open(path)
    with Store.open(path, write=True) as store:
        assert store.query("SELECT count(*) FROM pages").rows == [(0,)]  # re-read by the next ingest
        assert store.query("SELECT run_id, desk_version, ok FROM runs").rows == [(1, "v1", 1)]
        assert store.query("SELECT claim_id, status, metric FROM results").rows == [("alpha_one", "ok", None)]
        store.ingest(desk)
        assert dump(store) == before
        store.record_run(CheckRun(TODAY, [result("alpha_one", "ok", recomputed=10.0)]), "v2")
        assert [(e.first_run, e.last_run) for e in store.history("alpha_one")] == [(1, 2)]


def test_results_are_versions_and_a_store_with_a_row_per_run_is_folded_into_them(desk: Path, tmp_path: Path) -> None:
    """Unchanged results are not written again; the `results` view still has a row per claim and
    run. A schema-1 store (a table `results` with a row per claim and run) migrates to versions
    with every view answering as before."""
    path = tmp_path / "store.duckdb"
    runs = [  # alpha_one ok, ok, mismatch, mismatch, ok; beta_two appears in run 2, is gone in 4, back in 5
        [result("alpha_one", "ok", recomputed=10.0)],
        [result("alpha_one", "ok", recomputed=10.0), result("beta_two", "ok")],
        [result("alpha_one", "mismatch", recomputed=11.0), result("beta_two", "ok")],
        [result("alpha_one", "mismatch", recomputed=11.0)],
        [result("alpha_one", "ok", recomputed=10.0), result("beta_two", "ok")],
    ]
    views = ("SELECT * FROM results ORDER BY ALL", "SELECT * FROM status_changes ORDER BY ALL",
             "SELECT * FROM latest_results ORDER BY ALL")
    with Store.open(path, write=True) as store:
        store.ingest(desk)
        for i, results in enumerate(runs):
            store.record_run(CheckRun(TODAY, results), f"v{i + 1}")
        assert store.query("SELECT count(*) FROM results").rows == [(8,)]
        assert store.query("SELECT claim_id, first_run, last_run FROM result_versions ORDER BY ALL").rows == [
            ("alpha_one", 1, 2), ("alpha_one", 3, 4), ("alpha_one", 5, None), ("beta_two", 2, 3), ("beta_two", 5, None)]
        assert store.query("SELECT run_id, claim_id, old_status, new_status FROM status_changes ORDER BY ALL").rows == [
            (2, "beta_two", None, "ok"), (3, "alpha_one", "ok", "mismatch"), (4, "beta_two", "ok", None),
            (5, "alpha_one", "mismatch", "ok"), (5, "beta_two", None, "ok")]
        before = [store.query(sql).rows for sql in views]
        con = store._connect()  # back to schema 1: one row per claim and run
        con.execute("CREATE TABLE per_run AS SELECT * FROM results")
        con.execute("DROP VIEW results")
        con.execute("DROP VIEW latest_results")
        con.execute("DROP VIEW status_changes")
        con.execute("DROP TABLE result_versions")
        con.execute("ALTER TABLE per_run RENAME TO results")
        con.execute("UPDATE store_meta SET value = '1' WHERE key = 'schema_version'")
    with Store.open(path, write=True) as store:
        assert [store.query(sql).rows for sql in views] == before
        assert store.query("SELECT count(*) FROM result_versions").rows == [(5,)]


def test_a_store_from_a_newer_claimdesk_is_left_alone(desk: Path, tmp_path: Path) -> None:
    path = tmp_path / "store.duckdb"
    with Store.open(path, write=True) as store:
        store.ingest(desk)
        store._connect().execute("UPDATE store_meta SET value = '999' WHERE key = 'schema_version'")
    for write in (True, False):
        with pytest.raises(DeskError, match="newer claimdesk"):
            Store.open(path, write=write)


def test_a_file_that_is_not_a_store(tmp_path: Path) -> None:
    path = tmp_path / "store.duckdb"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(DeskError, match="is not a DuckDB file, so it is not a claimdesk store; it was left untouched"):
        Store.open(path, write=True)
    assert path.read_bytes() == b"this is not a database" * 100
    with pytest.raises(DeskError, match="no store at"):
        Store.open(tmp_path / "missing.duckdb")


# -- asking ------------------------------------------------------------------------------------
@pytest.fixture
def checked_store(desk: Path, tmp_path: Path) -> Path:
    path = tmp_path / "store.duckdb"
    with Store.open(path, write=True) as store:
        stats = store.ingest(desk)
        assert stats.desk is not None
        store.record_run(check_desk(stats.desk, TODAY), "v1")
        store.record_run(check_desk(stats.desk, TODAY + dt.timedelta(days=400)), "v2")
    return path


def test_export_round_trips_row_counts(checked_store: Path, tmp_path: Path) -> None:
    with Store.open(checked_store) as store:
        written = store.export(tmp_path / "export")
        counts = store.counts()
    assert written == counts and {"claims", "results", "latest_results", "status_changes"} <= set(written)
    assert "page_cache" not in written and "store_meta" not in written
    for name, rows in counts.items():
        assert pq.read_metadata(tmp_path / "export" / f"{name}.parquet").num_rows == rows, name
    assert not list((tmp_path / "export").glob(".*"))


def test_queries_cannot_change_the_store_or_touch_files(checked_store: Path, tmp_path: Path) -> None:
    with Store.open(checked_store) as store:
        with pytest.raises(DeskError, match="read-only"):
            store.query("DELETE FROM claims")
        with pytest.raises(DeskError, match="query failed"):
            store.query(f"COPY claims TO '{tmp_path / 'leak.csv'}'")
        with pytest.raises(DeskError, match="query failed: Parser Error"):
            store.query("SELEC 1")
        assert store.query("SELECT count(*) FROM claims").rows == [(4,)]
    assert not (tmp_path / "leak.csv").exists()


def test_plain_duckdb_opens_the_store(checked_store: Path) -> None:
    code = ("import sys, duckdb\n"
            "con = duckdb.connect(sys.argv[1], read_only=True)\n"
            "print(con.execute('SELECT count(*) FROM claims').fetchall()[0][0],"
            " con.execute('SELECT count(*) FROM latest_results').fetchall()[0][0],"
            " 'claimdesk' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(checked_store)], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["4", "11", "False"]  # 4 claims and 7 model parameters have results


def duckdb_cli() -> str | None:
    return os.environ.get("CLAIMDESK_DUCKDB_CLI") or shutil.which("duckdb") or \
        next((str(p) for p in [Path(sys.executable).parent / "duckdb"] if p.exists()), None)


@pytest.mark.skipif(duckdb_cli() is None, reason="the duckdb shell is not installed (pip install duckdb-cli)")
def test_the_stock_duckdb_shell_opens_the_store(checked_store: Path) -> None:
    shell = duckdb_cli()
    assert shell is not None
    out = subprocess.run([shell, "-readonly", "-csv", str(checked_store),
                          "SELECT count(*) FROM claims; SELECT status FROM latest_results LIMIT 1"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[1] == "4"


# -- the command line --------------------------------------------------------------------------
def invoke(*args: str):
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def test_cli_ingest_query_history_export(desk: Path, tmp_path: Path) -> None:
    first = invoke("ingest", str(desk))
    assert first.exit_code == 0 and first.stdout.startswith("data/claimdesk.duckdb: 3 pages (3 parsed")
    assert invoke("ingest", str(desk)).stdout.startswith("data/claimdesk.duckdb: 3 pages (0 parsed, 3 unchanged")
    plain = invoke("query", "SELECT claim_id, value_written FROM claims ORDER BY claim_id", "--desk", str(desk))
    assert plain.exit_code == 0
    assert plain.stdout.splitlines()[:2] == ["claim_id\tvalue_written", "alpha_one\t10"]
    as_json = json.loads(invoke("query", "SELECT claim_id, as_of_start, given FROM claims WHERE given IS NOT NULL",
                                "--desk", str(desk), "--format", "json").stdout)
    assert as_json == [{"claim_id": "beta_one", "as_of_start": "2026-05-01", "given": {"batch": 40.0}}]
    as_csv = invoke("query", "SELECT claim_id, tags FROM claims JOIN pages USING (path) LIMIT 1", "--desk",
                    str(desk), "--format", "csv").stdout
    assert as_csv.splitlines()[0] == "claim_id,tags"
    with Store.open(desk / "data" / "claimdesk.duckdb", write=True) as store:
        stats = store.ingest(desk)
        assert stats.desk is not None
        store.record_run(check_desk(stats.desk, TODAY), "v1")
    history = invoke("history", "beta_one", "--desk", str(desk))
    assert history.exit_code == 0
    header, row = history.stdout.splitlines()
    assert header.split("\t") == ["since", "runs", "claim", "as_of", "stated", "recomputed", "status", "reason"]
    assert row.split("\t")[1:4] == ["1", "beta_one", "2026-05"]
    exported = invoke("export", str(tmp_path / "out"), "--desk", str(desk))
    assert exported.exit_code == 0 and "claims.parquet\t4 rows" in exported.stdout


def test_cli_errors_are_one_clean_line(desk: Path, tmp_path: Path) -> None:
    missing = invoke("query", "SELECT 1", "--desk", str(desk))
    assert missing.exit_code == 2 and "run `claimdesk ingest`" in missing.stderr
    invoke("ingest", str(desk))
    for args in (("query", "SELEC 1", "--desk", str(desk)), ("query", "DROP TABLE claims", "--desk", str(desk)),
                 ("history", "nothing_like_it", "--desk", str(desk))):
        result = invoke(*args)
        assert result.exit_code == 2, args
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output, result.output


def test_query_by_store_file_needs_no_desk(desk: Path, tmp_path: Path, monkeypatch) -> None:
    store_file = tmp_path / "elsewhere.duckdb"
    invoke("ingest", str(desk), "--store", str(store_file))
    monkeypatch.chdir(tmp_path)
    result = invoke("query", "SELECT count(*) AS n FROM pages", "--store", str(store_file))
    assert result.exit_code == 0 and result.stdout.splitlines() == ["n", "3"]


def test_parse_ahead_is_used_for_many_changed_pages(desk: Path, tmp_path: Path, monkeypatch) -> None:
    for i in range(12):
        (desk / "kb" / f"many-{i:02d}.md").write_text(page(f"Many {i}", claim(f"many_{i}")), encoding="utf-8")
    monkeypatch.setattr(page_cache, "PARALLEL_MIN_PAGES", 5)
    with Store.open(tmp_path / "store.duckdb", write=True) as store:
        stats = store.ingest(desk)
        assert stats.parsed_ahead == 15 and stats.parsed == 15
        parallel = dump(store)
    monkeypatch.setattr(page_cache, "PARALLEL_MIN_PAGES", 10**9)
    assert parallel == fresh_dump(desk, tmp_path)

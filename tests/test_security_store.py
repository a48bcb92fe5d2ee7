"""A failing disk or a damaged store: each failure is one line saying what is wrong and what to do,
exit code 2, and the previous store (and every page) is left as it was. Real files, real DuckDB,
a real full disk (a small tmpfs, when this machine lets the tests mount one) and a real file-size
limit (RLIMIT_FSIZE, which needs no privileges)."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pytest

from claimdesk.store import Store

from .conftest import BASE_PAGE

TODAY = ["--today", "2026-11-22"]


def run(*args: str, file_size_limit: int | None = None) -> tuple[int, str]:
    def limit() -> None:
        if file_size_limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

    done = subprocess.run([sys.executable, "-c", "from claimdesk.cli import main; main()", *args], capture_output=True,
                          text=True, timeout=300, errors="replace", preexec_fn=limit)
    return done.returncode, done.stdout + done.stderr


def one_line_error(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("claimdesk: ")]
    assert len(lines) == 1 and "Traceback" not in output, output
    return lines[0]


def runs_in(store: Path) -> list[tuple[int, str | None]]:
    with duckdb.connect(str(store), read_only=True) as con:
        return con.execute("SELECT run_id, desk_version FROM runs ORDER BY run_id").fetchall()


def big_pages(count: int) -> dict[str, str | bytes]:
    """Pages with enough claims to make the store grow by megabytes."""
    pages: dict[str, str | bytes] = {}
    for p in range(count):
        claims = "".join(f"""  - id: big_{p}_{i}
    text: Claim {i} of page {p}, with a long text so that the store has something to hold. {"x" * 200}
    stance: neutral
    sources: [src_a]
    as_of: 2026-05
    value: {i + 1}
    unit: USD bn
""" for i in range(150))
        pages[f"kb/big{p}.md"] = f"---\ntitle: Big {p}\nclaims:\n{claims}---\n"
    return pages


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 6 MB tmpfs (a new store takes about 4 MB), or skip where mounting is not allowed."""
    folder = tmp_path / "disk"
    folder.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_disk_full_leaves_the_previous_store(make_desk: Callable[..., Path], small_disk: Path) -> None:
    root = make_desk()
    store = small_disk / "claimdesk.duckdb"
    code, output = run("check", str(root), "--store", str(store), *TODAY)
    assert code == 0, output
    before = runs_in(store)
    pages = (root / "kb" / "base.md").read_bytes()
    for rel, text in big_pages(40).items():
        (root / rel).write_text(text)
    code, output = run("check", str(root), "--store", str(store), *TODAY)
    line = one_line_error(output)
    assert code == 2
    assert "could not be written: the disk is full" in line and "the previous store is unchanged" in line, line
    assert runs_in(store) == before
    assert (root / "kb" / "base.md").read_bytes() == pages
    for rel in big_pages(40):
        (root / rel).unlink()
    code, output = run("check", str(root), "--store", str(store), *TODAY)  # room again: it carries on
    assert code == 0, output
    assert [run_id for run_id, _ in runs_in(store)] == [1, 2]


def test_file_size_limit_leaves_the_previous_store(make_desk: Callable[..., Path]) -> None:
    root = make_desk()
    store = root / "data" / "claimdesk.duckdb"
    assert run("check", str(root), *TODAY)[0] == 0
    before, size = runs_in(store), store.stat().st_size
    for rel, text in big_pages(40).items():
        (root / rel).write_text(text)
    code, output = run("check", str(root), *TODAY, file_size_limit=size + 64 * 1024)
    line = one_line_error(output)
    assert code == 2
    assert "could not be written" in line and "the previous store is unchanged" in line, line
    assert runs_in(store) == before


def test_a_read_only_store_folder(make_desk: Callable[..., Path], tmp_path: Path) -> None:
    root = make_desk()
    folder = tmp_path / "ro"
    folder.mkdir()
    store = folder / "claimdesk.duckdb"
    assert run("check", str(root), "--store", str(store), *TODAY)[0] == 0
    before = store.read_bytes()
    if os.geteuid() == 0:  # permissions do not stop root: make the folder a read-only mount
        if subprocess.run(["mount", "--bind", "-o", "ro", str(folder), str(folder)], capture_output=True).returncode:
            pytest.skip("cannot make a read-only mount here")
        subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], check=False)
    else:
        folder.chmod(0o555)
    try:
        code, output = run("check", str(root), "--store", str(store), *TODAY)
        line = one_line_error(output)
        assert code == 2
        assert ("read-only" in line or "permission denied" in line) and "move it aside" not in line, line
        assert store.read_bytes() == before
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(folder)], check=False)
        folder.chmod(0o755)


@pytest.mark.parametrize("shape, expected", [
    ("lock is a folder", "lock file"),
    ("store under a file", "a part of the path is a file, not a folder"),
    ("store is a folder", "is a folder, not a file"),
])
def test_impossible_store_paths(make_desk: Callable[..., Path], tmp_path: Path, shape: str, expected: str) -> None:
    root = make_desk()
    store = tmp_path / "claimdesk.duckdb"
    if shape == "lock is a folder":
        (tmp_path / "claimdesk.duckdb.lock").mkdir()
    elif shape == "store under a file":
        (tmp_path / "afile").write_text("a file\n")
        store = tmp_path / "afile" / "claimdesk.duckdb"
    else:
        store.mkdir()
    code, output = run("check", str(root), "--store", str(store), *TODAY)
    line = one_line_error(output)
    assert code == 2 and expected in line, line
    assert "move it aside" not in line


def test_store_setting_pointing_at_kb(make_desk: Callable[..., Path]) -> None:
    root = make_desk({"data/desk.yaml": "store: kb\n"})
    code, output = run("check", str(root), *TODAY)
    line = one_line_error(output)
    assert code == 2 and "the store kb is a folder, not a file" in line, line
    assert (root / "kb" / "base.md").read_text() == BASE_PAGE


def test_damaged_bytes(make_desk: Callable[..., Path]) -> None:
    root = make_desk()
    store = root / "data" / "claimdesk.duckdb"
    assert run("check", str(root), *TODAY)[0] == 0
    data = bytearray(store.read_bytes())
    for offset in range(4096, len(data), 512):  # the blocks after DuckDB's headers
        data[offset:offset + 16] = b"\xde\xad\xbe\xef" * 4
    store.write_bytes(bytes(data))
    damaged = store.read_bytes()
    for command in (["check", str(root), *TODAY], ["query", "SELECT * FROM runs", "--desk", str(root)],
                    ["history", "base_claim", "--desk", str(root)]):
        code, output = run(*command)
        line = one_line_error(output)
        assert code == 2, output
        assert "the store data/claimdesk.duckdb" in line or "the store" in line, line
    assert store.read_bytes() == damaged


def test_a_run_base_that_is_not_json_means_a_full_run(make_desk: Callable[..., Path]) -> None:
    root = make_desk()
    store = root / "data" / "claimdesk.duckdb"
    assert run("check", str(root), *TODAY)[0] == 0
    with duckdb.connect(str(store)) as con:
        con.execute("UPDATE store_meta SET value = '{not json' WHERE key = 'run_base'")
    code, output = run("check", str(root), *TODAY)
    assert code == 0 and "full run" in output and "Traceback" not in output, output


def test_a_run_id_at_the_limit_is_one_line(make_desk: Callable[..., Path]) -> None:
    root = make_desk()
    store = root / "data" / "claimdesk.duckdb"
    assert run("check", str(root), *TODAY)[0] == 0
    with duckdb.connect(str(store)) as con:
        con.execute("INSERT INTO runs (run_id, started, finished, today) SELECT 2147483647, started, finished, today "
                    "FROM runs")
    before = runs_in(store)
    code, output = run("check", str(root), *TODAY)
    line = one_line_error(output)
    assert code == 2 and "could not be written" in line, line
    assert runs_in(store) == before


def test_a_second_writer_waits_as_documented(make_desk: Callable[..., Path]) -> None:
    """kb/guide/commands.md: a second writer waits up to ten seconds, then names the holder."""
    from claimdesk import store as store_module

    assert store_module.WRITE_WAIT_SECONDS == 10.0
    guide = (Path(__file__).resolve().parent.parent / "kb" / "guide" / "commands.md").read_text()
    assert "after waiting up to 10 seconds" in guide
    root = make_desk()
    path = root / "data" / "claimdesk.duckdb"
    with Store.open(path, write=True):
        with pytest.raises(Exception, match="in use by process .*waited 0.2 s"):
            Store.open(path, write=True, wait=0.2)

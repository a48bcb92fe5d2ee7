"""An incremental `claimdesk check` gives exactly what a full run on a fresh store gives.

A generated desk is edited at random, one edit at a time (a value, a metric, a claim added or
removed, a duplicate id, a broken and a fixed check reference, a reference cycle, a renamed, a
deleted and a broken page, ...); after every edit the store that has followed every edit runs
incrementally, and its results (every column, in the store and as returned) and problems must
equal those of a full run on a brand-new store. Real files, real DuckDB files, no mocks.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import random
import re
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest

from claimdesk import job
from claimdesk.job import CheckOutcome, check_and_record

from .conftest import REPO
from .test_store_crash import kill_when_paused

TODAY = dt.date(2026, 11, 22)
OLD = time.time() - 3600  # generated files are dated an hour back, so they are not "racily" new


def _gen_desk() -> Any:
    spec = importlib.util.spec_from_file_location("gen_desk", REPO / "scripts" / "gen_desk.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_desk"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def desk(tmp_path: Path) -> Path:
    root = _gen_desk().generate_desk(tmp_path / "desk", 60, 5, seed=7)
    for path in root.rglob("*"):
        os.utime(path, (OLD, OLD))
    return root


# -- a page as lines: header, claim blocks, the rest ---------------------------------------------
class Page:
    def __init__(self, path: Path):
        self.path = path
        lines = path.read_text(encoding="utf-8").split("\n")
        start = lines.index("claims:") + 1
        end = lines.index("---", 1)
        self.head, self.tail = lines[:start], lines[end:]
        self.claims: list[list[str]] = []
        for line in lines[start:end]:
            if line.startswith("  - "):
                self.claims.append([line])
            else:
                self.claims[-1].append(line)

    def write(self, stamp: float) -> None:
        lines = self.head + [line for claim in self.claims for line in claim] + self.tail
        self.path.write_text("\n".join(lines), encoding="utf-8")
        os.utime(self.path, (stamp, stamp))


def claim_id(block: list[str]) -> str:
    return block[0].split("id: ", 1)[1].strip()


def field_of(block: list[str], name: str) -> str | None:
    for line in block:
        if line.startswith(f"    {name}: "):
            return line.split(": ", 1)[1]
    return None


def set_field(block: list[str], name: str, value: str | None) -> None:
    block[:] = [line for line in block if not line.startswith(f"    {name}: ")]
    if value is not None:
        block.append(f"    {name}: {value}")


def new_claim(claim_id: str, value: str = "12.5", unit: str = "USD bn", extra: tuple[str, ...] = ()) -> list[str]:
    return [f"  - id: {claim_id}", "    text: A figure added by the test.", "    stance: neutral",
            "    sources: [src_000]", "    as_of: 2026", f"    value: {value}", f"    unit: {unit}", *extra]


class Editor:
    """Random edits of a desk's pages, each a kind of change an incremental run must follow."""

    def __init__(self, root: Path, seed: int):
        self.root = root
        self.rng = random.Random(seed)
        self.stamp = OLD
        self.serial = 0

    def pages(self) -> list[Path]:
        return sorted(p for p in (self.root / "kb").rglob("*.md") if not p.name.startswith("broken"))

    def page(self, with_claims: bool = True) -> Page:
        while True:
            page = Page(self.rng.choice(self.pages()))
            if page.claims or not with_claims:
                return page

    def save(self, page: Page) -> None:
        self.stamp += 1  # a new mtime, still well before the run: the stat rule sees the change
        page.write(self.stamp)

    def all_claims(self) -> list[tuple[Page, list[str]]]:
        out = []
        for path in self.pages():
            page = Page(path)
            out += [(page, block) for block in page.claims]
        return out

    def edit_value(self) -> str:
        page = self.page()
        candidates = [b for b in page.claims if (field_of(b, "value") or "")[:1].isdigit()]
        if not candidates:
            return self.add_claim()
        block = self.rng.choice(candidates)
        set_field(block, "value", f"{self.rng.uniform(1, 500):.2f}")
        self.save(page)
        return f"value of {claim_id(block)}"

    def change_metric(self) -> str:
        claims = [(p, b) for p, b in self.all_claims() if field_of(b, "value")]
        page, block = self.rng.choice(claims)
        metrics = sorted({m for _, b in self.all_claims() if (m := field_of(b, "metric"))})
        choice = self.rng.choice(metrics + ["test.new_metric", None])
        set_field(block, "metric", choice)
        self.save(page)
        return f"metric of {claim_id(block)} -> {choice}"

    def add_claim(self) -> str:
        page = self.page(with_claims=False)
        self.serial += 1
        others = [claim_id(b) for _, b in self.all_claims() if (field_of(b, "unit") or "") == "USD bn"
                  and (field_of(b, "value") or "")[:1].isdigit()]
        extra: tuple[str, ...] = ()
        if others and self.rng.random() < 0.6:
            extra += (f"    check: {self.rng.choice(others)} + 1",)
        if self.rng.random() < 0.5:
            extra += ("    metric: test.added",)
        page.claims.insert(self.rng.randrange(len(page.claims) + 1), new_claim(f"added_{self.serial}", extra=extra))
        self.save(page)
        return f"added added_{self.serial} to {page.path.name}"

    def remove_claim(self) -> str:
        page = self.page()
        block = page.claims.pop(self.rng.randrange(len(page.claims)))
        self.save(page)
        return f"removed {claim_id(block)}"

    def duplicate_id(self) -> str:
        _, block = self.rng.choice(self.all_claims())
        page = self.page(with_claims=False)
        page.claims.append(new_claim(claim_id(block), value="3", unit="USD M"))
        self.save(page)
        return f"duplicated {claim_id(block)} on {page.path.name}"

    def break_reference(self) -> str:
        checked = [(p, b) for p, b in self.all_claims() if (field_of(b, "check") or "").count("_p0")]
        if not checked:
            return self.add_claim()
        page, block = self.rng.choice(checked)
        check = field_of(block, "check") or ""
        set_field(block, "check", check.replace("_p0", "_q0", 1))
        self.save(page)
        return f"broke the check of {claim_id(block)}"

    def fix_reference(self) -> str:
        broken = [(p, b) for p, b in self.all_claims() if "_q0" in (field_of(b, "check") or "")]
        if not broken:
            return self.break_reference()
        page, block = self.rng.choice(broken)
        set_field(block, "check", (field_of(block, "check") or "").replace("_q0", "_p0"))
        self.save(page)
        return f"fixed the check of {claim_id(block)}"

    def make_cycle(self) -> str:
        numeric = [(p, b) for p, b in self.all_claims() if (field_of(b, "value") or "")[:1].isdigit()]
        (page_a, a), (page_b, b) = self.rng.sample(numeric, 2)
        for page, block, other in ((page_a, a, b), (page_b, b, a)):
            fresh = Page(page.path)  # both may be on one page: read it again before each edit
            target = next(x for x in fresh.claims if claim_id(x) == claim_id(block))
            set_field(target, "check", claim_id(other))
            self.save(fresh)
        return f"cycle {claim_id(a)} <-> {claim_id(b)}"

    def rename_page(self) -> str:
        path = self.rng.choice(self.pages())
        target = path.with_name("renamed-" + path.name)
        path.rename(target)
        return f"renamed {path.name}"

    def delete_page(self) -> str:
        path = self.rng.choice(self.pages())
        path.unlink()
        return f"deleted {path.name}"

    def broken_page(self) -> str:
        self.serial += 1
        path = self.root / "kb" / f"broken-{self.serial}.md"
        path.write_text("---\ntitle: Broken\nclaims:\n  - id: broken_claim\n    text: No stance, no sources.\n"
                        f"  - id: added_{self.serial}\n    text: Valid.\n    stance: bull\n    sources: [src_404]\n"
                        "    as_of: 2026\n    value: 5\n    unit: USD bn\n---\n", encoding="utf-8")
        self.stamp += 1
        os.utime(path, (self.stamp, self.stamp))
        return f"added broken page {path.name}"

    def wrong_dimension(self) -> str:
        claims = [(p, b) for p, b in self.all_claims() if field_of(b, "metric") and field_of(b, "unit")]
        page, block = self.rng.choice(claims)
        set_field(block, "unit", "Ttok/month" if field_of(block, "unit") != "Ttok/month" else "USD bn")
        self.save(page)
        return f"unit of {claim_id(block)}"

    def uncite(self) -> str:
        page = self.page()
        block = self.rng.choice(page.claims)
        set_field(block, "sources", self.rng.choice(["[src_001]", "[src_unknown]"]))
        self.save(page)
        return f"sources of {claim_id(block)}"

    def usd_bn_claims(self) -> list[str]:
        return [claim_id(b) for _, b in self.all_claims() if (field_of(b, "unit") or "") == "USD bn"
                and (field_of(b, "value") or "")[:1].isdigit()]

    def add_given_reference(self) -> str:
        """A check whose parameter is given by another claim (often on another page), in another
        unit of the same dimension (USD bn for the model's USD M), sometimes of the wrong one."""
        page = self.page(with_claims=False)
        self.serial += 1
        target = self.rng.choice(self.usd_bn_claims() + ["gpus_per_node", "gpu_hour_cost"])
        page.claims.insert(self.rng.randrange(len(page.claims) + 1), new_claim(
            f"given_{self.serial}", value="12.5", unit="USD bn",
            extra=("    check: training_capex * 2", f"    given: {{training_capex: {target}, batch: 40}}")))
        self.save(page)
        return f"added given_{self.serial} given {target}"

    def edit_given_figure(self) -> str:
        """A new value for a claim that some `given:` names: every check that uses it follows."""
        named = {line.split("training_capex: ", 1)[1].split(",")[0].split("}")[0]
                 for _, b in self.all_claims() for line in b if "given: {training_capex: " in line}
        claims = [(p, b) for p, b in self.all_claims() if claim_id(b) in named and field_of(b, "value")]
        if not claims:
            return self.add_given_reference()
        page, block = self.rng.choice(claims)
        set_field(block, "value", f"{self.rng.uniform(1, 500):.2f}")
        set_field(block, "as_of", self.rng.choice(["2026", "2020"]))  # 2020: stale, and so is every user
        self.save(page)
        return f"value of given figure {claim_id(block)}"

    def acknowledge(self) -> str:
        """An acknowledgement on a claim of a metric: matching a conflict, expired, or matching nothing."""
        claims = [(p, b) for p, b in self.all_claims() if field_of(b, "metric") and field_of(b, "value")]
        page, block = self.rng.choice(claims)
        choice = self.rng.choice(["{finding: conflict, reason: known}",
                                  "{finding: conflict, reason: known, until: 2026-01-31}",
                                  "{finding: mismatch, reason: rounding}", "{finding: stale, reason: old}"])
        set_field(block, "acknowledge", f"[{choice}]")
        self.save(page)
        return f"acknowledged {choice} on {claim_id(block)}"

    def add_forecast(self) -> str:
        """A forecast of a metric's 2026 figure, resolved by an outcome, by a claim of the metric for
        2026, or still open (due after its date)."""
        metrics = sorted({m for _, b in self.all_claims() if (m := field_of(b, "metric"))})
        page = self.page(with_claims=False)
        self.serial += 1
        extra = (f"    metric: {self.rng.choice(metrics)}", "    resolves: 2026-06-30")
        if self.rng.random() < 0.3:
            extra += ("    outcome: 14",)
        page.claims.insert(self.rng.randrange(len(page.claims) + 1),
                           new_claim(f"forecast_{self.serial}", value="[10, 20]", extra=extra))
        self.save(page)
        return f"added forecast_{self.serial}"

    def given_cycle(self) -> str:
        """Two claims that read each other, one through a check, the other through a given."""
        ids = self.usd_bn_claims()
        if len(ids) < 2:
            return self.add_claim()
        first, second = self.rng.sample(ids, 2)
        for this, check, given in ((first, "training_capex * 1", f"{{training_capex: {second}}}"),
                                   (second, f"{first} * 1", None)):
            page = next(p for p, b in self.all_claims() if claim_id(b) == this)
            target = next(b for b in page.claims if claim_id(b) == this)
            set_field(target, "check", check)
            set_field(target, "given", given)
            self.save(page)
        return f"given cycle {first} <-> {second}"

    def add_inline_reference(self, known: bool = True) -> str:
        """A [[claim:ID]] in a page's prose, to a claim anywhere (or to no claim)."""
        named = claim_id(self.rng.choice(self.all_claims())[1]) if known else f"no_claim_{self.serial}"
        self.serial += 1
        page = self.page(with_claims=False)
        page.tail.append(f"The figure [[claim:{named}]] is discussed here.")
        self.save(page)
        return f"referenced {named} from {page.path.name}"

    def remove_referenced_claim(self) -> str:
        """Take away a claim that some page's prose names: that reference is broken now."""
        named = {found for path in self.pages()
                 for found in re.findall(r"\[\[claim:([^\]]+)\]\]", path.read_text(encoding="utf-8"))}
        candidates = [(p, b) for p, b in self.all_claims() if claim_id(b) in named]
        if not candidates:
            return self.add_inline_reference()
        page, block = self.rng.choice(candidates)
        page.claims.remove(block)
        self.save(page)
        return f"removed {claim_id(block)}, which a page names inline"

    def restore_referenced_claim(self) -> str:
        """Add a claim with the id a broken inline reference names: the reference works again."""
        named = sorted({found for path in self.pages()
                        for found in re.findall(r"\[\[claim:([^\]]+)\]\]", path.read_text(encoding="utf-8"))}
                       - {claim_id(b) for _, b in self.all_claims()})
        if not named:
            return self.add_inline_reference(known=False)
        chosen = self.rng.choice(named)
        page = self.page(with_claims=False)
        page.claims.append(new_claim(chosen))
        self.save(page)
        return f"added {chosen}, which a page names inline"

    def flaw_named_claim(self) -> str:
        """Give a format error to a claim another claim's check names: that check says where it is."""
        named = {name for _, b in self.all_claims() for name in re.findall(r"[a-z_]+_p\d+_c\d+", field_of(b, "check") or "")}
        candidates = [(p, b) for p, b in self.all_claims() if claim_id(b) in named and field_of(b, "stance") != "sideways"]
        if not candidates:
            return self.add_claim()
        page, block = self.rng.choice(candidates)
        set_field(block, "stance", "sideways")
        self.save(page)
        other = self.page(with_claims=False)
        while other.path == page.path:
            other = self.page(with_claims=False)
        other.claims.append(new_claim(f"naming_{self.serial}", extra=(f"    check: {claim_id(block)} * 2",)))
        self.serial += 1
        self.save(other)  # a check on another page names it too
        return f"format error in {claim_id(block)}, which checks name"

    def move_flawed_claim(self) -> str:
        """Move a claim with a format error down its page (no valid id moves): the checks naming it
        elsewhere now say another line."""
        flawed = [(p, b) for p, b in self.all_claims() if field_of(b, "stance") == "sideways"]
        if not flawed:
            return self.flaw_named_claim()
        page, block = self.rng.choice(flawed)
        page.head.insert(1, "# a comment line: every claim below moves down one line")
        self.save(page)
        return f"moved {claim_id(block)}"

    def mend_flawed_claim(self) -> str:
        flawed = [(p, b) for p, b in self.all_claims() if field_of(b, "stance") == "sideways"]
        if not flawed:
            return self.flaw_named_claim()
        page, block = self.rng.choice(flawed)
        set_field(block, "stance", "bear")
        self.save(page)
        return f"mended {claim_id(block)}"

    def random_edit(self) -> str:
        edits = [self.edit_value, self.change_metric, self.add_claim, self.remove_claim, self.duplicate_id,
                 self.break_reference, self.fix_reference, self.make_cycle, self.rename_page, self.delete_page,
                 self.broken_page, self.wrong_dimension, self.uncite, self.add_given_reference, self.given_cycle,
                 self.edit_given_figure, self.acknowledge, self.add_forecast, self.add_inline_reference,
                 self.remove_referenced_claim, self.restore_referenced_claim, self.flaw_named_claim,
                 self.move_flawed_claim, self.mend_flawed_claim]
        return self.rng.choice(edits)()


# -- comparing runs ------------------------------------------------------------------------------
def stored_run(store: Path, run_id: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with duckdb.connect(str(store), read_only=True) as con:
        results = con.execute("SELECT * EXCLUDE (run_id) FROM results WHERE run_id = ? ORDER BY ALL",
                              [run_id]).fetchall()
        run = con.execute("SELECT * EXCLUDE (run_id, started, finished) FROM runs WHERE run_id = ?",
                          [run_id]).fetchall()
    return results, run


def assert_same(incremental: CheckOutcome, incremental_store: Path, full: CheckOutcome, full_store: Path,
                what: str) -> None:
    # First what the CLI reads (before `run` brings every result into memory): the summary and,
    # for --status, only the results it shows, read back from the store.
    shown = {"error", "mismatch", "conflict", "stale"}
    assert incremental.tally() == full.run.tally(), what
    assert incremental.results(shown) == [r for r in full.run.results if r.status in shown], what
    assert incremental.problems == full.problems, what
    assert incremental.run.results == full.run.results, what
    assert incremental.run.counts() == full.run.counts(), what
    assert incremental.run_id is not None and full.run_id is not None
    assert stored_run(incremental_store, incremental.run_id) == stored_run(full_store, full.run_id), what


def full_run(root: Path, tmp: Path, step: int) -> tuple[CheckOutcome, Path]:
    store = tmp / f"fresh-{step}.duckdb"
    return check_and_record(root, store, TODAY, incremental=False), store


@pytest.mark.parametrize("seed", [1, 2])
def test_incremental_runs_equal_full_runs(desk: Path, tmp_path: Path, seed: int) -> None:
    store = tmp_path / "followed.duckdb"
    first = check_and_record(desk, store, TODAY)
    assert first.incremental is None  # nothing to build on yet
    editor = Editor(desk, seed)
    incremental_runs = 0
    for step in range(14):
        what = editor.random_edit()
        outcome = check_and_record(desk, store, TODAY)
        incremental_runs += outcome.incremental is not None
        full, fresh = full_run(desk, tmp_path, step)
        assert full.incremental is None
        assert_same(outcome, store, full, fresh, f"step {step}: {what}")
        fresh.unlink()
    assert incremental_runs == 14  # every run after an edit of pages was incremental


def test_unchanged_desk_rechecks_nothing(desk: Path, tmp_path: Path) -> None:
    store = tmp_path / "store.duckdb"
    check_and_record(desk, store, TODAY)
    again = check_and_record(desk, store, TODAY)
    assert again.incremental == f"0 of {len(again.run.results)} claims re-checked"
    full, fresh = full_run(desk, tmp_path, 0)
    assert_same(again, store, full, fresh, "no edit")


def test_each_kind_of_edit(desk: Path, tmp_path: Path) -> None:
    """Every kind of edit at least once, in a fixed order, each compared with a full run."""
    store = tmp_path / "store.duckdb"
    check_and_record(desk, store, TODAY)
    editor = Editor(desk, 11)
    edits = [editor.edit_value, editor.change_metric, editor.add_claim, editor.remove_claim, editor.duplicate_id,
             editor.break_reference, editor.fix_reference, editor.make_cycle, editor.rename_page,
             editor.delete_page, editor.broken_page, editor.wrong_dimension, editor.uncite, editor.duplicate_id,
             editor.add_given_reference, editor.add_given_reference, editor.edit_given_figure, editor.given_cycle,
             editor.edit_given_figure, editor.remove_claim, editor.acknowledge, editor.acknowledge,
             editor.add_forecast, editor.add_forecast, editor.change_metric, editor.edit_value,
             editor.add_inline_reference, editor.add_inline_reference, editor.remove_referenced_claim,
             lambda: editor.add_inline_reference(known=False), editor.restore_referenced_claim,
             editor.restore_referenced_claim, editor.flaw_named_claim, editor.move_flawed_claim,
             editor.flaw_named_claim, editor.mend_flawed_claim, editor.mend_flawed_claim]
    for step, edit in enumerate(edits):
        what = edit()
        outcome = check_and_record(desk, store, TODAY)
        assert outcome.incremental is not None, what
        full, fresh = full_run(desk, tmp_path, step)
        assert_same(outcome, store, full, fresh, f"step {step}: {what}")


# -- when the run must be a full one -------------------------------------------------------------
def test_a_full_run_when_what_results_depend_on_changed(desk: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "store.duckdb"
    check_and_record(desk, store, TODAY)
    assert check_and_record(desk, store, TODAY).incremental is not None

    assert check_and_record(desk, store, TODAY + dt.timedelta(days=1)).incremental is None  # another day
    assert check_and_record(desk, store, TODAY + dt.timedelta(days=1)).incremental is not None

    model = desk / "data" / "models" / "token_cost.yaml"
    model.write_text(model.read_text(encoding="utf-8").replace("value: 30,", "value: 31,"), encoding="utf-8")
    assert check_and_record(desk, store, TODAY).incremental is None  # the model changed (and the day)
    sources = desk / "data" / "sources.yaml"
    sources.write_text(sources.read_text(encoding="utf-8") + "src_extra:\n  title: One more\n  published: 2026\n"
                       "  kind: report\n", encoding="utf-8")
    assert check_and_record(desk, store, TODAY).incremental is None  # the sources changed
    (desk / "data" / "desk.yaml").write_text("fail_on: [error]\n", encoding="utf-8")
    assert check_and_record(desk, store, TODAY).incremental is None  # the settings changed
    assert check_and_record(desk, store, TODAY).incremental is not None

    monkeypatch.setattr(job, "CODE_FINGERPRINT", "other code")
    assert check_and_record(desk, store, TODAY).incremental is None  # claimdesk itself changed
    monkeypatch.undo()

    from claimdesk.store import Store
    Editor(desk, 3).edit_value()
    with Store.open(store, write=True) as writer:  # an ingest between runs: the old rows are gone
        writer.ingest(desk)
    outcome = check_and_record(desk, store, TODAY)
    assert outcome.incremental is None
    full, fresh = full_run(desk, tmp_path, 0)
    assert_same(outcome, store, full, fresh, "after a separate ingest")

    with Store.open(store, write=True) as writer:  # a run recorded without its problems
        stats = writer.ingest(desk)
        assert stats.desk is not None
        from claimdesk.check import check_desk
        writer.record_run(check_desk(stats.desk, TODAY), None)
    assert check_and_record(desk, store, TODAY).incremental is None


def test_the_cli_says_how_much_it_rechecked(desk: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from claimdesk.cli import main

    store = tmp_path / "store.duckdb"
    args = ["check", str(desk), "--store", str(store), "--today", TODAY.isoformat()]
    first = CliRunner().invoke(main, args)
    assert "incremental" not in first.stderr and "full run" in first.stderr
    Editor(desk, 5).edit_value()
    second = CliRunner().invoke(main, args)
    assert "incremental: " in second.stderr and " claims re-checked" in second.stderr
    assert second.stdout.count("\n") == first.stdout.count("\n")  # every result is still printed


def test_kill_9_during_the_incremental_write(desk: Path, tmp_path: Path) -> None:
    import signal
    import subprocess

    from claimdesk.store import TEST_PAUSE_ENV, TEST_PAUSE_SKIP_ENV, Store

    store = tmp_path / "store.duckdb"
    first = check_and_record(desk, store, TODAY)
    Editor(desk, 9).edit_value()
    marker = tmp_path / "paused"
    # The ingest pauses first (in its own transaction): let that one pass, and kill the run's write.
    env = dict(os.environ, **{TEST_PAUSE_ENV: str(marker)}, **{TEST_PAUSE_SKIP_ENV: "1"})
    process = subprocess.Popen([sys.executable, "-c", "from claimdesk.cli import main; main()", "check", str(desk),
                                "--store", str(store), "--today", TODAY.isoformat()], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    kill_when_paused(process, marker)
    assert process.returncode == -signal.SIGKILL
    with Store.open(store) as reader:  # readable, and still holding only the first run
        assert reader.query("SELECT max(run_id) FROM runs").rows == [(first.run_id,)]
        assert reader.query("SELECT count(*) FROM problems").rows == [(len(first.problems),)]
    outcome = check_and_record(desk, store, TODAY)  # the next run carries on
    full, fresh = full_run(desk, tmp_path, 0)
    assert_same(outcome, store, full, fresh, "after a killed run")


def test_a_parameter_in_a_metric(desk: Path, tmp_path: Path) -> None:
    """A model parameter that states a metric is in conflict with page claims of that metric (and a
    page claim's check reads a parameter): edits to those claims are followed incrementally."""
    model = desk / "data" / "models" / "token_cost.yaml"
    text = model.read_text(encoding="utf-8")
    text = text.replace("value: 3, unit: USD/Mtok}", "value: 3, unit: USD/Mtok, metric: test.price}")
    assert "metric: test.price" in text
    model.write_text(text, encoding="utf-8")
    page = desk / "kb" / "prices.md"
    claims = ("  - {id: price_quote, text: t, stance: bull, sources: [src_001], as_of: 2026, value: 5, "
              "unit: USD/Mtok, metric: test.price}\n"
              "  - {id: price_check, text: t, stance: bull, sources: [src_001], as_of: 2026, value: 3, "
              "unit: USD/Mtok, check: price_per_mtok + 0}\n")
    page.write_text(f"---\ntitle: Prices\nclaims:\n{claims}---\n", encoding="utf-8")
    os.utime(page, (OLD, OLD))
    os.utime(model, (OLD, OLD))
    store = tmp_path / "store.duckdb"
    first = check_and_record(desk, store, TODAY)
    assert first.run.by_id()["price_per_mtok"].status == "conflict"  # 3 against the page's 5
    for step, (old, new) in enumerate([("value: 5,", "value: 3,"), ("value: 3,", "value: 7,"),
                                       ("metric: test.price}", "metric: test.other}")]):
        page.write_text(page.read_text(encoding="utf-8").replace(old, new, 1), encoding="utf-8")
        os.utime(page, (OLD + step + 1, OLD + step + 1))
        outcome = check_and_record(desk, store, TODAY)
        assert outcome.incremental is not None
        full, fresh = full_run(desk, tmp_path, step)
        assert_same(outcome, store, full, fresh, f"step {step}: {old} -> {new}")
        fresh.unlink()
    assert check_and_record(desk, tmp_path / "last.duckdb", TODAY).run.by_id()["price_per_mtok"].status != "conflict"

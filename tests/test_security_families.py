"""One golden case (or more) per family of hostile input that used to end in a traceback, a hang
or a wrong result: each now ends in a located message naming the fix or the bound it hit."""

from __future__ import annotations

import datetime as dt
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
import sympy
from click.testing import CliRunner

from claimdesk.check import MAX_CONFLICT_PAIRS, STALE_LISTED, check_desk
from claimdesk.cli import main
from claimdesk.expr import ExprError, parse, to_sympy
from claimdesk.kb import load_desk
from claimdesk.model import build_model
from claimdesk.problems import did_you_mean
from claimdesk.units import UnitError, parse_unit
from claimdesk.validate import validate_desk

from .conftest import BASE_PAGE, BASE_SOURCES, write_desk

TODAY = dt.date(2026, 11, 22)


def claim(claim_id: str, extra: str = "", value: str = "10", unit: str = "USD bn", as_of: str = "2026-05") -> str:
    return (f"  - id: {claim_id}\n    text: Claim {claim_id}.\n    stance: neutral\n    sources: [src_a]\n"
            f"    as_of: {as_of}\n    value: \"{value}\"\n    unit: {unit}\n{extra}")


def page(*claims: str) -> str:
    return "---\ntitle: Page\nclaims:\n" + "".join(claims) + "---\n"


def messages(root: Path) -> list[str]:
    desk = load_desk(root)
    return [str(p) for p in validate_desk(desk)]


def results(root: Path) -> dict[str, tuple[str, str]]:
    return {r.claim_id: (r.status, r.reason) for r in check_desk(load_desk(root), TODAY).results}


# -- numbers that overflow -------------------------------------------------------------------
@pytest.mark.parametrize("value", ["~0e400", "~0e309", "~1e-400"])
def test_a_precision_out_of_range_is_located(tmp_path: Path, value: str) -> None:
    root = write_desk(tmp_path / "desk", {"kb/p.md": page(claim("precise", value=value))})
    found = messages(root)
    assert any(m.startswith("kb/p.md:") and "claims[0].value" in m and "out of range" in m for m in found), found


@pytest.mark.parametrize("extra, as_of", [("    stale_after: {count: 1000000000, period: week}\n", "2026-05"),
                                          ("    stale_after: {count: 100000000000000000000, period: day}\n", "2026-05"),
                                          ("    stale_after: {count: 1000000, period: year}\n", "2026-05"),
                                          ("    stale_after: {count: 1, period: day}\n", "9999"),
                                          ("    review_by: 9999-12-31\n", "9999-12-31")])
def test_far_periods_are_checked_and_stored(tmp_path: Path, extra: str, as_of: str) -> None:
    root = write_desk(tmp_path / "desk", {"kb/p.md": page(claim("far", extra, as_of=as_of))})
    result = CliRunner().invoke(main, ["check", str(root), "--today", "2026-11-22"])
    assert result.exit_code in (0, 1) and "Traceback" not in result.output, result.output
    assert "recorded as run 1" in result.output, result.output
    if "000000000" in extra:  # beyond the bound: a located format error, and the rest is checked
        assert "kb/p.md:11: claims[0].stale_after: count " in result.output and "is too large (at most 1000000)" \
            in result.output, result.output
    else:
        rows = [line for line in result.output.splitlines() if line.split()[1:2] == ["far"]]
        assert rows and rows[0].startswith("unchecked"), result.output


@pytest.mark.parametrize("unit", ["Ztok^9 Ztok^9 Ztok^9", "1/Ztok^9/Ztok^9/Ztok^9/Ztok^9", "tok^9 tok^9"])
def test_unit_scales_out_of_range(unit: str, tmp_path: Path) -> None:
    with pytest.raises(UnitError, match="out of range|at most 12"):
        parse_unit(unit)
    root = write_desk(tmp_path / "desk", {"kb/p.md": page(claim("big_unit", unit=f'"{unit}"'),
                                                          claim("zero", value="0", unit=f'"{unit}"'))})
    found = messages(root)
    assert any("claims[0].unit" in m for m in found), found
    assert all(status != "conflict" for status, _ in results(root).values())


# -- expressions and the model -----------------------------------------------------------------
def test_exponents_are_the_numbers_written() -> None:
    five = sympy.Symbol("five")
    for written in ("0.0001", "0.0833", "0.5", "-2", "1e-3", "2.5"):
        expression = to_sympy(parse(f"five ** {written}"), lambda ref: five)
        assert float(expression.subs(five, 5)) == pytest.approx(5 ** float(written), rel=1e-12)
    assert float(to_sympy(parse("five ** 0.0001"), lambda ref: five).subs(five, 5)) != 1.0


@pytest.mark.parametrize("text", ["(((9 ** 64) ** 64) ** 64)", "((x ** 8) ** 8) ** 2", "(x ** 64) ** 1.5"])
def test_powers_of_powers_are_bounded(text: str) -> None:
    with pytest.raises(ExprError, match="powers of powers raise to .* in all; at most 64"):
        parse(text)


MODEL_HEAD = """title: M
parameters:
  - {id: a, text: a, stance: neutral, sources: [src_a], as_of: 2026-05, value: 2, unit: x}
  - {id: b, text: b, stance: neutral, sources: [src_a], as_of: 2026-05, value: 3, unit: x}
quantities:
"""


def model_problems(tmp_path: Path, quantities: list[str]) -> list[str]:
    root = write_desk(tmp_path / "desk", {"data/models/token_cost.yaml": None,
                                         "data/models/m.yaml": MODEL_HEAD + "\n".join(quantities) + "\n"})
    return [str(p) for p in build_model(load_desk(root, paths=[])).problems]


def test_a_where_polynomial_of_high_degree_is_refused_before_sympy(tmp_path: Path) -> None:
    found = model_problems(tmp_path, ['  - {id: s, text: s, unit: x, solve_for: a, where: "(a + b + a * b + 1) ** 64 = 0"}'])
    assert any("quantities[0].where" in m and "reaches degree 128" in m and "up to degree 16" in m for m in found), found


def test_a_long_chain_of_quantities_compiles(tmp_path: Path) -> None:
    chain = [f"  - {{id: q{i}, text: q, unit: x, expr: q{i + 1} + a}}" for i in range(400)]
    chain.append("  - {id: q400, text: q, unit: x, expr: a + 1}")
    assert model_problems(tmp_path, chain) == []


def test_wide_and_doubling_quantities_stop_at_the_bound(tmp_path: Path) -> None:
    doubling = ["  - {id: q0, text: q, unit: x, expr: a + b}"]
    doubling += [f"  - {{id: q{i}, text: q, unit: x, expr: q{i - 1} * (q{i - 1} + 1)}}" for i in range(1, 14)]
    found = model_problems(tmp_path, doubling)
    assert any("has more than 5000 parts" in m for m in found), found
    result = CliRunner().invoke(main, ["model", str(tmp_path / "desk")])
    assert result.exit_code == 1 and "sensitivity" in result.output


# -- desk-wide work ----------------------------------------------------------------------------
def test_a_crowded_metric_is_an_error_naming_the_bound(tmp_path: Path) -> None:
    count = int((2 * MAX_CONFLICT_PAIRS) ** 0.5) + 20
    claims = [claim(f"c{i}", "    metric: m.one\n", value=str(10 + i % 7)) for i in range(count)]
    root = write_desk(tmp_path / "desk", {"kb/p.md": page(*claims)})
    found = results(root)
    status, reason = found["c0"]
    assert status == "error" and f"more than the {MAX_CONFLICT_PAIRS} claimdesk compares" in reason
    small = write_desk(tmp_path / "small", {"kb/p.md": page(*claims[:50])})
    assert results(small)["c0"][0] == "conflict"


def test_a_long_chain_of_stale_checks(tmp_path: Path) -> None:
    chain = [claim("c0", as_of="2020-01")] + [claim(f"c{i}", f"    check: c{i - 1}\n") for i in range(1, 3000)]
    found = results(write_desk(tmp_path / "desk", {"kb/p.md": page(*chain)}))
    assert found["c2999"] == ("stale", "depends on stale c0")
    all_stale = [claim("c0", as_of="2020-01")] + [claim(f"c{i}", f"    check: c{i - 1}\n", as_of="2020-01")
                                                  for i in range(1, 400)]
    found = results(write_desk(tmp_path / "all", {"kb/p.md": page(*all_stale)}))
    status, reason = found["c399"]
    assert status == "stale" and f"and more than {STALE_LISTED - 6} more" in " ".join([reason, *[""]]) or \
        any(f"and more than {STALE_LISTED - 6} more" in a for a in check_desk(
            load_desk(tmp_path / "all"), TODAY).results[-1].also)
    short = [claim("c0", as_of="2020-01")] + [claim(f"c{i}", f"    check: c{i - 1}\n", as_of="2020-01")
                                              for i in range(1, 9)]
    last = [r for r in check_desk(load_desk(write_desk(tmp_path / "short", {"kb/p.md": page(*short)})), TODAY).results
            if r.claim_id == "c8"][0]
    assert any("depends on stale c0, c1, c2, c3, c4 and 3 more" in a for a in (last.reason, *last.also)), last


def test_did_you_mean_over_thousands_of_names() -> None:
    names = [f"claim_{i}_{'x' * (i % 7)}" for i in range(6000)] + ["batch8_cost_per_mtok"]
    assert did_you_mean("batch8_cost_per_mtk", names) == " (did you mean 'batch8_cost_per_mtok'?)"
    assert did_you_mean("batch8_cost_per_mtk", reversed(names)) == " (did you mean 'batch8_cost_per_mtok'?)"


# -- front-matter and data files ---------------------------------------------------------------
def test_a_tagged_source_is_one_problem_and_the_rest_are_kept(tmp_path: Path) -> None:
    sources = BASE_SOURCES.replace("title: A report", "title: !!str A report")
    root = write_desk(tmp_path / "desk", {"data/sources.yaml": sources})
    desk = load_desk(root)
    found = [str(p) for p in validate_desk(desk)]
    assert any(m.startswith("data/sources.yaml:2: src_a.title: tags (!!str) are not allowed") for m in found), found
    assert {"divergent_token_economics", "tokenalysis_john_henry"} <= set(desk.sources)


@pytest.mark.parametrize("character", ["\x00", "\x07", "\x1b", "\x7f", "\x85\x9b"])
def test_control_characters_in_front_matter_are_located(tmp_path: Path, character: str) -> None:
    text = BASE_PAGE.replace("stance: neutral", f"stance: neutral{character}")
    root = write_desk(tmp_path / "desk", {"kb/p.md": text.replace("base_claim", "other")})
    found = [m for m in messages(root) if m.startswith("kb/p.md")]
    assert found and found[0].startswith("kb/p.md:6: the character \\x") and "is not allowed in YAML" in found[0], found


@pytest.mark.parametrize("key", ["'[0]'", "'claims[0]'", "'[]'", "'[x'"])
def test_keys_that_look_like_brackets(tmp_path: Path, key: str) -> None:
    text = BASE_PAGE.replace("title: Base", f"title: Base\n{key}: 1").replace("base_claim", "other")
    root = write_desk(tmp_path / "desk", {"kb/p.md": text})
    found = [m for m in messages(root) if m.startswith("kb/p.md")]
    assert any(m.startswith("kb/p.md:3: ") and "unknown field" in m for m in found), found


def test_an_unreadable_folder_is_reported(tmp_path: Path) -> None:
    """Permissions do not stop root, so as root the reading happens in a forked process that has
    become the user nobody (the code is imported already; nothing is executed)."""
    base = Path(tempfile.mkdtemp(prefix="claimdesk-perm-", dir="/tmp"))
    try:
        os.chmod(base, 0o755)
        root = write_desk(base / "desk", {"kb/secret/hidden.md": BASE_PAGE.replace("base_claim", "hidden")})
        for folder, _, files in os.walk(base):
            os.chmod(folder, 0o755)
            for name in files:
                os.chmod(os.path.join(folder, name), 0o644)
        os.chmod(root / "kb" / "secret", 0o000)
        if os.geteuid() != 0:
            found = [str(p) for p in validate_desk(load_desk(root))]
        else:
            reading, writing = os.pipe()
            child = os.fork()
            if child == 0:  # pragma: no cover - runs in the child
                try:
                    nobody = pwd.getpwnam("nobody")
                    os.setgid(nobody.pw_gid)
                    os.setuid(nobody.pw_uid)
                    lines = [str(p) for p in validate_desk(load_desk(root))]
                    os.write(writing, "\n".join(lines).encode())
                finally:
                    os._exit(0)
            os.close(writing)
            with os.fdopen(reading, "rb") as pipe:
                found = pipe.read().decode().splitlines()
            os.waitpid(child, 0)
        assert "kb/secret/: cannot list this folder, so its pages are left out of the desk; make it readable " \
               "(or remove it)" in found, found
    finally:
        os.chmod(base / "desk" / "kb" / "secret", 0o755)
        shutil.rmtree(base)


# -- the store's commands ----------------------------------------------------------------------
@pytest.fixture
def checked(make_desk: Callable[..., Path]) -> Path:
    root = make_desk()
    assert CliRunner().invoke(main, ["check", str(root), "--today", "2026-11-22"]).exit_code == 0
    return root


@pytest.mark.parametrize("sql", ["", ";", "   ", " ; ;"])
def test_an_empty_query(checked: Path, sql: str) -> None:
    result = CliRunner().invoke(main, ["query", sql, "--desk", str(checked)])
    assert result.exit_code == 2 and result.output.startswith("claimdesk: the query is empty"), result.output


def test_query_json_is_json(checked: Path) -> None:
    result = CliRunner().invoke(main, ["query", "SELECT 'nan'::DOUBLE AS a, 'inf'::DOUBLE AS b, '-inf'::DOUBLE AS c, "
                                                "[1.5, 'nan'::DOUBLE] AS d, 2.5 AS e", "--format", "json",
                                       "--desk", str(checked)])
    assert result.exit_code == 0, result.output

    def refuse(constant: str) -> None:
        raise ValueError(constant)

    assert json.loads(result.output, parse_constant=refuse) == [{"a": None, "b": None, "c": None, "d": [1.5, None],
                                                                  "e": 2.5}]


def test_a_huge_query_is_capped(checked: Path) -> None:
    from claimdesk.store import MAX_QUERY_ROWS

    result = CliRunner().invoke(main, ["query", f"SELECT * FROM range({MAX_QUERY_ROWS * 200})", "--format", "csv",
                                       "--desk", str(checked)])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert len(lines) == MAX_QUERY_ROWS + 2  # the header, the rows, the note
    assert lines[-1].startswith(f"claimdesk: the result has more than {MAX_QUERY_ROWS} rows")


def test_history_of_bytes_that_are_not_text(checked: Path) -> None:
    done = subprocess.run([sys.executable, "-c", "from claimdesk.cli import main; main()", "history",
                           os.fsdecode(b"\xff\xfe"), "--desk", str(checked)], capture_output=True, timeout=120)
    output = (done.stdout + done.stderr).decode(errors="replace")
    assert done.returncode == 2 and "Traceback" not in output, output
    assert output.startswith("claimdesk: the name is not valid text")


@pytest.mark.parametrize("target", ["/dev/null", "{tmp}/afile/export", "/proc/claimdesk-export"])
def test_export_where_it_cannot(checked: Path, tmp_path: Path, target: str) -> None:
    (tmp_path / "afile").write_text("a file\n")
    result = CliRunner().invoke(main, ["export", target.format(tmp=tmp_path), "--desk", str(checked)])
    assert result.exit_code == 2 and result.output.startswith("claimdesk: cannot export to "), result.output
    assert len(result.output.strip().splitlines()) == 1

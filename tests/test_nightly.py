"""`claimdesk nightly` run again and again on a real desk with one change in between: the newly
failing and newly fixed claims, each cause line, the grouping and the exit code."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import jsonschema
import pytest
from click.testing import CliRunner

from claimdesk.cli import main

from .conftest import write_desk

PAGE = """\
---
title: Costs
claims:
  - id: cost40
    text: At batch 40 a million tokens costs about $2.19.
    stance: neutral
    sources: [src_a]
    as_of: 2026-05
    value: "{cost40}"
    unit: USD/Mtok
    metric: token_model.cost_per_mtok
    check: cost_per_mtok
  - id: margin40
    text: At batch 40 a million tokens earns about $0.81.
    stance: bull
    sources: [src_a]
    as_of: 2026-05
    value: "~0.81"
    unit: USD/Mtok
    check: margin_per_mtok
  - id: margin8
    text: At batch 8 a million tokens loses about $7.96.
    stance: bear
    sources: [src_a]
    as_of: 2026-05
    value: "~-7.96"
    unit: USD/Mtok
    check: margin_per_mtok
    given: {{batch: 8}}
  - id: revenue
    text: Revenue was 10 billion dollars.
    stance: neutral
    sources: [{revenue_source}]
    as_of: 2026-05
    value: {revenue}
    unit: USD bn
  - id: revenue_doubled
    text: Twice the revenue is 20 billion dollars.
    stance: bull
    sources: [src_a]
    as_of: 2026-05
    value: 20
    unit: USD bn
    check: revenue * 2
  - id: old_spend
    text: Spending was 5 billion dollars.
    stance: bear
    sources: [src_a]
    as_of: 2025-11
    value: 5
    unit: USD bn
  - id: spend_doubled
    text: Twice the old spending is 10 billion dollars.
    stance: neutral
    sources: [src_a]
    as_of: 2026-05
    value: 10
    unit: USD bn
    check: old_spend * 2
  - id: reviewed
    text: A figure to be reviewed by the end of November.
    stance: neutral
    sources: [src_a]
    as_of: 2026-05
    value: 3
    unit: USD bn
    review_by: 2026-11-30
  - id: spring_figure
    text: A spring figure.
    stance: neutral
    sources: [src_a]
    as_of: 2026-04
    value: 4
    unit: USD bn
---
# Costs
"""
SOURCES_B = """\
src_b:
  title: Another report
  publisher: Publisher B
  published: 2026-05
  kind: report
"""
TODAY = "2026-11-22"


def page(cost40: str = "~2.19", revenue: str = "10", revenue_source: str = "src_a") -> str:
    return PAGE.format(cost40=cost40, revenue=revenue, revenue_source=revenue_source)


@pytest.fixture
def desk(make_desk) -> Path:
    root = make_desk({"kb/costs.md": page()})
    sources = root / "data" / "sources.yaml"
    sources.write_text(sources.read_text(encoding="utf-8") + SOURCES_B, encoding="utf-8")
    return root


def nightly(root: Path, *extra: str, today: str = TODAY) -> tuple[int, dict]:
    result = CliRunner().invoke(main, ["nightly", str(root), "--today", today, "--format", "json", *extra])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code in (0, 1), result.stderr
    return result.exit_code, json.loads(result.stdout)


def ids(section: dict) -> list[str]:
    return [item["claim_id"] for item in section["items"]]


def first_causes(section: dict) -> dict[str, str]:
    return {item["claim_id"]: item["causes"][0]["text"] for item in section["items"]}


def groups(report: dict, section: str) -> list[tuple[str, list[str]]]:
    return [(g["cause"]["text"], g["claims"]) for g in report["cause_groups"] if g["section"] == section]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_model_parameter_edit_is_one_cause_for_many_claims_and_back(desk: Path) -> None:
    code, first = nightly(desk)
    assert code == 0 and first["previous_run_id"] is None and first["newly_failing"]["total"] == 0

    model = desk / "data" / "models" / "token_cost.yaml"
    edit(model, "    value: 3\n    unit: USD/Mtok", "    value: 2.5\n    unit: USD/Mtok")
    code, second = nightly(desk)
    assert code == 1 and second["previous_run_id"] == 1 and second["run_id"] == 2
    assert sorted(ids(second["newly_failing"])) == ["margin40", "margin8"]
    cause = "model parameter price_per_mtok: value 3 → 2.5 USD/Mtok"
    assert first_causes(second["newly_failing"]) == {"margin40": cause, "margin8": cause}
    assert groups(second, "newly_failing") == [(cause, ["margin8", "margin40"])] or \
        groups(second, "newly_failing") == [(cause, ["margin40", "margin8"])]
    typed = second["newly_failing"]["items"][0]["causes"][0]
    assert (typed["type"], typed["subject"], typed["field"], typed["old"], typed["new"]) == \
        ("input_changed", "price_per_mtok", "value", "3", "2.5")
    # The parameter's own result changed too (its stated value): the edit itself is its cause.
    assert first_causes(second["other_changes"])["price_per_mtok"] == "the parameter was edited: value 3 → 2.5 USD/Mtok"
    assert second["headline"]["deltas"]["mismatch"] == 2 and second["headline"]["deltas"]["ok"] == -2

    edit(model, "    value: 2.5\n    unit: USD/Mtok", "    value: 3\n    unit: USD/Mtok")
    code, third = nightly(desk)
    assert code == 0 and third["previous_run_id"] == 2
    assert sorted(ids(third["newly_fixed"])) == ["margin40", "margin8"]
    assert set(first_causes(third["newly_fixed"]).values()) == {"model parameter price_per_mtok: value 2.5 → 3 USD/Mtok"}
    assert third["newly_failing"]["total"] == 0
    # The model's key figures moved and moved back.
    margins = {f["quantity_id"]: f for f in third["model"]}["margin_per_mtok"]
    assert margins["previous"] == pytest.approx(2.5 - 2.1929824, abs=1e-6)
    assert margins["value"] == pytest.approx(3 - 2.1929824, abs=1e-6)
    assert margins["relative_change"] == pytest.approx((0.8070176 - 0.3070176) / 0.3070176, rel=1e-5)


def test_referenced_claim_edit_names_the_claim_and_its_page(desk: Path) -> None:
    nightly(desk)
    (desk / "kb" / "costs.md").write_text(page(revenue="12"), encoding="utf-8")
    code, report = nightly(desk)
    assert code == 1
    assert ids(report["newly_failing"]) == ["revenue_doubled"]
    assert first_causes(report["newly_failing"]) == {
        "revenue_doubled": "claim revenue (kb/costs.md): value 10 → 12 USD bn"}
    assert report["newly_failing"]["items"][0]["old_status"] == "ok"
    assert report["newly_failing"]["items"][0]["new_status"] == "mismatch"


def test_own_value_edit_and_still_failing_since(desk: Path) -> None:
    nightly(desk)
    (desk / "kb" / "costs.md").write_text(page(cost40="~2.50"), encoding="utf-8")
    code, second = nightly(desk)
    assert code == 1
    assert first_causes(second["newly_failing"]) == {"cost40": "the claim was edited: value ~2.19 → ~2.50 USD/Mtok"}
    cause = second["newly_failing"]["items"][0]["causes"][0]
    assert (cause["type"], cause["field"], cause["old"], cause["new"]) == ("claim_edited", "value", "~2.19", "~2.50")

    code, third = nightly(desk, today="2026-11-23")
    assert code == 1 and third["newly_failing"]["total"] == 0
    still = {item["claim_id"]: item for item in third["still_failing"]["items"]}
    assert still["cost40"]["since_run"] == 2 and still["cost40"]["since_day"] == TODAY


def test_removed_source_is_named_for_the_claims_citing_it(desk: Path) -> None:
    (desk / "kb" / "costs.md").write_text(page(revenue_source="src_b"), encoding="utf-8")
    nightly(desk)
    sources = desk / "data" / "sources.yaml"
    edit(sources, SOURCES_B, "")
    code, report = nightly(desk)
    assert code == 1 and report["format_errors"] == 1  # an unknown source is a format error
    assert first_causes(report["other_changes"]) == {"revenue": "source src_b was removed from data/sources.yaml"}
    assert report["other_changes"]["items"][0]["causes"][0]["type"] == "source_removed"


def test_a_date_passing_makes_claims_stale_with_the_day_it_happened(desk: Path) -> None:
    code, before = nightly(desk, "--fail-on", "stale,mismatch,conflict,error")
    assert code == 0
    going = {item["claim_id"]: item for item in before["going_stale"]["items"]}
    assert going["old_spend"]["stale_on"] == "2026-12-01"
    assert going["reviewed"]["stale_on"] == "2026-12-01"

    code, after = nightly(desk, "--fail-on", "stale,mismatch,conflict,error", today="2026-12-02")
    assert code == 1
    causes = first_causes(after["newly_failing"])
    assert causes["old_spend"] == "as_of 2025-11 went stale on 2026-12-01 (older than 12 months)"
    assert causes["reviewed"] == "review_by 2026-11-30 passed"
    assert causes["spend_doubled"] == \
        "claim old_spend (kb/costs.md): as_of 2025-11 went stale on 2026-12-01 (older than 12 months)"
    stale = [item["claim_id"] for item in after["stale"]["items"]]
    assert stale.index("old_spend") < stale.index("reviewed")  # oldest first
    assert {item["claim_id"]: item["stale_since"] for item in after["stale"]["items"]}["old_spend"] == "2026-12-01"


def test_desk_threshold_change_is_the_cause(desk: Path) -> None:
    nightly(desk)
    (desk / "data" / "desk.yaml").write_text("stale_after: {count: 6, period: month}\n", encoding="utf-8")
    code, report = nightly(desk)
    assert code == 0  # stale does not fail by default
    changed = first_causes(report["other_changes"])
    assert changed["spring_figure"] == "data/desk.yaml: stale_after 12 months → 6 months"
    assert changed["old_spend"] == "data/desk.yaml: stale_after 12 months → 6 months"
    group = [g for g in groups(report, "other_changes") if g[0] == "data/desk.yaml: stale_after 12 months → 6 months"]
    assert len(group) == 1 and {"old_spend", "spring_figure"} <= set(group[0][1])


def test_no_change_records_a_second_run_and_says_so(desk: Path) -> None:
    nightly(desk)
    code, report = nightly(desk)
    assert code == 0 and report["run_id"] == 2 and report["no_change"] is True
    assert report["newly_failing"]["total"] == report["newly_fixed"]["total"] == report["other_changes"]["total"] == 0
    markdown = (desk / "report" / "latest.md").read_text(encoding="utf-8")
    assert "No change since run 1" in markdown
    with duckdb.connect(str(desk / "data" / "claimdesk.duckdb"), read_only=True) as con:
        assert con.execute("SELECT run_id, previous_run_id, exit_code FROM reports ORDER BY run_id").fetchall() == \
            [(1, None, 0), (2, 1, 0)]
        stored = json.loads(con.execute("SELECT report FROM reports WHERE run_id = 2").fetchall()[0][0])
    assert stored["run_id"] == 2 and stored["no_change"] is True


def test_change_without_recorded_dependencies_says_so(desk: Path) -> None:
    nightly(desk)
    with duckdb.connect(str(desk / "data" / "claimdesk.duckdb")) as con:  # as a store from before schema 3
        con.execute("DELETE FROM run_context")
    (desk / "kb" / "costs.md").write_text(page(cost40="~2.50"), encoding="utf-8")
    _, report = nightly(desk)
    cause = report["newly_failing"]["items"][0]["causes"][0]
    assert cause["type"] == "not_recorded" and "run 1 was recorded without its dependencies" in cause["text"]


def test_report_validates_against_its_published_schema(desk: Path) -> None:
    schema = json.loads(CliRunner().invoke(main, ["schema", "--what", "report"]).stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    _, first = nightly(desk)
    (desk / "kb" / "costs.md").write_text(page(cost40="~2.50", revenue="12"), encoding="utf-8")
    _, second = nightly(desk)
    for report in (first, second, json.loads((desk / "report" / "latest.json").read_text(encoding="utf-8"))):
        jsonschema.validate(report, schema, cls=jsonschema.Draft202012Validator)
    assert second["format_version"] == 1
    broken = dict(second, headline="not an object")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema, cls=jsonschema.Draft202012Validator)


def test_files_sections_and_archive(desk: Path) -> None:
    nightly(desk)
    (desk / "kb" / "costs.md").write_text(page(cost40="~2.50"), encoding="utf-8")
    _, report = nightly(desk)
    folder = desk / "report"
    latest = (folder / "latest.md").read_text(encoding="utf-8")
    for heading in ("## Headline", "## Newly failing (1)", "## Newly fixed (0)", "## Still failing", "## Flip-flops",
                    "## Stale", "## Going stale within 30 days", "## Forecasts due", "## Conflicts between pages",
                    "## Bull vs bear by page", "## The model's key figures", "## Charts"):
        assert heading in latest, heading
    assert "the claim was edited: value &#126;2.19 → &#126;2.50 USD/Mtok" in latest
    summary = (folder / "summary.md").read_text(encoding="utf-8")
    assert summary.startswith("### claimdesk nightly: 2026-11-22, run 2") and "cost40" in summary
    index = (folder / "archive" / "index.md").read_text(encoding="utf-8")
    assert "[2026-11-22](2026-11-22-run-2.md)" in index and "[2026-11-22](2026-11-22-run-1.md)" in index
    assert (folder / "archive" / "2026-11-22-run-1.md").exists() and (folder / "archive" / "2026-11-22-run-2.json").exists()
    stances = {s["path"]: s for s in report["stances"]}["kb/costs.md"]
    assert (stances["bull"], stances["bear"]) == (2, 2)
    for chart in report["charts"]:
        assert (folder / chart["file"]).stat().st_size > 1000
    ordinary = folder / "ordinary.txt"
    ordinary.write_text("x", encoding="utf-8")
    assert (folder / "latest.md").stat().st_mode & 0o777 == ordinary.stat().st_mode & 0o777  # not 0600
    assert "1 claim (cost40)" in latest


def test_charts_are_identical_for_identical_data(tmp_path: Path) -> None:
    roots = [write_desk(tmp_path / name, {"kb/costs.md": page(cost40="~2.50")}) for name in ("one", "two")]
    reports = [nightly(root)[1] for root in roots]
    files = [chart["file"] for chart in reports[0]["charts"]]
    assert files == [chart["file"] for chart in reports[1]["charts"]]
    assert {chart["kind"] for chart in reports[0]["charts"]} >= {"status_history", "model_curve"}
    for name in files:
        one, two = ((root / "report" / name).read_bytes() for root in roots)
        assert one == two and one.startswith(b"<?xml") and b"<svg" in one and len(one) > 1000
    curve = reports[0]["chart_data"]["model_curve"]
    plotted = {c["claim_id"]: c for c in curve["claims"]}
    assert plotted["margin8"]["x"] == 8 and plotted["cost40"]["status"] == "mismatch"


def test_metric_with_three_dated_values_gets_a_chart(make_desk) -> None:
    claims = "".join(f"""
  - id: rev_{year}
    text: Revenue in {year}.
    stance: neutral
    sources: [src_a]
    as_of: {year}
    value: {value}
    unit: USD bn
    metric: acme.revenue
""" for year, value in ((2023, 1), (2024, 2), (2025, 4)))
    root = make_desk({"kb/acme.md": f"---\ntitle: Acme\nclaims:{claims}---\n# Acme\n"})
    _, report = nightly(root)
    series = report["chart_data"]["metrics"]
    assert [s["metric"] for s in series] == ["acme.revenue"]
    assert [p["as_of"] for p in series[0]["points"]] == ["2023", "2024", "2025"]
    chart = [c for c in report["charts"] if c["kind"] == "metric"][0]
    assert (root / "report" / chart["file"]).read_bytes().startswith(b"<?xml")


def test_plain_progress_lines_and_text_output(desk: Path) -> None:
    result = CliRunner().invoke(main, ["nightly", str(desk), "--today", TODAY])
    assert result.exit_code == 0
    assert "claimdesk nightly: checking the desk" in result.stderr
    assert "claimdesk nightly: drawing the charts" in result.stderr
    assert "recorded as run 1" in result.stderr
    assert "counts: 0 error, 0 mismatch" in result.stdout and "report written to" in result.stdout


def test_out_folder_and_unreadable_desk(desk: Path, tmp_path: Path) -> None:
    code, _ = nightly(desk, "--out", str(tmp_path / "elsewhere"))
    assert code == 0 and (tmp_path / "elsewhere" / "latest.md").exists()
    not_a_folder = tmp_path / "file.txt"
    not_a_folder.write_text("x", encoding="utf-8")
    refused = CliRunner().invoke(main, ["nightly", str(desk), "--today", TODAY, "--out", str(not_a_folder)])
    assert refused.exit_code == 2 and "the report folder cannot be written" in refused.stderr
    assert "Traceback" not in refused.output
    with duckdb.connect(str(desk / "data" / "claimdesk.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM runs").fetchall() == [(1,)]  # nothing recorded
    empty = tmp_path / "nothing"
    empty.mkdir()
    result = CliRunner().invoke(main, ["nightly", str(empty)])
    assert result.exit_code == 2 and "holds no kb/ folder" in result.stderr and "Traceback" not in result.output


def test_recorded_inputs_equal_the_desk_after_every_kind_of_run(desk: Path) -> None:
    """Runs record only the inputs of changed pages when they can (the latest run saw the pages as
    they were); what a run holds must still be every claim's, parameter's and quantity's fields."""
    from claimdesk.dependencies import _INPUTS_SQL

    def recorded_equals_desk() -> None:
        with duckdb.connect(str(desk / "data" / "claimdesk.duckdb"), read_only=True) as con:
            latest = con.execute("SELECT max(run_id) FROM runs").fetchall()[0][0]
            recorded = sorted(con.execute(
                "SELECT kind, input_id, path, line, fields FROM input_versions "
                "WHERE first_run <= ? AND coalesce(last_run, 2147483647) >= ?", [latest, latest]).fetchall())
            now = sorted(con.execute(_INPUTS_SQL.format(claim_filter="")).fetchall())
        assert recorded == now and len(now) > 10

    nightly(desk)
    recorded_equals_desk()
    (desk / "kb" / "costs.md").write_text(page(cost40="~2.50"), encoding="utf-8")
    nightly(desk)  # incremental
    recorded_equals_desk()
    (desk / "kb" / "other.md").write_text(page().replace("id: ", "id: other_"), encoding="utf-8")
    nightly(desk, today="2026-11-25")  # a new day: a full run, scoped to the changed page
    recorded_equals_desk()
    (desk / "kb" / "other.md").unlink()
    # An ingest between runs takes the change in: the next run compares every claim, not only its own changes.
    assert CliRunner().invoke(main, ["ingest", str(desk)]).exit_code == 0
    edit(desk / "data" / "models" / "token_cost.yaml", "    value: 3\n    unit: USD/Mtok", "    value: 4\n    unit: USD/Mtok")
    nightly(desk, today="2026-11-26")
    recorded_equals_desk()


def test_a_change_nothing_recorded_explains_is_reported_as_such(desk: Path) -> None:
    from claimdesk.kb import load_desk
    from claimdesk.model import build_model
    from claimdesk.report import build_report
    from claimdesk.store import Store

    nightly(desk)
    (desk / "kb" / "costs.md").write_text(page(cost40="~2.50"), encoding="utf-8")
    nightly(desk)
    with Store.open(desk / "data" / "claimdesk.duckdb", write=True) as store:
        # Make run 1's record of cost40 say what run 2's says: nothing recorded differs any more.
        store.select("""UPDATE input_versions SET fields = (SELECT fields FROM input_versions
                                                           WHERE input_id = 'cost40' AND first_run = 2)
                        WHERE input_id = 'cost40' AND first_run = 1""")
        store.select("DELETE FROM reports WHERE run_id = 2")
        report = build_report(store, 2, build_model(load_desk(desk, paths=[])))
    change = report.newly_failing.items[0]
    assert change.claim_id == "cost40"
    assert [(c.type, c.text) for c in change.causes] == [("no_recorded_reason", "changed for no recorded reason")]


def test_formats_print_the_summary_and_the_markdown(desk: Path) -> None:
    summary = CliRunner().invoke(main, ["nightly", str(desk), "--today", TODAY, "--format", "summary"])
    assert summary.exit_code == 0 and summary.stdout.startswith("### claimdesk nightly: 2026-11-22, run 1: 0 failing")
    markdown = CliRunner().invoke(main, ["nightly", str(desk), "--today", TODAY, "--format", "markdown"])
    assert markdown.exit_code == 0 and markdown.stdout.startswith("# Desk report: 2026-11-22")
    assert "No change since run 1" in markdown.stdout
    assert markdown.stdout.strip() == (desk / "report" / "latest.md").read_text(encoding="utf-8").strip()


@pytest.mark.parametrize("linked", ["report", "report/charts", "report/archive"])
def test_a_report_folder_that_is_a_link_is_refused(desk: Path, linked: str) -> None:
    """A committed `report -> kb` (or charts/archive linked elsewhere) must not make the nightly
    write or prune files where the link points."""
    victim = desk / "kb"
    before = {p: p.read_bytes() for p in victim.rglob("*") if p.is_file()}
    link = desk / linked
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(victim, target_is_directory=True)
    result = CliRunner().invoke(main, ["nightly", str(desk), "--today", TODAY])
    assert result.exit_code == 2 and "is a symbolic link" in result.stderr and "Traceback" not in result.output
    assert {p: p.read_bytes() for p in victim.rglob("*") if p.is_file()} == before

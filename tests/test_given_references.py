"""`given:` naming a claim on another page: the figure flows into every check that uses it, in the
parameter's unit; staleness follows it; explain credits the claim it came from; the store records
the reference as an edge; an incremental check after editing the figure equals a full one."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from claimdesk.explain import explain
from claimdesk.job import check_and_record
from claimdesk.kb import load_desk
from claimdesk.render import explanation_text

from .conftest import write_desk

TODAY = dt.date(2026, 11, 22)
FIGURE = """\
---
title: Rental prices
claims:
  - id: rented_node_cost_per_day
    text: Renting an 8-GPU node costs about $403 a day.
    stance: neutral
    sources: [src_a]
    as_of: {as_of}
    value: {value}
    unit: USD/day
---
"""
USERS = """\
---
title: Token costs
claims:
{claims}---
"""


def user(claim_id: str, value: str, batch: int) -> str:
    return (f"  - id: {claim_id}\n    text: At batch {batch} a rented node makes tokens cheaply.\n"
            f"    stance: neutral\n    sources: [divergent_token_economics]\n    as_of: 2026\n"
            f"    value: \"{value}\"\n    unit: USD/Mtok\n    check: cost_per_mtok\n"
            f"    given: {{node_cost_per_hour: rented_node_cost_per_day, batch: {batch}}}\n")


def desk(tmp_path: Path, value: str = "403.2", as_of: str = "2026-05") -> Path:
    users = user("rented_cost_batch40", "~1.23", 40) + user("rented_cost_batch8", "~6.14", 8)
    return write_desk(tmp_path / "desk", {"kb/rent.md": FIGURE.format(value=value, as_of=as_of),
                                          "kb/costs.md": USERS.format(claims=users)})


def test_a_figure_flows_into_every_check_that_names_it(tmp_path: Path) -> None:
    root = desk(tmp_path)
    run = check_and_record(root, tmp_path / "store.duckdb", TODAY).run.by_id()
    assert run["rented_cost_batch40"].status == "ok", run["rented_cost_batch40"].reason  # 403.2/day = 16.8/h
    assert run["rented_cost_batch8"].status == "ok", run["rented_cost_batch8"].reason
    assert "rented_node_cost_per_day" in run["rented_cost_batch40"].depends_on

    desk(tmp_path, value="480")  # 20 USD/h: both users disagree now, not only one copy
    outcome = check_and_record(root, tmp_path / "store.duckdb", TODAY)
    assert outcome.incremental is not None
    results = outcome.run.by_id()
    assert results["rented_cost_batch40"].status == "mismatch"
    assert "recomputed 1.462 USD/Mtok" in results["rented_cost_batch40"].reason
    assert results["rented_cost_batch8"].status == "mismatch"
    full = check_and_record(root, tmp_path / "fresh.duckdb", TODAY, incremental=False)
    assert outcome.run.results == full.run.results


def test_staleness_follows_a_given_reference(tmp_path: Path) -> None:
    root = desk(tmp_path, as_of="2024-01")
    results = check_and_record(root, tmp_path / "store.duckdb", TODAY).run.by_id()
    assert results["rented_node_cost_per_day"].status == "stale"
    assert results["rented_cost_batch40"].status == "stale"
    assert results["rented_cost_batch40"].reason == "depends on stale rented_node_cost_per_day"


def test_the_store_records_the_reference(tmp_path: Path) -> None:
    root = desk(tmp_path)
    check_and_record(root, tmp_path / "store.duckdb", TODAY)
    with duckdb.connect(str(tmp_path / "store.duckdb"), read_only=True) as con:
        rows = con.execute("SELECT claim_id, check_names, given_refs, given FROM claims "
                           "WHERE claim_id = 'rented_cost_batch40'").fetchall()
    assert rows == [("rented_cost_batch40", ["cost_per_mtok", "rented_node_cost_per_day"],
                     {"node_cost_per_hour": "rented_node_cost_per_day"}, {"batch": 40.0})]


def test_explain_credits_the_figure_not_the_parameter(tmp_path: Path) -> None:
    text = explanation_text(explain(load_desk(desk(tmp_path)), "rented_cost_batch40", TODAY))
    line = next(line for line in text.splitlines() if line.strip().startswith("node_cost_per_hour"))
    assert "16.8 USD/h" in line and "[kb/rent.md:4]" in line
    assert "given from claim rented_node_cost_per_day, stated 403.2 USD/day" in line
    assert line.endswith("sources: src_a")  # the parameter's own source is not credited
    batch = next(line for line in text.splitlines() if line.strip().startswith("batch "))
    assert "given as 40 by this claim" in batch and "[kb/costs.md:4]" in batch

# Two entry points (see README): `make desk` and `make test`. Both install what they need first.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
STAMP = $(VENV)/.installed-stamp
# mkdocs-material prints a banner about MkDocs 2 on every build; this desk pins mkdocs<2 (see kb/guide/site.md).
export NO_MKDOCS_2_WARNING = 1

.PHONY: desk test install site clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# The desk's main job on the bundled desk: validate the format, run the nightly (check every
# claim, record the run, write the report into report/), then build the site into site/.
# Findings (mismatch, conflict, stale, ...) are reported; only an unreadable desk or a claim that
# cannot be computed (status error) fails the job.
desk: $(STAMP)
	$(BIN)/claimdesk validate
	$(BIN)/claimdesk nightly --fail-on error
	$(BIN)/mkdocs build --quiet --strict

test: $(STAMP)
	$(BIN)/ruff check src tests scripts
	$(BIN)/mypy
	$(BIN)/pytest

# The published wiki (kb/guide/site.md). The claimdesk plugin checks the desk first (creating the
# store on a fresh clone), so every page shows the statuses of a run of this very desk.
site: $(STAMP)
	$(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) site build .pytest_cache .mypy_cache .ruff_cache data/claimdesk.duckdb*

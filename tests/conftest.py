"""Shared fixtures: tiny real desks in temporary folders."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
MODEL_FILE = REPO / "data" / "models" / "token_cost.yaml"

BASE_SOURCES = """\
src_a:
  title: A report
  publisher: Publisher A
  published: 2026-05
  kind: report
divergent_token_economics:
  title: The economics of a token
  publisher: Divergent Compute
  published: 2026
  kind: report
tokenalysis_john_henry:
  title: tokenalysis and john henry
  author: A blogger
  published: 2026-05
  kind: blog
"""

BASE_PAGE = """\
---
title: Base
claims:
  - id: base_claim
    text: A base claim citing the base source.
    stance: neutral
    sources: [src_a]
    as_of: 2026-05
    value: 10
    unit: USD bn
---
# Base
"""


def write_desk(root: Path, files: dict[str, str | bytes], base: bool = True) -> Path:
    """A desk in `root`: the base files (sources, the real model, one page) overlaid by `files`.
    A value of None in `files` deletes a base file."""
    (root / "kb").mkdir(parents=True, exist_ok=True)
    (root / "data" / "models").mkdir(parents=True, exist_ok=True)
    if base:
        (root / "data" / "sources.yaml").write_text(BASE_SOURCES, encoding="utf-8")
        shutil.copy(MODEL_FILE, root / "data" / "models" / "token_cost.yaml")
        (root / "kb" / "base.md").write_text(BASE_PAGE, encoding="utf-8")
    for rel, content in files.items():
        path = root / rel
        if content is None:
            path.unlink(missing_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_bytes(content.encode("utf-8"))
    return root


@pytest.fixture
def make_desk(tmp_path: Path) -> Callable[..., Path]:
    """make_desk({"kb/page.md": "..."}) -> the desk's root folder."""

    def make(files: dict[str, str | bytes] | None = None, base: bool = True) -> Path:
        return write_desk(tmp_path / "desk", files or {}, base)

    return make

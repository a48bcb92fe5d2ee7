"""Precision and recall of the duplicate detector on tests/duplicates/pairs.yaml, at a few thresholds.

Run: .venv/bin/python scripts/duplicate_scores.py [THRESHOLD ...]   (default: 65 72 80)
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from claimdesk import duplicates

PAIRS = Path(__file__).resolve().parent.parent / "tests" / "duplicates" / "pairs.yaml"
EXPECTED = {"identical": "duplicate", "paraphrase": "duplicate", "different_number": "conflict"}


def main(thresholds: list[float]) -> None:
    pairs = yaml.safe_load(PAIRS.read_text(encoding="utf-8"))["pairs"]
    for threshold in thresholds:
        got = []
        for pair in pairs:
            found = duplicates.near_duplicates(pair["a"], [pair["b"]], threshold=threshold)
            got.append((EXPECTED.get(pair["kind"]), found[0].kind if found else None))
        parts = []
        for kind in ("duplicate", "conflict"):
            hits = sum(1 for want, have in got if want == kind and have == kind)
            flagged = sum(1 for _, have in got if have == kind)
            wanted = sum(1 for want, _ in got if want == kind)
            parts.append(f"{kind}: precision {hits}/{flagged} = {hits / max(flagged, 1):.3f}, "
                         f"recall {hits}/{wanted} = {hits / wanted:.3f}")
        print(f"threshold {threshold:g}, {len(pairs)} pairs: " + "; ".join(parts))


if __name__ == "__main__":
    main([float(t) for t in sys.argv[1:]] or [65.0, duplicates.THRESHOLD, 80.0])

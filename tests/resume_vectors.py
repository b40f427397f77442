"""The shared resume vectors (tests/data/resume_vectors.json) and how to compare a client's decisions with them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["VECTORS", "VECTORS_PATH", "as_lists", "case_ids"]

VECTORS_PATH = Path(__file__).resolve().parent / "data" / "resume_vectors.json"
VECTORS: dict[str, Any] = json.loads(VECTORS_PATH.read_text())


def as_lists(decisions: Any) -> list[list[Any]]:
    """Decisions as the vectors write them: ``[action, topic]`` plus the value when there is one."""
    return [[d.action, d.topic] + ([] if d.value is None else [d.value]) for d in decisions]


def case_ids() -> list[str]:
    """The case names, for pytest ids."""
    return [case["name"] for case in VECTORS["cases"]]

"""The Python client's resume rules pass the shared vectors (the dashboard passes the same ones in Chromium)."""

from __future__ import annotations

import random
from typing import Any

import pytest
from resume_vectors import VECTORS, as_lists, case_ids

from rxstream.client import DEFAULT_BACKOFF
from rxstream.operators import Backoff
from rxstream.resume import ResumeState


@pytest.mark.parametrize("case", VECTORS["cases"], ids=case_ids())
def test_resume_vectors(case: dict[str, Any]) -> None:
    state = ResumeState()
    for n, step in enumerate(case["steps"]):
        if "resume" in step:
            ask = step["resume"]
            got: Any = state.resume(ask["topics"], backfill=ask["backfill"])
            assert got == step["expect"], f"step {n}: resume {ask}"
        else:
            assert as_lists(state.receive(step["in"])) == step["out"], f"step {n}: {step['in']}"


class _Draw(random.Random):
    """A random source whose every draw is ``u``."""

    def __init__(self, u: float) -> None:
        super().__init__()
        self.u = u

    def random(self) -> float:
        return self.u


@pytest.mark.parametrize("case", VECTORS["backoff"]["cases"], ids=lambda c: f"attempt {c['attempt']} u {c['u']}")
def test_backoff_vectors(case: dict[str, Any]) -> None:
    backoff = Backoff(**VECTORS["backoff"]["parameters"], rng=_Draw(case["u"]))
    assert backoff.delay(case["attempt"]) == pytest.approx(case["delay"], rel=1e-12)


def test_the_client_reconnects_with_the_specified_backoff() -> None:
    params = VECTORS["backoff"]["parameters"]
    assert (DEFAULT_BACKOFF.initial, DEFAULT_BACKOFF.factor, DEFAULT_BACKOFF.maximum, DEFAULT_BACKOFF.jitter) == (
        params["initial"], params["factor"], params["maximum"], params["jitter"])


def test_exec_ids_are_forgotten_oldest_first_past_the_limit() -> None:
    state = ResumeState(max_exec_ids=2)
    state.receive({"type": "subscribed", "topic": "t", "policy": "lossless", "seq": 0, "epoch": "e"})
    for seq, exec_id in enumerate(["A", "B", "C", "A", "C"], start=1):
        message = {"type": "data", "topic": "t", "seq": seq, "epoch": "e", "data": {"exec_id": exec_id}}
        decisions = state.receive(message)
        assert len(decisions) == 1
    assert state.duplicates == 1  # A was forgotten when C came; the second C is held

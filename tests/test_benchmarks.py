"""Every script in ``benchmarks/`` runs to the end with its quickest arguments and prints its figures.

``make bench`` is how a reader checks the README's table; a script broken by a change
elsewhere (a helper it imports, an API it drives) fails here, not in someone's hands.
No figure is asserted: the machine is shared, and performance claims live in the scripts.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from redis_support import require_redis_server

ROOT = Path(__file__).resolve().parent.parent

QUICK = {
    "pipeline.py": (["--ticks", "20000", "--runs", "1"], ["end-to-end", "engine-only", "parsing", "ratio"]),
    "fanout.py": (["--clients", "5", "--seconds", "0.5", "--repeat", "1", "--capacity", "0", "--idle", "20"],
                  ["gateway", "baseline", "ratio", "idle memory"]),
    "ibkr.py": (["--ticks", "2000", "--paced", "200", "--rate", "1000", "--runs", "1"],
                ["median by wall", "median by cpu"]),
    "backtest.py": (["--ticks", "20000", "--runs", "1"], []),
    "scaleout.py": (["--clients", "5", "--seconds", "0.5", "--repeat", "1"], ["memory", "redis x1", "redis x2"]),
}


@pytest.mark.parametrize("script", sorted(QUICK))
def test_benchmark_runs_with_its_quickest_arguments(script: str) -> None:
    if script == "scaleout.py":
        require_redis_server()
    args, expected = QUICK[script]
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{script} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    assert result.stdout.strip(), f"{script} printed nothing"
    for text in expected:
        assert text in result.stdout, f"{script} did not print {text!r}:\n{result.stdout}"


def test_every_benchmark_script_is_covered() -> None:
    assert sorted(p.name for p in (ROOT / "benchmarks").glob("*.py")) == sorted(QUICK)

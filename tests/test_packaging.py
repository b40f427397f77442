"""Building the package ships its data files and prints no setuptools warning about them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from test_docs_commands import COPY_IGNORE, ROOT


def test_the_build_ships_the_data_and_warns_about_nothing(tmp_path: Path) -> None:
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=COPY_IGNORE, symlinks=True)
    built = tmp_path / "lib"
    result = subprocess.run(
        [sys.executable, "-W", "always", "-c", "from setuptools import setup; setup()", "-q",
         "build_py", "--build-lib", str(built)],
        cwd=source, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    for noise in ("would be ignored", "Warning", "deprecated"):
        assert noise not in result.stdout + result.stderr, result.stdout + result.stderr
    package = built / "rxstream"
    assert (package / "py.typed").is_file()
    assert sorted(p.name for p in (package / "data").glob("*.jsonl.gz"))  # the bundled sessions
    assert (package / "gateway" / "static" / "index.html").is_file()
    assert (package / "builtin_pipelines" / "price_updates.py").is_file()
    assert not list(package.rglob("__pycache__"))

"""Code and docs cite only files in this repository."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTSIDE = ("DESIGN.md", "DESIGN §", "../shared")


def test_code_and_docs_cite_no_file_outside_the_repository() -> None:
    cited = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for folder in ("rxstream", "pipelines", "docs", "tests", "benchmarks")
        for path in sorted((ROOT / folder).rglob("*"))
        if path.suffix in (".py", ".md", ".js", ".html", ".toml", ".json")
        and "builtin_pipelines" not in path.parts and path.name != "test_citations.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if any(word in line for word in OUTSIDE)
    ]
    cited += [f"README.md:{n}" for n, line in enumerate((ROOT / "README.md").read_text().splitlines(), 1)
              if any(word in line for word in OUTSIDE)]
    assert cited == []

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


def test_every_file_the_docs_and_code_cite_exists() -> None:
    """A Markdown link, or a ``docs/…``/``tests/…`` path named in the package, points at a file we ship."""
    import re

    missing = []
    docs = [*ROOT.glob("*.md"), *(ROOT / "docs").rglob("*.md"), *(ROOT / "pipelines").glob("*.md")]
    for path in sorted(docs):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", line):
                if not re.match(r"^[a-z]+:", target) and not (path.parent / target).exists():
                    missing.append(f"{path.relative_to(ROOT)}:{number}: {target}")
    code = [*(ROOT / "rxstream").rglob("*.py"), *(ROOT / "pipelines").glob("*.py"), *(ROOT / "benchmarks").glob("*.py")]
    named = re.compile(r"\b((?:docs|tests|benchmarks|pipelines|rxstream)/[\w./-]+\.(?:md|py|json|js|html|csv))\b")
    for path in sorted(code):
        if "builtin_pipelines" in path.parts:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            where = f"{path.relative_to(ROOT)}:{number}"
            missing += [f"{where}: {target}" for target in named.findall(line) if not (ROOT / target).exists()]
    assert missing == []

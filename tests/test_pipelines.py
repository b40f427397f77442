from __future__ import annotations

from pathlib import Path

import pytest

from rxstream.errors import PipelineLoadError
from rxstream.pipelines import Pipeline, builtin_pipelines_dir, load_pipelines

EXAMPLE = '''
from rxstream import Pipeline
from rxstream import operators as rxo


def build(ctx):
    return ctx.source("ticks").pipe(rxo.only_symbols({"EURUSD"}))


pipeline = Pipeline("eurusd_ticks", build, sources=("ticks",))
'''


def test_the_shipped_pipelines_are_found() -> None:
    names = {p.name for p in load_pipelines(builtin_pipelines_dir())}
    assert {"price_updates", "portfolio_updates", "signals", "trade_executions", "ma_crossover"} <= names


def test_a_new_module_is_a_new_pipeline(tmp_path: Path) -> None:
    (tmp_path / "eurusd.py").write_text(EXAMPLE)
    (tmp_path / "_helpers.py").write_text("raise RuntimeError('private modules are not loaded')")
    [pipeline] = load_pipelines(tmp_path)
    assert (pipeline.name, pipeline.topic) == ("eurusd_ticks", "eurusd_ticks")
    assert pipeline.origin == str(tmp_path / "eurusd.py")


def test_the_default_folder_is_the_working_directorys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert {p.name for p in load_pipelines()} >= {"price_updates"}  # no ./pipelines: the shipped ones
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "eurusd.py").write_text(EXAMPLE)
    assert [p.name for p in load_pipelines()] == ["eurusd_ticks"]


@pytest.mark.parametrize(
    ("source", "line", "reason"),
    [
        ("x = 1\ndef build(ctx)\n    pass\n", 2, "syntax error"),
        ("import os\n\nvalue = 1 / 0\n", 3, "ZeroDivisionError: division by zero"),
        ("from rxstream import Pipeline\npipeline = Pipeline('Bad Name', print)\n", 2, "pipeline name 'Bad Name'"),
        ("x = 1\n", None, "declares neither"),
        ("pipeline = 42\n", None, "expected a Pipeline, got int"),
    ],
)
def test_a_broken_module_names_file_and_line(tmp_path: Path, source: str, line: int | None, reason: str) -> None:
    path = tmp_path / "broken.py"
    path.write_text(source)
    with pytest.raises(PipelineLoadError) as caught:
        load_pipelines(tmp_path)
    assert caught.value.path == str(path)
    assert caught.value.line == line
    assert reason in str(caught.value)
    assert str(caught.value).startswith(f"{path}:{line}: " if line else f"{path}: ")


def test_duplicate_names_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(EXAMPLE)
    (tmp_path / "b.py").write_text(EXAMPLE)
    with pytest.raises(PipelineLoadError, match="'eurusd_ticks' is already declared in"):
        load_pipelines(tmp_path)


def test_declarations_are_checked() -> None:
    with pytest.raises(ValueError, match="state pipeline needs key"):
        Pipeline("p", print, policy="state")
    with pytest.raises(ValueError, match="policy must be"):
        Pipeline("p", print, policy="fast")  # type: ignore[arg-type]
    assert Pipeline("p", print, sources="ticks").sources == ("ticks",)  # type: ignore[arg-type]
    assert Pipeline("p", print, publish=False, feeds="signals").topic is None


def test_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(PipelineLoadError, match="not a directory"):
        load_pipelines(tmp_path / "missing")

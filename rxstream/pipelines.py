"""Pipeline declarations and the discovery of a pipelines folder.

A pipeline is a module-level :class:`Pipeline` in a ``.py`` file of a
pipelines folder: drop a file there and the engine publishes a new topic,
with no change to the engine. A file declares ``pipeline = Pipeline(...)``
or ``pipelines = [Pipeline(...), ...]``::

    from rxstream import Pipeline, PipelineContext
    from rxstream import operators as rxo

    def build(ctx: PipelineContext):
        return ctx.source("ticks").pipe(
            rxo.only_symbols({"EURUSD"}),
            rxo.conflate(1.0, key=lambda tick: tick.symbol),
        )

    pipeline = Pipeline("eurusd_1s", build, sources=("ticks",), policy="state",
                        key=lambda tick: tick.symbol)

A broken file raises :class:`~rxstream.errors.PipelineLoadError` naming the
file and line.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import traceback
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any, Literal

from reactivex import Observable, abc

from .errors import ArgumentError, ArgumentTypeError, ConfigError, PipelineLoadError, UnknownNameError
from .health import HealthMonitor
from .hub import Hub

__all__ = ["Pipeline", "PipelineContext", "builtin_pipelines_dir", "load_pipelines", "parse_settings", "with_feeders"]

_NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
_load_ids = count()


@dataclass(frozen=True)
class Pipeline:
    """A named stream: which sources it reads and how it turns them into output.

    Attributes:
        name: Unique name; also the topic clients subscribe to (unless ``topic`` says otherwise).
        build: ``build(ctx) -> Observable``; called once each time the engine starts the pipeline.
        sources: Names of the engine sources it reads (``ticks``, ``positions``, ``fills``, ``signals``...).
        policy: ``"state"`` (latest per key matters: prices, positions) or ``"lossless"`` (every value).
        key: For state topics, the key of a value (e.g. its symbol).
        topic: The topic its output is published on; ``None`` with ``publish=False``.
        publish: Publish the output as a topic (an evaluator that only feeds a source may not).
        feeds: Push the output into this engine source as well (e.g. an evaluator feeding ``signals``).
        description: One line for the status route and ``rxstream pipelines``.
        stale_after: Seconds without output after which the stream is unhealthy: ``"default"`` (the
            server's ``stale_after`` setting, 300 s) for streams that should tick, a number of its own,
            or ``None`` for an event stream that may be quiet for hours (fills, signals). The
            ``stream_stale_after`` setting overrides it per stream.
    """

    name: str
    build: Callable[[PipelineContext], Observable[Any]]
    sources: tuple[str, ...] = ()
    policy: Literal["state", "lossless"] = "lossless"
    key: Callable[[Any], Hashable] | None = None
    topic: str | None = None
    publish: bool = True
    feeds: str | None = None
    description: str = ""
    stale_after: float | Literal["default"] | None = "default"
    origin: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        where = f"pipeline {self.name!r}"
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            rule = "use lowercase letters, digits, '_', '.', '-' (at most 64)"
            raise ArgumentError(f"pipeline name {self.name!r}", rule)
        if self.policy not in ("state", "lossless"):
            raise ArgumentError(where, f"policy must be 'state' or 'lossless', got {self.policy!r}")
        if self.policy == "state" and self.key is None:
            raise ArgumentError(where, "a state pipeline needs key=...")
        if not callable(self.build):
            raise ArgumentTypeError(where, "build must be callable")
        if self.key is not None and not callable(self.key):
            raise ArgumentTypeError(where, "key must be callable")
        if self.stale_after not in (None, "default"):
            stale = self.stale_after
            if isinstance(stale, bool) or not isinstance(stale, int | float) or not 0 < stale < 1e9:
                raise ArgumentError(where, f"stale_after must be seconds (< 1e9), None or 'default', not {stale!r}")
        if isinstance(self.sources, str):
            object.__setattr__(self, "sources", (self.sources,))
        if self.topic is None and self.publish:
            object.__setattr__(self, "topic", self.name)


@dataclass(frozen=True)
class PipelineContext:
    """What a pipeline's ``build`` gets: its sources, the scheduler, health and settings."""

    pipeline: Pipeline
    scheduler: abc.SchedulerBase
    health: HealthMonitor
    settings: Mapping[str, Any]
    sources: Mapping[str, Hub[Any]]

    def source(self, name: str) -> Hub[Any]:
        """The engine source ``name``; it must be listed in the pipeline's ``sources``."""
        if name not in self.pipeline.sources:
            raise UnknownNameError(
                "source", name, f"pipeline {self.pipeline.name!r} reads it but does not declare it in sources"
            )
        return self.sources[name]

    def setting(self, name: str, default: Any) -> Any:
        """A setting by name (e.g. ``price_update_interval``), else ``default``."""
        return self.settings.get(name, default)


def parse_settings(pairs: Iterable[str], *, origin: str = "--set") -> dict[str, Any]:
    """``["ma_fast=10", "label=x"]`` → ``{"ma_fast": 10, "label": "x"}`` (ints, then floats, else text)."""
    settings: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ConfigError(origin, f"expected NAME=VALUE, got {pair!r}")
        value: Any = text.strip()
        for cast in (int, float):
            try:
                value = cast(value)
                break
            except ValueError:
                continue
        settings[name] = value
    return settings


def builtin_pipelines_dir() -> Path:
    """The folder of the pipelines that ship with rxstream."""
    from . import builtin_pipelines

    return Path(builtin_pipelines.__file__).parent


def with_feeders(pipelines: Mapping[str, Pipeline], name: str) -> list[Pipeline]:
    """The pipeline ``name`` and every pipeline that feeds a source it reads, transitively, in ``pipelines`` order.

    What a replay or a backtest of ``name`` must run: ``signals`` needs the evaluator that feeds it.
    """
    chosen = {name}
    frontier = [name]
    while frontier:
        wanted = set(pipelines[frontier.pop()].sources)
        for other in pipelines.values():
            if other.feeds in wanted and other.name not in chosen:
                chosen.add(other.name)
                frontier.append(other.name)
    return [p for n, p in pipelines.items() if n in chosen]


def load_pipelines(directory: str | Path | None = None) -> list[Pipeline]:
    """Import every ``*.py`` of ``directory`` (default: ``./pipelines`` if present, else the built-in ones).

    Files starting with ``_`` are skipped. Each load imports the modules
    afresh under a private name, so two engines never share module state.
    """
    if directory is None:
        local = Path("pipelines")
        directory = local if local.is_dir() and any(local.glob("[!_]*.py")) else builtin_pipelines_dir()
    folder = Path(directory)
    if not folder.is_dir():
        raise PipelineLoadError(str(folder), None, "not a directory")
    found: list[Pipeline] = []
    names: dict[str, str] = {}
    package = f"_rxstream_pipelines_{next(_load_ids)}"
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_"):
            continue
        for pipeline in _load_file(path, package):
            if pipeline.name in names:
                raise PipelineLoadError(
                    str(path), None, f"pipeline {pipeline.name!r} is already declared in {names[pipeline.name]}"
                )
            names[pipeline.name] = str(path)
            found.append(pipeline)
    return found


def _load_file(path: Path, package: str) -> Iterable[Pipeline]:
    module_name = f"{package}.{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise PipelineLoadError(str(path), None, "cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as error:
        raise PipelineLoadError(str(path), error.lineno, f"syntax error: {error.msg}") from error
    except Exception as error:
        raise PipelineLoadError(str(path), _line_in(path, error), f"{type(error).__name__}: {error}") from error
    finally:
        sys.modules.pop(module_name, None)
    declared: list[Any]
    if hasattr(module, "pipelines"):
        declared = list(module.pipelines)
    elif hasattr(module, "pipeline"):
        declared = [module.pipeline]
    else:
        raise PipelineLoadError(str(path), None, "declares neither `pipeline = Pipeline(...)` nor `pipelines = [...]`")
    for item in declared:
        if not isinstance(item, Pipeline):
            raise PipelineLoadError(str(path), None, f"expected a Pipeline, got {type(item).__name__}")
    return [_with_origin(p, path) for p in declared]


def _with_origin(pipeline: Pipeline, path: Path) -> Pipeline:
    object.__setattr__(pipeline, "origin", str(path))
    return pipeline


def _line_in(path: Path, error: BaseException) -> int | None:
    """The deepest line of ``path`` in the error's traceback."""
    line = None
    for frame in traceback.extract_tb(error.__traceback__):
        if Path(frame.filename).resolve() == path.resolve():
            line = frame.lineno
    return line

"""One place wires the system: the gateway serves a Backend and never imports the engine, replay or IBKR."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from rxstream.backend import StaticBackend
from rxstream.bus import InMemoryBus
from rxstream.errors import ConfigError
from rxstream.pipelines import builtin_pipelines_dir
from rxstream.settings import Settings
from rxstream.wiring import EngineBackend, engine_backend, pipelines_folder

PACKAGE = Path(__file__).resolve().parents[1] / "rxstream"
FORBIDDEN = ("rxstream.replay", "rxstream.ibkr", "rxstream.engine", "rxstream.wiring")


def import_graph() -> dict[str, set[str]]:
    """Every rxstream module → the rxstream modules it imports (at the top or inside functions)."""
    modules: dict[str, Path] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            found: list[str] = []
            if isinstance(node, ast.Import):
                found = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(here[: len(here) - node.level + 1] + ([node.module] if node.module else []))
                found = [f"{base}.{alias.name}" for alias in node.names]
            for target in found:
                while target not in modules and "." in target:
                    target = target.rsplit(".", 1)[0]
                if target in modules and target not in (name, "rxstream"):
                    targets.add(target)
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_the_package_has_no_import_cycle() -> None:
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_gateway_package_reaches_neither_engine_nor_feeds_through_any_import() -> None:
    graph = import_graph()
    reached: set[str] = set()
    todo = [name for name in graph if name == "rxstream.gateway" or name.startswith("rxstream.gateway.")]
    while todo:
        name = todo.pop()
        if name not in reached:
            reached.add(name)
            todo.extend(graph[name])
    assert sorted(m for m in reached if m.startswith(FORBIDDEN)) == []


def test_importing_the_gateway_loads_neither_engine_nor_feeds() -> None:
    # rxstream/__init__.py imports the engine for the public face, so load the package without
    # running it: what remains in sys.modules is what the gateway itself imports.
    script = f"""
import importlib, importlib.util, pkgutil, sys, types
spec = importlib.util.find_spec("rxstream")
package = types.ModuleType("rxstream")
package.__path__ = list(spec.submodule_search_locations)
sys.modules["rxstream"] = package
import rxstream.gateway
for info in pkgutil.iter_modules(rxstream.gateway.__path__, "rxstream.gateway."):
    importlib.import_module(info.name)
print(sorted(m for m in sys.modules if m.startswith({FORBIDDEN!r})))
print(sorted(m for m in sys.modules if m.startswith("rxstream.gateway.")))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    forbidden, loaded = result.stdout.splitlines()
    assert forbidden == "[]"
    assert "rxstream.gateway.app" in loaded


def test_pipelines_come_from_settings_never_from_the_working_directory(tmp_path, monkeypatch) -> None:
    local = tmp_path / "pipelines"
    local.mkdir()
    (local / "mine.py").write_text("raise RuntimeError('the working directory was searched')\n")
    monkeypatch.chdir(tmp_path)
    assert pipelines_folder(Settings()) == builtin_pipelines_dir()
    assert "price_updates" in engine_backend(Settings()).engine.pipelines
    assert pipelines_folder(Settings(pipelines=str(local))) == local
    with pytest.raises(ConfigError, match="no such folder"):
        pipelines_folder(Settings(pipelines=str(tmp_path / "missing")))


def test_pipeline_settings_carry_the_intervals() -> None:
    backend = engine_backend(Settings(pipeline_settings=("price_update_interval=0.5", "ma_fast=7")))
    assert isinstance(backend, EngineBackend)
    assert backend.engine.settings["price_update_interval"] == 0.5
    assert backend.engine.settings["portfolio_update_interval"] == 5.0  # the status contract's default
    assert backend.engine.settings["ma_fast"] == 7
    assert dict(backend.pipeline_settings) == dict(backend.engine.settings)
    assert StaticBackend(InMemoryBus()).pipeline_settings["price_update_interval"] == 3.0


async def test_status_reads_the_intervals_from_the_pipeline_settings(aiohttp_client) -> None:
    from rxstream.gateway.app import create_app

    settings = Settings(pipeline_settings=("price_update_interval=0.5",))
    client = await aiohttp_client(create_app(settings, backend=engine_backend(settings)))
    body = await (await client.get("/websocket/status")).json()
    assert (body["price_update_interval"], body["portfolio_update_interval"]) == (0.5, 5.0)
    assert "price_updates" in body["stream_health"]


async def test_the_ibkr_feed_is_handed_over_typed() -> None:
    from rxstream.ibkr.source import IBKRFeed

    backend = engine_backend(Settings(ibkr="127.0.0.1:7497"))
    assert isinstance(backend.ibkr, IBKRFeed) and backend.replay is None
    assert backend.feeds == [backend.ibkr]
    replayed = engine_backend(Settings())
    assert replayed.ibkr is None and replayed.feeds == [replayed.replay]


def test_the_in_memory_server_needs_no_redis() -> None:
    script = """
import sys
from rxstream.gateway.app import create_app
from rxstream.settings import Settings
from rxstream.wiring import engine_backend
import rxstream.processes
settings = Settings()
create_app(settings, backend=engine_backend(settings))
redis = ("redis.", "rxstream.redisbus", "rxstream.scaleout")
print(sorted(m for m in sys.modules if m == "redis" or m.startswith(redis)))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"

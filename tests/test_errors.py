"""One exception root: every configuration or usage mistake raises a class under ``RxstreamError``,
which keeps the builtin it would once have been as a second base."""

from __future__ import annotations

import doctest
import re
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from reactivex.scheduler import HistoricalScheduler

import rxstream
from rxstream import errors
from rxstream.errors import (
    ArgumentError,
    ArgumentTypeError,
    ConfigError,
    RxstreamError,
    UnknownNameError,
    UsageError,
    ValidationError,
)

T0 = datetime(2020, 1, 1, 22, tzinfo=UTC)


def _build(ctx: Any) -> Any:
    return ctx.source("ticks")


def _pipeline(**kwargs: Any) -> Any:
    from rxstream.pipelines import Pipeline

    return Pipeline(**{"name": "p", "build": _build, "sources": ("ticks",), **kwargs})


def _undeclared_source() -> None:
    from rxstream.health import HealthMonitor
    from rxstream.pipelines import PipelineContext

    clock = HistoricalScheduler(T0)
    PipelineContext(_pipeline(), clock, HealthMonitor(clock), {}, {}).source("fills")


def _busy_port() -> None:
    from rxstream.addresses import bind_listening

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        bind_listening("127.0.0.1", sock.getsockname()[1])


def _settings(**kwargs: Any) -> Callable[[], Any]:
    def make() -> Any:
        from rxstream.settings import Settings

        return Settings(**kwargs)

    return make


def _health(**kwargs: Any) -> Callable[[], Any]:
    def make() -> Any:
        from rxstream.health import HealthMonitor

        return HealthMonitor(HistoricalScheduler(T0), **kwargs)

    return make


def _ibkr(**kwargs: Any) -> Callable[[], Any]:
    def make() -> Any:
        from rxstream.ibkr.config import IBKRConfig

        return IBKRConfig(**kwargs)

    return make


def _unknown_stream() -> None:
    from rxstream.health import HealthMonitor

    HealthMonitor(HistoricalScheduler(T0)).get("nope")


def _trader() -> None:
    from rxstream.autotrade import SignalTrader

    SignalTrader(lambda *_: 1, quantity=0)


def _tick() -> None:
    from rxstream.events import Tick

    Tick.from_dict({"type": "tick", "symbol": "EURUSD"})


def _parse_settings() -> None:
    from rxstream.pipelines import parse_settings

    parse_settings(["no-equals-sign"])


def _address() -> None:
    from rxstream.addresses import parse_address

    parse_address("7497")


# (what is wrong, how to make the mistake, the rxstream class, the builtin it stays)
MISTAKES: list[tuple[str, Callable[[], Any], type[RxstreamError], type[Exception]]] = [
    ("a pipeline name with a space", lambda: _pipeline(name="Bad Name"), ArgumentError, ValueError),
    ("an unknown policy", lambda: _pipeline(policy="sometimes"), ArgumentError, ValueError),
    ("a state pipeline without a key", lambda: _pipeline(policy="state"), ArgumentError, ValueError),
    ("a build that is not callable", lambda: _pipeline(build=42), ArgumentTypeError, TypeError),
    ("a key that is not callable", lambda: _pipeline(policy="state", key="symbol"), ArgumentTypeError, TypeError),
    ("a negative staleness", lambda: _pipeline(stale_after=-1), ArgumentError, ValueError),
    ("a staleness in words", lambda: _pipeline(stale_after="5 minutes"), ArgumentError, ValueError),
    ("a source the pipeline did not declare", _undeclared_source, UnknownNameError, KeyError),
    ("an error threshold of 0", _health(error_threshold=0), ConfigError, ValueError),
    ("a staleness of 0", _health(stale_after=0), ConfigError, ValueError),
    ("a stream never registered", _unknown_stream, UnknownNameError, KeyError),
    ("a port above 65535", _settings(port=70000), ConfigError, ValueError),
    ("an ibkr address without a port", _settings(ibkr="gateway"), ConfigError, ValueError),
    ("a per-stream staleness in words", _settings(stream_stale_after=("signals=soon",)), ConfigError, ValueError),
    ("a broker port of 0", _ibkr(port=0), ConfigError, ValueError),
    ("a HOST:PORT without a port", _address, ConfigError, ValueError),
    ("a busy port", _busy_port, ConfigError, ValueError),
    ("a pipeline setting without =", _parse_settings, ConfigError, ValueError),
    ("a trader with no quantity", _trader, ConfigError, ValueError),
    ("a tick without a time", _tick, ValidationError, ValueError),
]


@pytest.mark.parametrize(("mistake", "make", "kind", "builtin"), MISTAKES, ids=[m[0] for m in MISTAKES])
def test_each_mistake_raises_its_class_in_the_tree(
    mistake: str, make: Callable[[], Any], kind: type[RxstreamError], builtin: type[Exception]
) -> None:
    with pytest.raises(RxstreamError) as caught:
        make()
    assert type(caught.value) is kind, f"{mistake}: {type(caught.value).__name__}: {caught.value}"
    assert isinstance(caught.value, builtin)
    assert str(caught.value)  # a message a user can read


def _drawn_tree() -> dict[str, str | None]:
    """The tree in errors.py's docstring: each class name → the class drawn above it (None: the root)."""
    doc = errors.__doc__ or ""
    block = doc.split("The tree::", 1)[1].split("\n\n")[1]
    parents: dict[str, str | None] = {}
    stack: list[tuple[int, str]] = []
    for line in block.splitlines():
        found = re.search(r"[A-Za-z]\w*", line)
        if found is None or not re.fullmatch(r"[\s│├└─]*", line[: found.start()]):
            continue  # a blank line, or a description continued under the one above
        column = found.start()
        while stack and stack[-1][0] >= column:
            stack.pop()
        parents[found.group(0)] = stack[-1][1] if stack else None
        stack.append((column, found.group(0)))
    return parents


def test_every_error_class_is_drawn_in_the_tree_under_its_parent() -> None:
    drawn = _drawn_tree()
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, RxstreamError)
        assert name in drawn, f"{name} is missing from the tree in rxstream/errors.py"
        parent = None if cls is RxstreamError else cls.__bases__[0].__name__
        assert drawn[name] == parent, f"{name} is drawn under {drawn[name]}, but derives from {parent}"


def test_structured_parts_are_attributes() -> None:
    assert (ArgumentError("conflate", "interval must be positive").where, UsageError("engine", "started").subject) == (
        "conflate", "engine"
    )
    unknown = UnknownNameError("source", "fills", "not declared")
    assert (unknown.kind, unknown.name, str(unknown)) == ("source", "fills", "unknown source 'fills': not declared")
    assert isinstance(UsageError("engine", "already started"), RuntimeError)


def test_docstring_examples() -> None:
    import rxstream.addresses

    assert doctest.testmod(errors).failed == 0
    assert doctest.testmod(rxstream.addresses).failed == 0


# --- the parts of the package other modules own, swept onto the tree ---------------------------


def _engine_twice() -> None:
    from rxstream.engine import Engine
    from rxstream.replay import ReplayScheduler

    engine = Engine(pipelines=[], scheduler=ReplayScheduler(T0), publish=False)
    engine.start()
    engine.start()


def _two_pipelines_one_name() -> None:
    from rxstream.engine import Engine

    Engine(pipelines=[_pipeline(), _pipeline()])


def _replay_without_its_clock() -> None:
    from rxstream.replay import replay_virtual

    replay_virtual([], {}, HistoricalScheduler(T0))  # type: ignore[arg-type]


def _replay_feed() -> None:
    from rxstream.replay import ReplayFeed

    ReplayFeed(speed=0)


def _operator(name: str, *args: Any, **kwargs: Any) -> Callable[[], Any]:
    def make() -> Any:
        from rxstream import operators

        return getattr(operators, name)(*args, **kwargs)

    return make


def _backoff() -> None:
    from rxstream.operators import Backoff

    Backoff(initial=0)


def _topic() -> None:
    from rxstream.bus import TopicSpec

    TopicSpec("prices", "state", None)


MISTAKES_ELSEWHERE: list[tuple[str, Callable[[], Any], type[RxstreamError], type[Exception]]] = [
    ("an engine started twice", _engine_twice, UsageError, RuntimeError),
    ("two pipelines of one name", _two_pipelines_one_name, ArgumentError, ValueError),
    ("a replay on a clock it cannot drive", _replay_without_its_clock, ArgumentTypeError, TypeError),
    ("a replay at speed 0", _replay_feed, ArgumentError, ValueError),
    ("a conflation window of 0", _operator("conflate", 0), ArgumentError, ValueError),
    ("a dedupe that remembers nothing", _operator("dedupe", str, capacity=0), ArgumentError, ValueError),
    ("a confidence above 1", _operator("min_confidence", 2), ArgumentError, ValueError),
    ("a backoff that starts at 0", _backoff, ArgumentError, ValueError),
    ("a state topic without a key", _topic, ConfigError, ValueError),
]


@pytest.mark.parametrize(
    ("mistake", "make", "kind", "builtin"), MISTAKES_ELSEWHERE, ids=[m[0] for m in MISTAKES_ELSEWHERE]
)
def test_each_mistake_elsewhere_raises_its_class_in_the_tree(
    mistake: str, make: Callable[[], Any], kind: type[RxstreamError], builtin: type[Exception]
) -> None:
    test_each_mistake_raises_its_class_in_the_tree(mistake, make, kind, builtin)


def test_no_bare_builtin_raise_in_the_package() -> None:
    """A configuration or usage mistake raises a class of the tree, never a bare ValueError/KeyError/TypeError."""
    package = Path(rxstream.__file__).parent
    bare = re.compile(r"\braise\s+(ValueError|KeyError|TypeError)\b")
    found = [
        f"{path.relative_to(package.parent)}:{number}: {line.strip()}"
        for path in sorted(package.rglob("*.py"))
        if "builtin_pipelines" not in path.parts
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if bare.search(line)
    ]
    assert found == []



def test_each_rule_lives_in_one_module() -> None:
    """One HOST:PORT parser (rxstream.addresses), one stop-signal setup (rxstream.shutdown)."""
    package = Path(rxstream.__file__).parent
    rules = {r'rpartition\(":"\)': "addresses.py", r"add_signal_handler\(": "shutdown.py"}
    for pattern, home in rules.items():
        found = sorted(
            str(path.relative_to(package))
            for path in package.rglob("*.py")
            if "builtin_pipelines" not in path.parts and re.search(pattern, path.read_text())
        )
        assert found == [home], pattern

"""rxstream: a reactive dataflow engine that streams live trading data.

The public face; operators live in :mod:`rxstream.operators`. Names are imported
on first use, so ``rxstream`` commands start (and stop on Ctrl-C) without loading
the whole engine first.
"""

import importlib
import typing

if typing.TYPE_CHECKING:
    from .bus import Bus, InMemoryBus, Message, TopicSpec
    from .engine import STANDARD_SOURCES, Engine
    from .errors import (
        ArgumentError,
        ArgumentTypeError,
        AuthError,
        BrokerLibraryMissing,
        ClientClosed,
        ConfigError,
        LeaseHeld,
        OrderError,
        PipelineLoadError,
        ProtocolError,
        RxstreamError,
        SourceConnectionError,
        StreamError,
        TickFileError,
        UnknownNameError,
        UsageError,
        ValidationError,
    )
    from .events import Event, Fill, PositionUpdate, Signal, Tick
    from .feed import Feed, FeedContext
    from .health import HealthMonitor
    from .hub import Hub
    from .pipelines import Pipeline, PipelineContext, load_pipelines
    from .replay import ReplayFeed, ReplayScheduler, replay_virtual
    from .tickfile import ReadStats, TickFileWriter, bundled_session, read_events, write_events

__version__ = "0.1.0"

_HOME = {  # public name -> the module that defines it
    "Bus": "bus",
    "InMemoryBus": "bus",
    "Message": "bus",
    "TopicSpec": "bus",
    "Engine": "engine",
    "Feed": "feed",
    "FeedContext": "feed",
    "STANDARD_SOURCES": "engine",
    "ArgumentError": "errors",
    "ArgumentTypeError": "errors",
    "AuthError": "errors",
    "BrokerLibraryMissing": "errors",
    "ClientClosed": "errors",
    "ConfigError": "errors",
    "LeaseHeld": "errors",
    "OrderError": "errors",
    "PipelineLoadError": "errors",
    "ProtocolError": "errors",
    "RxstreamError": "errors",
    "SourceConnectionError": "errors",
    "StreamError": "errors",
    "TickFileError": "errors",
    "UnknownNameError": "errors",
    "UsageError": "errors",
    "ValidationError": "errors",
    "Event": "events",
    "Fill": "events",
    "PositionUpdate": "events",
    "Signal": "events",
    "Tick": "events",
    "HealthMonitor": "health",
    "Hub": "hub",
    "Pipeline": "pipelines",
    "PipelineContext": "pipelines",
    "load_pipelines": "pipelines",
    "ReplayFeed": "replay",
    "ReplayScheduler": "replay",
    "replay_virtual": "replay",
    "ReadStats": "tickfile",
    "TickFileWriter": "tickfile",
    "bundled_session": "tickfile",
    "read_events": "tickfile",
    "write_events": "tickfile",
}

__all__ = [
    "STANDARD_SOURCES",
    "ArgumentError",
    "ArgumentTypeError",
    "AuthError",
    "BrokerLibraryMissing",
    "Bus",
    "ClientClosed",
    "ConfigError",
    "Engine",
    "Event",
    "Feed",
    "FeedContext",
    "Fill",
    "HealthMonitor",
    "Hub",
    "InMemoryBus",
    "LeaseHeld",
    "Message",
    "OrderError",
    "Pipeline",
    "PipelineContext",
    "PipelineLoadError",
    "PositionUpdate",
    "ProtocolError",
    "ReadStats",
    "ReplayFeed",
    "ReplayScheduler",
    "RxstreamError",
    "Signal",
    "SourceConnectionError",
    "StreamError",
    "Tick",
    "TickFileError",
    "TickFileWriter",
    "TopicSpec",
    "UnknownNameError",
    "UsageError",
    "ValidationError",
    "bundled_session",
    "load_pipelines",
    "read_events",
    "replay_virtual",
    "write_events",
]


def __getattr__(name: str) -> typing.Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOME})

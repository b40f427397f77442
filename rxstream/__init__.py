"""rxstream: a reactive dataflow engine that streams live trading data.

The public face; operators live in :mod:`rxstream.operators`.
"""

from .bus import Bus, InMemoryBus, Message, TopicSpec
from .engine import STANDARD_SOURCES, Engine
from .errors import (
    AuthError,
    ConfigError,
    PipelineLoadError,
    ProtocolError,
    RxstreamError,
    SourceConnectionError,
    StreamError,
    TickFileError,
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

__all__ = [
    "STANDARD_SOURCES",
    "AuthError",
    "Bus",
    "ConfigError",
    "Engine",
    "Event",
    "Feed",
    "FeedContext",
    "Fill",
    "HealthMonitor",
    "Hub",
    "InMemoryBus",
    "Message",
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
    "ValidationError",
    "bundled_session",
    "load_pipelines",
    "read_events",
    "replay_virtual",
    "write_events",
]

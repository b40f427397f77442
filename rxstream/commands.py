"""The engine's commands: ``replay``, ``import-csv``, ``pipelines``, ``demo`` and the terminal view ``top``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from rich.console import Console

from .engine import Engine
from .errors import PipelineLoadError, RxstreamError, TickFileError
from .events import Event, dumps
from .importers import import_csv
from .pipelines import load_pipelines, parse_settings, with_feeders
from .replay import ReplayFeed, ReplayScheduler, replay_virtual
from .shutdown import reader_left
from .tickfile import ReadStats, encode_event, encode_header, read_events

__all__ = ["register_offline"]


def register_offline(subparsers: Any) -> None:
    """Add the offline subcommands to the ``rxstream`` parser."""
    replay = subparsers.add_parser(
        "replay",
        help="run pipelines over a tick file in virtual time",
        description="Run a pipeline over a tick file in virtual time and write its output as JSON Lines "
        "(a tick file when the output is events); with several pipelines (or --all), one output whose "
        "lines each name their topic. Two runs give byte-identical output.",
    )
    replay.add_argument("file", type=Path, help="tick file (.jsonl or .jsonl.gz)")
    chosen = replay.add_mutually_exclusive_group(required=True)
    chosen.add_argument(
        "--pipeline", action="append", metavar="NAME",
        help="pipeline name, e.g. price_updates; repeat it to replay several into one output, "
        'each line then {"topic": ..., "data": ...}',
    )
    chosen.add_argument("--all", action="store_true", help="every pipeline that publishes a topic, in one output")
    replay.add_argument("--pipelines", type=Path, default=None, help="pipelines folder (default ./pipelines)")
    replay.add_argument("--out", type=Path, default=None, help="output file (default stdout; .gz compresses)")
    replay.add_argument("--skip-bad", action="store_true", help="skip bad lines, report how many")
    replay.add_argument("--strict", action="store_true", help="a timestamp older than the one before is an error")
    replay.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a pipeline setting")
    replay.set_defaults(func=_replay)

    importer = subparsers.add_parser(
        "import-csv",
        help="convert a provider CSV (histdata, truefx) into a tick file",
        description="Convert a histdata.com (EST, no DST) or TrueFX (ISO with offset) quote CSV into a tick file.",
    )
    importer.add_argument("csv", type=Path, help="the provider's quote CSV (histdata.com or TrueFX)")
    importer.add_argument("-o", "--out", type=Path, required=True, help="tick file to write (.gz compresses)")
    importer.add_argument("--symbol", default=None, help="symbol (default: from the file name)")
    importer.add_argument("--format", choices=("histdata", "truefx"), default=None, help="default: detected")
    importer.set_defaults(func=_import_csv)

    listing = subparsers.add_parser(
        "pipelines",
        help="list the pipelines a folder declares",
        description="List the pipelines a folder declares: name, topic, policy, sources and description.",
    )
    listing.add_argument(
        "--pipelines", type=Path, default=None, help="pipelines folder (default ./pipelines, else the bundled ones)"
    )
    listing.set_defaults(func=_list_pipelines)

    full = subparsers.add_parser(
        "demo",
        help="the whole chain on the bundled session: TWS simulator, IBKR feed, pipelines, trader, dashboard",
        description="Serve the dashboard at http://HOST:PORT/ on a live chain with no broker: the TWS simulator "
        "streams the bundled real EUR/USD and USD/JPY sessions, the IBKR adapter reads it over ib_insync, the example "
        "evaluator's signals are traded on the simulator and the fills come back as trades.",
    )
    full.add_argument("--host", default="127.0.0.1", help="address the dashboard listens on (default 127.0.0.1)")
    full.add_argument("--port", type=int, default=8080, help="port of the dashboard (default 8080; 0 picks a free one)")
    full.add_argument("--speed", type=float, default=120.0, help="replay speed (120 = two minutes per second)")
    full.add_argument("--file", type=Path, default=None, help="tick file (default: the bundled sessions)")
    full.set_defaults(func=_demo)

    demo = subparsers.add_parser(
        "top",
        help="watch the standard pipelines over a paced replay, live in the terminal",
        description="Replay a tick file at a pace and show prices, signals and stream health live in the "
        "terminal; Ctrl-C stops.",
    )
    demo.add_argument("--speed", type=float, default=60.0, help="replay speed (60 = a minute per second)")
    demo.add_argument("--file", type=Path, default=None, help="tick file (default: the bundled session)")
    demo.add_argument("--seconds", type=float, default=None, help="stop after this many seconds")
    demo.set_defaults(func=_demo_terminal)


def _fail(console: Console, message: str) -> int:
    """Say what went wrong on one unwrapped stderr line (greppable ``FILE:LINE: reason``)."""
    print(f"error: {message}", file=sys.stderr)
    return 2


def _note(message: str) -> None:
    print(message, file=sys.stderr)


def _with_progress(events: Iterator[Event], stats: ReadStats, console: Console) -> Iterator[Event]:
    """Yield ``events``, showing a progress bar on stderr when it is a terminal."""
    if not console.is_terminal:
        yield from events
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}", BarColumn(), DownloadColumn(), TimeRemainingColumn(),
        console=console, transient=True,
    ) as progress:
        task = progress.add_task(stats.path or "replay", total=None)
        for count, event in enumerate(events):
            if count % 20_000 == 0:
                progress.update(task, total=stats.size or None, completed=stats.bytes_read)
            yield event


def _replay(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    try:
        pipelines = {p.name: p for p in load_pipelines(args.pipelines)}
        names: list[str] = [p.name for p in pipelines.values() if p.publish] if args.all else args.pipeline
        for name in names:
            if name not in pipelines:
                return _fail(console, f"unknown pipeline {name!r}; known: {', '.join(sorted(pipelines))}")
        names = list(dict.fromkeys(names))  # once each, in the order given
        settings = parse_settings(args.set)
        stats = ReadStats()
        events = read_events(args.file, skip_bad=args.skip_bad, stats=stats)
        first = next(events, None)
        if first is None:
            if stats.skipped:
                _note(stats.summary())
            return _fail(console, f"{args.file}: no events")
        # The pipelines need every source they read, and the evaluators that feed them.
        needed = {p.name: p for name in names for p in with_feeders(pipelines, name)}
        scheduler = ReplayScheduler(first.time)
        engine = Engine(pipelines=list(needed.values()), scheduler=scheduler, settings=settings, publish=False)
        engine.start()
        chosen = " ".join(f"--pipeline {name}" for name in names)
        failed: list[Exception] = []  # a write that failed (the reader left: `| head`) ends the replay
        result = None  # stays None when the reader left before the replay finished
        with _output(args.out) as out:
            if len(names) == 1 and not args.all:  # a tick file, as it always was
                out.write(encode_header(f"rxstream replay {args.file.name} {chosen}"))
                engine.outputs[names[0]].subscribe(lambda value: out.write(_line(value)), failed.append)
            else:
                out.write(dumps({"format": TOPICS_FORMAT, "version": 1,
                                 "source": f"rxstream replay {args.file.name} {chosen}"}) + b"\n")
                for name in names:
                    _write_topic(engine.outputs[name], pipelines[name].topic or name, out, failed.append)
            replayed = itertools.takewhile(lambda _: not failed, itertools.chain([first], events))
            result = replay_virtual(
                _with_progress(replayed, stats, console), engine,
                on_backwards="error" if args.strict else "clamp", file_stats=stats,
            )
            if failed:
                raise failed[0]
        engine.stop()
    except RxstreamError as error:  # bad file, pipeline or setting: one line naming it
        return _fail(console, str(error))
    if stats.skipped:
        _note(stats.summary())
        for reason in stats.reasons:
            _note(f"  {reason}")
    if result is not None and result.backwards:
        _note(result.backwards_summary())
    return 0


TOPICS_FORMAT = "rxstream.topics"
"""The header's format of a replay of several pipelines: one ``{"topic", "data"}`` object per line."""


def _write_topic(output: Any, topic: str, out: IO[bytes], failed: Callable[[Exception], None]) -> None:
    """Write each value of ``output`` as ``{"topic":...,"data":<its single-pipeline line>}``."""
    prefix = b'{"topic":' + dumps(topic) + b',"data":'

    def write(value: Any) -> None:
        out.write(prefix + _line(value)[:-1] + b"}\n")

    output.subscribe(write, failed)


def _line(value: Any) -> bytes:
    if hasattr(value, "to_dict"):
        return encode_event(value)
    return dumps(value) + b"\n"


class _ReaderLeft(BaseException):
    """Raised when stdout's reader left (``| head``): a ``BaseException``, like ``KeyboardInterrupt``,
    so that it ends the replay through the pipelines' per-subscriber error isolation."""


class _Stdout:
    """``stdout`` for the replay's output, ending the replay when its reader leaves."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream

    def write(self, data: bytes) -> int:
        try:
            return self._stream.write(data)
        except BrokenPipeError:
            raise _ReaderLeft from None


@contextlib.contextmanager
def _output(path: Path | None) -> Iterator[IO[bytes]]:
    if path is None:
        try:
            yield _Stdout(sys.stdout.buffer)  # type: ignore[misc]
            sys.stdout.buffer.flush()
        except (_ReaderLeft, BrokenPipeError):
            reader_left()
        return
    if path.suffix == ".gz":
        import gzip

        with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as handle:
            yield handle  # type: ignore[misc]
        return
    with open(path, "wb") as handle:
        yield handle


def _import_csv(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    if not args.csv.is_file():
        return _fail(console, f"{args.csv}: no such file")
    try:
        count = import_csv(args.csv, args.out, symbol=args.symbol, fmt=args.format)
    except TickFileError as error:
        return _fail(console, str(error))
    _note(f"wrote {count} ticks to {args.out}")
    return 0


def _list_pipelines(args: argparse.Namespace) -> int:
    console = Console()
    try:
        pipelines = load_pipelines(args.pipelines)
    except PipelineLoadError as error:
        return _fail(Console(stderr=True), str(error))
    for p in pipelines:
        topic = p.topic if p.publish else f"(feeds {p.feeds})"
        console.print(f"[bold]{p.name}[/]  {topic}  {p.policy}  <- {', '.join(p.sources)}  {p.description}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    if args.speed <= 0:
        return _fail(Console(stderr=True), f"--speed must be positive, got {args.speed}")
    # A busy port is a ConfigError and Ctrl-C before the signal handler is up a KeyboardInterrupt:
    # rxstream.cli.main turns both into one line.
    asyncio.run(run_demo(host=args.host, port=args.port, speed=args.speed, file=args.file))
    return 0


def _demo_terminal(args: argparse.Namespace) -> int:
    from .terminal import run_terminal_demo

    if args.file is not None and not args.file.is_file():
        return _fail(Console(stderr=True), f"{args.file}: no such file")
    feed = ReplayFeed(args.file, speed=args.speed, loop=True)
    try:
        asyncio.run(run_terminal_demo(feed, seconds=args.seconds))
    except KeyboardInterrupt:
        pass
    return 0
